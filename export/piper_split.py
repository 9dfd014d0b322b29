"""Split a Piper (VITS) ONNX graph into a text model and an audio model, and prove the split.

Piper graphs exported from PyTorch name their nodes after the modules: the vocoder is
`/dec/...` and the normalizing flow is `/flow/...`. The flow's input (the latent drawn from
the text encoder's prior) and the frame mask are where the text model ends and the audio
model begins. The audio model is convolutional over frames, so a span of frames decodes
exactly like the whole piece when enough neighbouring frames come along as context; the
export measures how many are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnx.utils
import onnxruntime as ort

from services.tts.engines.piper import Latent, PiperVoice

CONTEXT_CANDIDATES = (16, 24, 32, 48, 64)
# Decoding a span with this much context must match whole-piece decoding at least this well.
MIN_SPAN_SNR_DB = 80.0
# The text+audio pair must reproduce the original graph (randomness off) at least this well.
MIN_SPLIT_SNR_DB = 60.0


@dataclass(frozen=True)
class SplitPoint:
    latent: str
    mask: str
    speaker: bool


def find_split_point(model: onnx.ModelProto) -> SplitPoint:
    graph = model.graph
    producer = {output: node for node in graph.node for output in node.output}
    conv_pre = next((node for node in graph.node if node.name == "/dec/conv_pre/Conv"), None)
    if conv_pre is None:
        raise ValueError("no /dec/conv_pre/Conv node: not a Piper (VITS) graph this exporter knows")
    masked = producer.get(conv_pre.input[0])
    if masked is None or masked.op_type != "Mul":
        raise ValueError("the vocoder input is not the masked flow output")
    flow_outputs = {output for node in graph.node if node.name.startswith("/flow/") for output in node.output}
    masks = [name for name in masked.input if name not in flow_outputs]
    if len(masks) != 1:
        raise ValueError("cannot tell the frame mask from the flow output")
    mask = masks[0]

    # The flow's inputs from outside it: the mask, and the latent. Its internal activations
    # come from unnamed nodes; tensors made by named modules ("/...") outside the flow are
    # the real inputs.
    initializers = {tensor.name for tensor in graph.initializer}
    outside = {
        name
        for node in graph.node
        if node.name.startswith("/flow/")
        for name in node.input
        if name
        and name not in flow_outputs
        and name not in initializers
        and name != mask
        and producer.get(name) is not None
        and producer[name].name.startswith("/")
    }
    if len(outside) != 1:
        raise ValueError(f"expected one latent input to the flow, found {sorted(outside)}")
    speaker = any(tensor.name == "sid" for tensor in graph.input)
    return SplitPoint(latent=outside.pop(), mask=mask, speaker=speaker)


def split_model(source: Path, text_path: Path, audio_path: Path) -> SplitPoint:
    point = find_split_point(onnx.load(str(source), load_external_data=False))
    speaker = ["sid"] if point.speaker else []
    onnx.utils.extract_model(
        str(source), str(text_path), ["input", "input_lengths", "scales", *speaker], [point.latent, point.mask]
    )
    onnx.utils.extract_model(str(source), str(audio_path), [point.latent, point.mask, *speaker], ["output"])
    return point


def _snr_db(reference: np.ndarray, candidate: np.ndarray) -> float:
    if reference.shape != candidate.shape:
        return float("-inf")
    noise = float(np.sum((reference - candidate) ** 2))
    return 10 * np.log10(float(np.sum(reference**2)) / max(noise, 1e-30))


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def check_split(
    source: Path, text_path: Path, audio_path: Path, point: SplitPoint, phoneme_ids: list[list[int]]
) -> tuple[float, int]:
    """Compare text+audio with the original graph, randomness off: (worst SNR, samples per frame)."""
    full, text, audio = _session(source), _session(text_path), _session(audio_path)
    worst = float("inf")
    hop_lengths = set()
    for ids in phoneme_ids:
        inputs = {
            "input": np.asarray([ids], dtype=np.int64),
            "input_lengths": np.asarray([len(ids)], dtype=np.int64),
            "scales": np.asarray([0.0, 1.0, 0.0], dtype=np.float32),
            **({"sid": np.asarray([0], dtype=np.int64)} if point.speaker else {}),
        }
        reference = full.run(None, inputs)[0].reshape(-1)
        latent, mask = text.run(None, inputs)
        speaker = {"sid": inputs["sid"]} if point.speaker else {}
        candidate = audio.run(None, {point.latent: latent, point.mask: mask, **speaker})[0].reshape(-1)
        worst = min(worst, _snr_db(reference, candidate))
        hop_lengths.add(len(reference) // latent.shape[2])
    if worst < MIN_SPLIT_SNR_DB:
        raise RuntimeError(f"text+audio models differ from the original graph ({worst:.1f} dB < {MIN_SPLIT_SNR_DB} dB)")
    if len(hop_lengths) != 1:
        raise RuntimeError(f"samples per latent frame vary between sentences: {sorted(hop_lengths)}")
    return worst, hop_lengths.pop()


def measure_context(voice: PiperVoice, latents: list[Latent]) -> tuple[int, float]:
    """Smallest context (in frames) at which decoding in spans matches whole decoding.

    Each latent is decoded whole and as spans of 20 frames; the worst SNR over the latents
    must reach MIN_SPAN_SNR_DB. Returns (context frames, worst SNR in dB).
    """
    for context in CONTEXT_CANDIDATES:
        worst = float("inf")
        for latent in latents:
            whole = voice.decode(latent, 0, latent.frames, context)
            spans = np.concatenate(
                [
                    voice.decode(latent, start, min(start + 20, latent.frames), context)
                    for start in range(0, latent.frames, 20)
                ]
            )
            worst = min(worst, _snr_db(whole, spans))
        if worst >= MIN_SPAN_SNR_DB:
            return context, worst
    raise RuntimeError(f"decoding in spans never matched whole decoding (best context {CONTEXT_CANDIDATES[-1]} frames)")

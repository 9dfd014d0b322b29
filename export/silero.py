"""Export Silero TTS (v3 English) from its torch.package to an ONNX voice bundle.

A Silero package is Python logic around a TorchScript synthesis core, not a plain graph, so the
export discovers the boundary instead of assuming it:

1. capture: `apply_tts` runs on calibration texts with the core replaced by a recording proxy,
   which keeps exactly what the core receives (keyword tensors) and returns;
2. export: `torch.onnx.export` of the core with the captured inputs, token length dynamic; if
   the exporter is blocked (ONNX has no complex tensors), and the core is a head producing a
   real and an imaginary spectrum followed by an inverse-STFT tail, the head is exported and
   the tail becomes a DSP stage the service runs in numpy;
3. parity gate: ONNX (+ DSP) against torch on the captured calls: equal lengths and at least
   30 dB signal-to-noise, or the export fails, naming the blocker;
4. frontend: the symbol table, how the package turns text into tokens (derived from the
   captured tokens), the speakers, and the captured text -> tokens pairs as test vectors.

Loading a package runs code stored in it: only the official URL or a file the user names is
loaded, and its SHA-256 is recorded (and checked against SILERO_SHA256 when set). torch is
imported here only: services never need it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from export.files import cache_dir, download, read_json, replace_dir, sha256_file, sha256_json, write_json
from export.report import SourceReport, progress

SILERO_URL = "https://models.silero.ai/models/tts/en/v3_en.pt"
VOICE_ID = "silero-v3_en"
LICENSE = "CC BY-NC-SA 4.0 (non-commercial use only), Silero Team"
DEFAULT_SPEAKER = "en_0"
SAMPLE_RATE = 48000
CALIBRATION_TEXTS = (
    "Hello world, this is a test.",
    "The quick brown fox jumps over the lazy dog!",
    "How are you today? I am fine, thank you.",
    "Speech synthesis turns written words into sound.",
)
MIN_PARITY_SNR_DB = 30.0
OPSET = 17
EXPORTER_VERSION = 1


class ExportBlocked(RuntimeError):
    """The package cannot be exported as this exporter understands it; the message says why."""


@dataclass(frozen=True)
class CoreCall:
    inputs: dict[str, Any]  # keyword -> torch tensor, as the package passed them
    output: Any  # torch tensor (audio)


class RecordingProxy:
    """Stands in for the TorchScript core: records each call, then makes it."""

    def __init__(self, core: Any) -> None:
        self._core = core
        self.calls: list[CoreCall] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            raise ExportBlocked("the package calls its core with positional arguments; expected keyword tensors")
        output = self._core(**kwargs)
        self.calls.append(CoreCall(dict(kwargs), output))
        return output

    def __getattr__(self, name: str) -> Any:
        return getattr(self._core, name)


def _core_attribute(model: Any) -> str:
    import torch

    names = [name for name, value in vars(model).items() if isinstance(value, torch.jit.ScriptModule)]
    if len(names) != 1:
        raise ExportBlocked(f"expected one TorchScript core on the model object, found {names or 'none'}")
    return names[0]


def capture(model: Any, speaker: str, sample_rate: int) -> list[CoreCall]:
    """Run the package's own `apply_tts` and keep what its core received and returned."""
    name = _core_attribute(model)
    core = getattr(model, name)
    proxy = RecordingProxy(core)
    setattr(model, name, proxy)
    try:
        for text in CALIBRATION_TEXTS:
            model.apply_tts(text=text, speaker=speaker, sample_rate=sample_rate)
    finally:
        setattr(model, name, core)
    if len(proxy.calls) != len(CALIBRATION_TEXTS):
        raise ExportBlocked(f"expected one core call per text, saw {len(proxy.calls)} for {len(CALIBRATION_TEXTS)}")
    return proxy.calls


def _argument_names(module: Any) -> list[str]:
    return [argument.name for argument in module.forward.schema.arguments[1:]]


def classify_inputs(calls: list[CoreCall], argument_names: list[str]) -> dict[str, dict[str, Any]]:
    """Role of each core input: the tokens (length varies with the text), the speaker, the pace,
    or a constant the package always passes."""
    first = calls[0].inputs
    if set(first) != set(argument_names):
        raise ExportBlocked(f"the core was called with {sorted(first)}, its signature takes {argument_names}")
    roles: dict[str, dict[str, Any]] = {}
    for name in argument_names:
        values = [call.inputs[name] for call in calls]
        shapes = {tuple(value.shape) for value in values}
        dtype = str(values[0].dtype).removeprefix("torch.")
        if len(shapes) > 1:
            roles[name] = {"role": "tokens", "dtype": dtype}
        elif "speaker" in name:
            roles[name] = {"role": "speaker", "dtype": dtype}
        elif not all(bool((value == values[0]).all()) for value in values):
            raise ExportBlocked(f"input {name!r} changes between calls but not with the text length")
        elif name in ("pace", "speed", "length_scale"):
            roles[name] = {"role": "pace", "dtype": dtype, "value": values[0].tolist()}
        else:
            roles[name] = {"role": "constant", "dtype": dtype, "value": values[0].tolist()}
    if [spec["role"] for spec in roles.values()].count("tokens") != 1:
        raise ExportBlocked(f"cannot tell which core input holds the tokens: {roles}")
    return roles


def derive_frontend(model: Any, calls: list[CoreCall], token_input: str) -> dict[str, Any]:
    """How the package turns text into tokens: its symbols, lower-cased, others dropped, and the
    ids it wraps around them (read off the captured tokens)."""
    symbols = "".join(model.symbols) if not isinstance(model.symbols, str) else model.symbols
    prefixes, suffixes = set(), set()
    for text, call in zip(CALIBRATION_TEXTS, calls, strict=True):
        tokens = call.inputs[token_input][0].tolist()
        plain = [symbols.index(char) for char in text.lower() if char in symbols]
        start = next((i for i in range(len(tokens) - len(plain) + 1) if tokens[i : i + len(plain)] == plain), None)
        if start is None:
            raise ExportBlocked(f"the package's tokens for {text!r} are not its symbols in order: {tokens}")
        prefixes.add(tuple(tokens[:start]))
        suffixes.add(tuple(tokens[start + len(plain) :]))
    if len(prefixes) != 1 or len(suffixes) != 1:
        raise ExportBlocked(f"the tokens around the text vary between texts: {prefixes}, {suffixes}")
    return {
        "type": "symbols",
        "symbols": symbols,
        "lowercase": True,
        "prefix": list(prefixes.pop()),
        "suffix": list(suffixes.pop()),
    }


def _export(
    module: Any, calls: list[CoreCall], names: list[str], roles: dict, outputs: dict[str, int], path: Path
) -> None:
    """ONNX of `module` on the first captured call; `outputs` maps output names to their
    length axis, dynamic like the token axis."""
    import torch

    token_input = next(name for name, spec in roles.items() if spec["role"] == "tokens")
    example = tuple(calls[0].inputs[name] for name in names)
    with torch.no_grad():
        torch.onnx.export(
            module,
            example,
            str(path),
            dynamo=False,
            input_names=names,
            output_names=list(outputs),
            dynamic_axes={token_input: {1: "tokens"}, **{name: {axis: "length"} for name, axis in outputs.items()}},
            opset_version=OPSET,
        )


def export_core(core: Any, calls: list[CoreCall], roles: dict, bundle: Path) -> dict[str, Any] | None:
    """Write acoustic.onnx; return the DSP stage that follows it, or None when the whole core exported."""
    names = _argument_names(core)
    try:
        _export(core, calls, names, roles, {"audio": 1}, bundle / "acoustic.onnx")
        progress("  the whole core exported to ONNX")
        return None
    except Exception as error:  # the exporter's own exception types vary between versions
        blocker = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    progress(f"  the whole core does not export ({blocker}); looking for a spectral tail to split off")
    children = dict(core.named_children())
    if len(children) != 2:
        raise ExportBlocked(f"{blocker}; and the core is not a head followed by a tail to split at ({list(children)})")
    (head_name, head), (tail_name, tail) = children.items()
    if "istft" not in tail.code:
        raise ExportBlocked(f"{blocker}; and the core's last part ({tail_name}) is not an inverse STFT")
    if _argument_names(head) != names:
        raise ExportBlocked(f"{blocker}; and {head_name} does not take the core's inputs")
    _export(head, calls, names, roles, {"real": 2, "imag": 2}, bundle / "acoustic.onnx")
    return _spectral_tail(tail, bundle)


def _spectral_tail(tail: Any, bundle: Path) -> dict[str, Any]:
    """The inverse STFT's parameters and constants, saved for the service's numpy stage."""
    window = tail.window.detach().numpy().astype(np.float32)
    np.save(bundle / "dsp_window.npy", window)
    complex_buffers = [buffer for _, buffer in tail.named_buffers() if buffer.is_complex()]
    if len(complex_buffers) > 1:
        raise ExportBlocked(
            f"the inverse STFT tail holds {len(complex_buffers)} complex constants; expected at most one"
        )
    stage: dict[str, Any] = {
        "type": "istft",
        "n_fft": int(tail.n_fft),
        "hop_length": int(tail.hop_length),
        "win_length": int(getattr(tail, "win_length", tail.n_fft)),
        "center": True,
        "window": "dsp_window.npy",
    }
    if complex_buffers:
        np.save(bundle / "dsp_complex_gain.npy", complex_buffers[0].detach().numpy().astype(np.complex64))
        stage["complex_gain"] = "dsp_complex_gain.npy"
    return stage


def parity_gate(bundle: Path, manifest: dict[str, Any], calls: list[CoreCall]) -> float:
    """Worst SNR of the served path against torch over the captured calls, or ExportBlocked."""
    from services.tts.engines.silero import SileroVoice

    voice = SileroVoice(bundle, manifest, threads=2)
    token_input = next(name for name, spec in manifest["inputs"].items() if spec["role"] == "tokens")
    worst = float("inf")
    for call in calls:
        reference = call.output.detach().numpy().reshape(-1)
        (audio,) = voice.synthesize_tokens(call.inputs[token_input][0].tolist())
        if len(audio) != len(reference):
            raise ExportBlocked(f"ONNX gives {len(audio)} samples where torch gives {len(reference)}")
        noise = float(np.sum((audio - reference) ** 2))
        worst = min(worst, 10 * np.log10(float(np.sum(reference**2)) / max(noise, 1e-30)))
    if worst < MIN_PARITY_SNR_DB:
        raise ExportBlocked(f"ONNX differs from torch: {worst:.1f} dB SNR < {MIN_PARITY_SNR_DB} dB")
    return worst


def _source() -> tuple[Path | None, str]:
    """(package file, where it came from), or (None, why it cannot be had)."""
    local = os.environ.get("SILERO_MODEL_PATH", "").strip()
    if local:
        path = Path(local)
        return (path, str(path)) if path.is_file() else (None, f"SILERO_MODEL_PATH={local} is not a file")
    cached = cache_dir() / "silero-v3_en.pt"
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        progress(f"downloading {SILERO_URL}")
        try:
            download(SILERO_URL, cached)
        except (urllib.error.URLError, OSError) as error:
            return None, f"cannot download {SILERO_URL} ({getattr(error, 'reason', error)})"
    return cached, SILERO_URL


def export_silero(tts_dir: Path, force: bool = False, package: Path | None = None, origin: str = "") -> SourceReport:
    name = f"silero:{VOICE_ID}"
    if package is None:
        package, origin = _source()
        if package is None:
            return SourceReport(name, "skipped", f"{origin}; the Piper voice stays the default")
    digest = sha256_file(package)
    expected = os.environ.get("SILERO_SHA256", "").strip().lower()
    if expected and expected != digest:
        return SourceReport(name, "failed", f"{package} has SHA-256 {digest}, not SILERO_SHA256={expected}")
    try:
        import torch
    except ImportError:
        return SourceReport(name, "skipped", "torch is not installed: pip install -r export/requirements-silero.txt")
    bundle = tts_dir / VOICE_ID
    fingerprint = sha256_json({"exporter": EXPORTER_VERSION, "package": digest, "torch": torch.__version__})
    manifest = read_json(bundle / "voice.json")
    if not force and manifest and manifest.get("fingerprint") == fingerprint:
        model = bundle / manifest["models"]["acoustic"]
        if model.is_file() and sha256_file(model) == manifest["model_sha256"]["acoustic"]:
            return SourceReport(name, "skipped", f"up to date in {bundle}")

    tts_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{VOICE_ID}.", dir=tts_dir))
    staging.chmod(0o755)
    try:
        manifest = _build(package, origin, digest, fingerprint, staging)
        replace_dir(staging, bundle)
    except ExportBlocked as error:
        shutil.rmtree(staging, ignore_errors=True)
        return SourceReport(name, "failed", f"cannot export: {error}")
    except Exception as error:  # report and go on with the other sources
        shutil.rmtree(staging, ignore_errors=True)
        return SourceReport(name, "failed", f"{type(error).__name__}: {error}")
    stage = manifest["dsp"]["type"] if manifest["dsp"] else "none"
    detail = f"{bundle} (parity {manifest['parity']['min_snr_db']} dB, DSP stage: {stage})"
    return SourceReport(name, "exported", detail)


def _build(package: Path, origin: str, digest: str, fingerprint: str, staging: Path) -> dict[str, Any]:
    import torch

    progress(f"loading the Silero package {package} (SHA-256 {digest[:12]}…)")
    model = torch.package.PackageImporter(str(package)).load_pickle("tts_models", "model")
    speakers = list(getattr(model, "speakers", []))
    speaker = DEFAULT_SPEAKER if DEFAULT_SPEAKER in speakers else (speakers[0] if speakers else DEFAULT_SPEAKER)
    sample_rate = int(getattr(model, "sample_rate", SAMPLE_RATE))
    progress(f"capturing the core's inputs on {len(CALIBRATION_TEXTS)} texts (speaker {speaker}, {sample_rate} Hz)")
    calls = capture(model, speaker, sample_rate)
    core = getattr(model, _core_attribute(model))
    roles = classify_inputs(calls, _argument_names(core))
    token_input = next(name for name, spec in roles.items() if spec["role"] == "tokens")
    frontend = derive_frontend(model, calls, token_input)
    progress("exporting the core with torch.onnx.export")
    dsp = export_core(core, calls, roles, staging)
    manifest: dict[str, Any] = {
        "id": VOICE_ID,
        "engine": "silero",
        "language": "en",
        "sample_rate": sample_rate,
        "models": {"acoustic": "acoustic.onnx"},
        "inputs": roles,
        "frontend": frontend,
        "speakers": speakers,
        "default_speaker": speaker,
        "dsp": dsp,
        "test_vectors": [
            {"text": text, "tokens": call.inputs[token_input][0].tolist()}
            for text, call in zip(CALIBRATION_TEXTS, calls, strict=True)
        ],
        "license": LICENSE,
        "source": {"url" if origin.startswith("http") else "path": origin, "sha256": digest},
        "model_sha256": {"acoustic": sha256_file(staging / "acoustic.onnx")},
        "export": {"tool": "torch.onnx", "torch": torch.__version__, "opset": OPSET},
        "fingerprint": fingerprint,
    }
    progress("parity gate: ONNX against torch on the captured calls")
    manifest["parity"] = {"min_snr_db": round(parity_gate(staging, manifest, calls), 1), "texts": len(calls)}
    write_json(staging / "voice.json", manifest)
    return manifest

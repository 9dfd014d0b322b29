"""`python -m export`: prepare every model source the services can serve.

Each source reports one line: exported, skipped (and why) or failed (and why). The exit
status is non-zero only when a source failed; a skipped source (already up to date, or not
obtainable here) is not an error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from export.asr_models import export_asr_models
from export.piper_voice import export_bundled_piper_voices
from export.report import progress
from export.silero import export_silero
from services.common.config import env_str, models_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models-dir", type=Path, default=models_dir(), help="where artifacts go (default: %(default)s)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild artifacts even when they are up to date")
    parser.add_argument(
        "--whisper-size",
        default=env_str("ASR_MODEL_SIZE", "base.en"),
        help="Whisper size to download besides the bundled tiny.en (default: ASR_MODEL_SIZE or %(default)s)",
    )
    parser.add_argument(
        "--whisper-model-path",
        default=env_str("WHISPER_MODEL_PATH", ""),
        help="a Whisper model directory in CTranslate2 format you already have, installed as --whisper-size "
        "instead of downloading it (default: WHISPER_MODEL_PATH)",
    )
    parser.add_argument(
        "--vosk-model-path",
        default=env_str("VOSK_MODEL_PATH", ""),
        help="a Vosk model directory you already have, to install as well (default: VOSK_MODEL_PATH)",
    )
    parser.add_argument(
        "--vosk-language",
        default=env_str("VOSK_MODEL_LANG", "en"),
        help="language code of --vosk-model-path (default: VOSK_MODEL_LANG or %(default)s)",
    )
    args = parser.parse_args(argv)

    progress(f"exporting into {args.models_dir}")
    reports = export_bundled_piper_voices(args.models_dir / "tts", args.force)
    reports.append(export_silero(args.models_dir / "tts", args.force))
    reports += export_asr_models(
        args.models_dir / "asr",
        args.whisper_size,
        args.vosk_model_path,
        args.vosk_language.lower(),
        args.force,
        args.whisper_model_path,
    )

    print("export report:")
    for report in reports:
        print(report.line())
    return 1 if any(report.status == "failed" for report in reports) else 0


if __name__ == "__main__":
    sys.exit(main())

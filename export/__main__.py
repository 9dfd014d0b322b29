"""`python -m export`: prepare every model source the services can serve.

Each source reports one line: exported, skipped (and why) or failed (and why). The exit
status is non-zero only when a source failed; a skipped source (already up to date, or not
obtainable here) is not an error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from export.piper_voice import export_bundled_piper_voices
from export.report import progress
from services.common.config import models_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models-dir", type=Path, default=models_dir(), help="where artifacts go (default: %(default)s)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild artifacts even when they are up to date")
    args = parser.parse_args(argv)

    progress(f"exporting into {args.models_dir}")
    reports = export_bundled_piper_voices(args.models_dir / "tts", args.force)

    print("export report:")
    for report in reports:
        print(report.line())
    return 1 if any(report.status == "failed" for report in reports) else 0


if __name__ == "__main__":
    sys.exit(main())

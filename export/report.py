"""Per-source outcome of an export run, printed as one line each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["exported", "skipped", "failed"]


@dataclass(frozen=True)
class SourceReport:
    source: str
    status: Status
    detail: str

    def line(self) -> str:
        return f"  {self.source:<34} {self.status:<9} {self.detail}"


def progress(message: str) -> None:
    print(f"[export] {message}", flush=True)

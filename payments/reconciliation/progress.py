"""A one-line progress bar for long commands, drawn only on a terminal (no dependency)."""

from __future__ import annotations

import time
from typing import TextIO


class Progress:
    """Draw `label: 12,345 / 1,000,000 rows  1%  3.2 s` in place, at most ten times a second."""

    def __init__(self, stream: TextIO | None, label: str, total: int | None = None, unit: str = "rows") -> None:
        self.stream = stream if stream is not None and _is_terminal(stream) else None
        self.label = label
        self.total = total
        self.unit = unit
        self.count = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    @property
    def enabled(self) -> bool:
        return self.stream is not None

    def update(self, n: int = 1) -> None:
        self.count += n
        if self.stream is None:
            return
        now = time.monotonic()
        if now - self._drawn >= 0.1:
            self._drawn = now
            self._draw(now)

    def close(self) -> None:
        if self.stream is not None:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        elapsed = now - self.started
        if self.total:
            share = min(1.0, self.count / self.total)
            filled = int(share * 30)
            bar = "#" * filled + "-" * (30 - filled)
            text = f"{self.label} [{bar}] {self.count:,}/{self.total:,} {self.unit} {share:4.0%} {elapsed:6.1f} s"
        else:
            text = f"{self.label} {self.count:,} {self.unit} {elapsed:6.1f} s"
        self.stream.write("\r" + text)
        self.stream.flush()


def _is_terminal(stream) -> bool:
    # Django wraps stdout/stderr in an OutputWrapper, which forwards isatty to the real stream.
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False

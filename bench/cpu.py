"""CPU seconds spent by each part of a benchmark (gunicorn, workers, simulator, PostgreSQL, Redis, this
load generator), read from /proc before and after a phase. Linux only; elsewhere every figure is empty.

A part is a process group (each benchmark starts its servers with `start_new_session=True`, so a server and
its workers share the group) or, for the database and broker, every process of that name. CPU of children
that exited during the phase is counted through their parent's cutime/cstime.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _processes() -> dict[int, tuple[str, int, int]]:
    """pid -> (command name, process group, CPU ticks including reaped children)."""
    found = {}
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else []:
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # fields[0] is state (field 3); pgrp is field 5, utime..cstime are fields 14-17.
        pgrp = int(fields[2])
        ticks = sum(int(value) for value in fields[11:15])
        found[int(entry.name)] = (comm, pgrp, ticks)
    return found


class CpuMeter:
    """`start()` then `stop()` around a phase; `seconds()` gives CPU seconds per named part."""

    def __init__(self, groups: dict[str, int], names: dict[str, str] | None = None) -> None:
        self.groups = groups  # part -> process group id
        self.names = names or {"postgres": "postgres", "redis": "redis-server"}
        self._before: dict[int, tuple[str, int, int]] = {}
        self._after: dict[int, tuple[str, int, int]] = {}
        self._machine_before = self._machine_after = (0, 0)

    def start(self) -> None:
        self._before = _processes()
        self._machine_before = machine_ticks()

    def stop(self) -> None:
        self._after = _processes()
        self._machine_after = machine_ticks()

    def _part(self, comm: str, pgrp: int, pid: int) -> str | None:
        if pid == os.getpid():
            return "load generator"
        for part, group in self.groups.items():
            if pgrp == group:
                return part
        for part, name in self.names.items():
            if comm.startswith(name):
                return part
        return None

    def seconds(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for pid, (comm, pgrp, ticks) in self._after.items():
            part = self._part(comm, pgrp, pid)
            if part is None:
                continue
            before = self._before.get(pid)
            spent = ticks - (before[2] if before and before[0] == comm else 0)
            totals[part] = totals.get(part, 0.0) + spent / _TICK
        totals["whole machine"] = (self._machine_after[0] - self._machine_before[0]) / _TICK
        return {part: round(value, 2) for part, value in sorted(totals.items())}


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return (0, 0)
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields) - idle, sum(fields))

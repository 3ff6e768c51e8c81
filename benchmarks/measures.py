"""Percentiles, peak memory and the printed table."""

from __future__ import annotations

import math
import os
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "CpuMeter",
    "Row",
    "Table",
    "peak_rss_mib",
    "percentile",
    "reset_peak_rss",
    "rss_mib",
]


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (0 < fraction <= 1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _status(field: str) -> float | None:
    """A size from /proc/self/status (Linux), in MiB; None where there is none."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mib() -> float:
    """This process's peak resident set size, in MiB: VmHWM from /proc (Linux).

    Not getrusage's ru_maxrss: Linux carries that across exec, so a process started from a
    bigger one reports its parent's size.
    """
    found = _status("VmHWM")
    return found if found is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """This process's resident set size now, in MiB (NaN where /proc has none)."""
    found = _status("VmRSS")
    return math.nan if found is None else found


def reset_peak_rss() -> bool:
    """Start the peak resident set size again from now (Linux: clear_refs); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """CPU used by the bot process and by this one (the fake and the people) over a phase."""

    pid: int
    bot: float = 0.0
    driver: float = 0.0
    wall: float = 0.0

    def __enter__(self) -> CpuMeter:
        self._start = (process_cpu(self.pid), time.process_time(), time.perf_counter())
        return self

    def __exit__(self, *exc_info: object) -> None:
        bot, driver, wall = self._start
        self.bot = process_cpu(self.pid) - bot
        self.driver = time.process_time() - driver
        self.wall = time.perf_counter() - wall


@dataclass
class Row:
    """One measured line: what, the value, and the target it is judged by (if any)."""

    section: str
    what: str
    value: str
    target: str = ""
    ok: bool | None = None

    @property
    def verdict(self) -> str:
        """PASS, FAIL, or nothing for a line without a target."""
        return "" if self.ok is None else ("PASS" if self.ok else "FAIL")


@dataclass
class Table:
    """Rows printed as one plain-text table, then notes."""

    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self, section: str, what: str, value: str, target: str = "", ok: bool | None = None
    ) -> None:
        """Add a row."""
        self.rows.append(Row(section, what, value, target, ok))

    def render(self) -> str:
        """The table as text, columns padded to fit."""
        header = ("", "measure", "value", "target", "")
        lines = [header] + [(r.section, r.what, r.value, r.target, r.verdict) for r in self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(5)]
        out = []
        for number, line in enumerate(lines):
            out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
            if number == 0:
                out.append("  ".join("-" * w for w in widths).rstrip())
        out += ["", *self.notes] if self.notes else []
        return "\n".join(out)


def ms(seconds: float) -> str:
    """Seconds as milliseconds, one decimal."""
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"

"""Measuring helpers shared by the benchmarks (run as scripts: ``python
benchmarks/bench_x.py`` puts this folder on sys.path)."""

from __future__ import annotations

import time

import psutil


def pct(samples: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``samples``."""
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def rss_mb(proc: psutil.Process | None = None) -> float:
    """Resident memory of ``proc`` (default: this process), in MiB."""
    return (proc or psutil.Process()).memory_info().rss / 2**20


def timed(fn, queries) -> list[float]:
    """Milliseconds ``fn(q)`` took, for each query, one after the other."""
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t) * 1000)
    return out

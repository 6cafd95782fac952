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


def build_in_child(script: str, path, meta_key: str, count: int, count_flag: str) -> None:
    """Make sure ``path`` holds the benchmark database for ``count`` items.

    An existing database whose ``meta[meta_key]`` says ``count`` is reused;
    otherwise ``script --build-only`` builds it in a child process, so that
    generating the data does not count in the memory of the process that
    measures."""
    import subprocess
    import sys
    from pathlib import Path

    from bot.storage import Storage

    path = Path(path)
    built = None
    if path.exists():
        with Storage(path, seed=False) as s:
            row = s.conn().execute("SELECT value FROM meta WHERE key = ?", [meta_key]).fetchone()
            built = row and int(row[0])
    if built != count:
        path.unlink(missing_ok=True)
        subprocess.run([sys.executable, script, "--build-only", "--db", str(path),
                        count_flag, str(count)], check=True)

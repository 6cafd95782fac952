"""Speeds the test suite used to assert with a stopwatch (issue 16: no timed
asserts in tests; the tests keep the correctness half).

    .venv/bin/python benchmarks/bench_suite_speeds.py [--quick]

(a) translation memory: a fuzzy lookup among 50,000 near-identical units
    (tests/translation/test_memory.py::test_fifty_thousand_units_find_the_right_one),
    against a baseline measured in the same run: rapidfuzz's extractOne over
    every source sentence, the naive way. Target: < 50 ms per lookup.
(b) hostile text: language detection, segmentation and script runs on the
    300 kB inputs of tests/translation/test_text.py::test_hostile_input_never_raises,
    against an ordinary chat text of the same length. Target: < 2 s each, and
    no worse than a few times the ordinary text (nothing quadratic).
Absolute times vary on a shared machine; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import timed  # noqa: E402 - benchmarks/ is on sys.path

from bot.storage import Storage  # noqa: E402
from bot.translation.memory import TranslationMemory  # noqa: E402
from glossary.normalize import normalize  # noqa: E402


def bench_memory(units: int) -> None:
    from rapidfuzz import fuzz, process

    with tempfile.TemporaryDirectory() as folder, Storage(Path(folder) / "tm.db", seed=False) as storage:
        sources = [f"Check the coating thickness on roll {i} of the {['night', 'day'][i % 2]} shift"
                   for i in range(1, units + 1)]

        def fill(db):
            now = "2025-01-01T00:00:00+00:00"
            db.conn.executemany(
                "INSERT INTO tm_unit (id, status, origin, created_by, created_at, updated_at) "
                "VALUES (?, 'unreviewed', 'manual', 'bench', ?, ?)",
                [(i, now, now) for i in range(1, units + 1)])
            rows = []
            for i, en in enumerate(sources, 1):
                rows += [(i, "en", en, normalize(en)), (i, "fr", f"Vérifiez la bobine {i}", f"verifiez la bobine {i}")]
            db.conn.executemany("INSERT INTO tm_variant VALUES (?, ?, ?, ?)", rows)
            db.execute("UPDATE meta SET value = value + 1 WHERE key = 'tm_rev'")

        storage.write(fill)
        tm = TranslationMemory(storage.conn)
        tm.index("en")  # built once per revision, not per lookup
        queries = [f"Check the coating thickness on roll {i} of the night shift!" for i in range(1, 100, 2)]
        queries += [f"check coating thickness on roll {i} of night shift" for i in range(1, 100, 2)]
        ours = timed(lambda q: tm.lookup(q, "en", "fr"), queries)
        normalized = [normalize(s) for s in sources]
        naive = timed(lambda q: process.extractOne(normalize(q), normalized, scorer=fuzz.ratio), queries[:20])
    mean, base = statistics.mean(ours), statistics.mean(naive)
    print(f"(a) memory lookup among {units:,} units: {mean:.2f} ms mean, max {max(ours):.2f} ms "
          f"(target < 50 ms); naive extractOne {base:.1f} ms: {base / mean:.0f}x faster")


def bench_hostile() -> None:
    from bot.translation.text import detect_language, is_translatable, segments_by_script, split_sentences

    hostile = ["涂布机 stopped " * 20000, "a-" * 100000, "1. " * 100000,
               "No. " * 50000 + "etc. " * 50000, "\u200b\u200c\u200d\ufeff" * 50]

    def work(message: str) -> None:
        for prior in (None, "ms"):
            detect_language(message, prior)
        is_translatable(message)
        split_sentences(message)
        segments_by_script(message)

    worst = 0.0
    for message in hostile:
        ordinary = ("The coater stopped again near line 3, please check the tab. " * 10000)[:len(message)]
        [took] = timed(work, [message])
        [base] = timed(work, [ordinary])
        worst = max(worst, took)
        print(f"(b) hostile {message[:12]!r}... ({len(message):,} chars): {took:.0f} ms; "
              f"ordinary text of that length {base:.0f} ms: ratio {took / max(base, 0.01):.1f}")
    print(f"(b) worst {worst:.0f} ms (target < 2000 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 units instead of 50,000")
    args = parser.parse_args()
    started = time.perf_counter()
    bench_memory(10_000 if args.quick else 50_000)
    bench_hostile()
    print(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

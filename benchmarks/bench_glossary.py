"""Glossary benchmark: search and spotting on a 100,000-concept glossary.

    .venv/bin/python benchmarks/bench_glossary.py [--quick] [--concepts 100000] [--db PATH]

The database is built once (in a child process, about a minute) and reused
by later runs with the same --concepts.

Builds a synthetic glossary (one term per language per concept: 500,000 terms)
beside the shipped seed, then prints p50/p99 latencies of each kind of lookup
and of spotting terms in 200-character chat messages, next to naive baselines
measured in the same run on the same data:

* ``LIKE '%q%'`` over every term (what a first version would write);
* a Python loop testing every term against the message.

Targets (issue 2): exact and prefix >= 20x faster than LIKE, fuzzy p99 < 50 ms,
spotting >= 100x faster than the loop, RSS < 300 MB with the 100k glossary.
Absolute times vary on shared machines; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import build_in_child, pct, rss_mb, timed  # noqa: E402 - benchmarks/ is on sys.path

from bot.storage import Storage  # noqa: E402
from glossary import Concept, Glossary, Term  # noqa: E402
from glossary import store as glossary_store  # noqa: E402
from glossary.normalize import normalize  # noqa: E402

SYLLABLES = {
    "en": "ca ter ro lin ma chi ne ten sion fe der slit wind ing cell mo du le pack weld".split(),
    "fr": "en dui seu se ca lan dra ge re fen deu bo bi noir eu ti on ma chi ne".split(),
    "ms": "me sin sa lu tan peng ge lek an ba te ri sel mo dul ki mpa lan".split(),
}
HAN = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
HANGUL = [chr(c) for c in range(0xAC00, 0xAC00 + 2000)]






def word(rng: random.Random, lang: str) -> str:
    syl = SYLLABLES[lang]
    w = "".join(rng.choice(syl) for _ in range(rng.randint(2, 4)))
    if rng.random() < 0.4:
        w += " " + "".join(rng.choice(syl) for _ in range(rng.randint(2, 3)))
    return w


def synthetic(n: int, seed: int = 7) -> list[Concept]:
    rng = random.Random(seed)
    seen: set[tuple[str, str]] = set()
    concepts = []
    for i in range(n):
        texts = {
            "zh": "".join(rng.choice(HAN) for _ in range(rng.randint(3, 5))),
            "ko": "".join(rng.choice(HANGUL) for _ in range(rng.randint(3, 5))),
            **{lang: word(rng, lang) for lang in ("en", "fr", "ms")},
        }
        terms = []
        for lang, text in texts.items():
            if (lang, text) in seen:
                text = f"{text} {i}"
            seen.add((lang, text))
            terms.append(Term(lang=lang, text=text, type="preferred", pos="noun"))
        concepts.append(Concept(id=f"syn-{i}", category="general", terms=terms,
                                definitions={"en": f"synthetic concept {i}"}, source="benchmark"))
    return concepts


def typo(rng: random.Random, text: str) -> str:
    i = rng.randrange(1, len(text) - 1)
    op = rng.choice("sdi")
    letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
    if op == "s":
        return text[:i] + letter + text[i + 1:]
    if op == "d":
        return text[:i] + text[i + 1:]
    return text[:i] + letter + text[i:]




def line(name: str, samples: list[float], baseline: list[float] | None = None) -> str:
    p50, p99 = pct(samples, 50), pct(samples, 99)
    text = f"{name:<28} n={len(samples):>5}  p50 {p50:9.3f} ms  p99 {p99:9.3f} ms"
    if baseline:
        text += f"   {statistics.median(baseline) / statistics.median(samples):8.1f}x faster than baseline (p50)"
    return text


def build(path: Path, n: int) -> None:
    """Create the benchmark database: the seed plus ``n`` synthetic concepts."""
    storage = Storage(path)
    t = time.perf_counter()
    report = storage.write(glossary_store.upsert_concepts, synthetic(n), "bench")
    storage.write(lambda db: db.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('bench_concepts', ?)", [str(n)]))
    storage.close()
    print(f"built {path}: {report} ({time.perf_counter() - t:.0f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--concepts", type=int, help="default 100,000 (10,000 with --quick)")
    ap.add_argument("--queries", type=int, help="default 300 (100 with --quick)")
    ap.add_argument("--db", type=Path, help="benchmark database to build or reuse")
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run (a smaller base, fewer queries)")
    args = ap.parse_args()
    args.concepts = args.concepts or (10_000 if args.quick else 100_000)
    args.queries = args.queries or (100 if args.quick else 300)
    path = args.db or Path(tempfile.gettempdir()) / f"shopbot-bench-{args.concepts}.db"
    if args.build_only:
        build(path, args.concepts)
        return

    # Build in a child process, so that generating 500,000 terms does not
    # count in the memory of the process that serves them.
    build_in_child(__file__, path, "bench_concepts", args.concepts, "--concepts")

    rng = random.Random(11)
    storage = Storage(path, seed=False)
    db = storage.conn()
    terms_total = db.execute("SELECT count(*) FROM term").fetchone()[0]
    rss_start = rss_mb()
    glossary = Glossary(storage.conn)
    t = time.perf_counter()
    glossary.index()
    build_s = time.perf_counter() - t
    rss_index = rss_mb()
    print(f"{args.concepts:,} synthetic concepts + seed = {terms_total:,} terms; "
          f"index build {build_s:.1f} s")

    sample = db.execute(
        "SELECT text, lang FROM term WHERE concept_id LIKE 'syn-%' ORDER BY random() LIMIT ?",
        [args.queries * 12]).fetchall()
    by_lang = {lang: [t for t, l in sample if l == lang] for lang in ("zh", "ko", "en", "fr", "ms")}
    latin = by_lang["en"] + by_lang["fr"] + by_lang["ms"]
    exact_q = [t for t, _ in sample[: args.queries]]
    prefix_q = [w[: max(3, len(w) * 2 // 3)] for w in rng.sample(latin, args.queries)]
    fuzzy_q = [typo(rng, w) for w in rng.sample([w for w in latin if len(w) >= 6], args.queries)]
    cjk_q = [w[: rng.randint(1, 2)] for w in rng.sample(by_lang["zh"] + by_lang["ko"], args.queries)]
    words = ["the", "machine", "stopped", "again", "tolong", "check", "E-203", "arrêt", "ok",
             "已经", "확인", "please", "line 3"]
    messages = []
    for _ in range(args.queries):
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < 200:
            parts.append(rng.choice(sample)[0] if rng.random() < 0.25 else rng.choice(words))
        messages.append(" ".join(parts)[:200])

    results = {
        "exact": timed(glossary.search, exact_q),
        "prefix": timed(glossary.search, prefix_q),
        "fuzzy/typo": timed(glossary.search, fuzzy_q),
        "cjk 1-2 chars": timed(glossary.search, cjk_q),
        "spot 200-char message": timed(glossary.spot, messages),
    }
    found = sum(1 for q in fuzzy_q if glossary.search(q))
    rss_served = rss_mb()

    # Baselines, on the same queries and messages.
    n_base = max(20, args.queries // 6)
    like = lambda q: db.execute(  # noqa: E731
        "SELECT id, concept_id FROM term WHERE text LIKE ? LIMIT 50", [f"%{q}%"]).fetchall()
    base_exact = timed(like, exact_q[:n_base])
    base_prefix = timed(like, prefix_q[:n_base])
    norms = [r[0] for r in db.execute("SELECT norm FROM term")]
    base_spot = timed(lambda m: [n for n in norms if n in m],
                      [normalize(m) for m in messages[:n_base]])

    print()
    print(line("exact", results["exact"], base_exact))
    print(line("prefix", results["prefix"], base_prefix))
    print(line("fuzzy/typo", results["fuzzy/typo"]) + f"   (a concept found for {found}/{len(fuzzy_q)})")
    print(line("cjk 1-2 chars", results["cjk 1-2 chars"]))
    print(line("spot 200-char message", results["spot 200-char message"], base_spot))
    print(line("baseline LIKE (exact q)", base_exact))
    print(line("baseline LIKE (prefix q)", base_prefix))
    print(line("baseline loop spot", base_spot))
    print(f"\nRSS: {rss_start:.0f} MB after opening, {rss_index:.0f} MB with the index, "
          f"{rss_served:.0f} MB after the lookups above (before the baselines load their data)")

    ratio = lambda base, ours: statistics.median(base) / statistics.median(ours)  # noqa: E731
    checks = [
        ("exact >= 20x LIKE", ratio(base_exact, results["exact"]) >= 20),
        ("prefix >= 20x LIKE", ratio(base_prefix, results["prefix"]) >= 20),
        ("fuzzy p99 < 50 ms", pct(results["fuzzy/typo"], 99) < 50),
        ("spot >= 100x loop", ratio(base_spot, results["spot 200-char message"]) >= 100),
        ("RSS < 300 MB", rss_served < 300),
    ]
    if args.quick:  # the baselines scale with the base: a small one proves nothing
        print("targets: judged at 100,000 concepts only; this was a --quick smoke run")
    else:
        print("targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks))
    storage.close()


if __name__ == "__main__":
    main()

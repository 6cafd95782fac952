"""Photo reading benchmark on the committed images (tests/data/ocr).

    make bench-ocr          # installs Debian's tesseract binary and pytesseract first
    .venv/bin/python benchmarks/bench_ocr.py [--quick] [--json]

For every image, with the language unknown (as when a person sends a
photo): character accuracy (1 − CER, Levenshtein over the whole text, lines
joined by newlines), alarm codes found exactly, and time per image; per
language and per style. Beside it, measured in the same run on the same
images: pytesseract, one ``tesseract`` process per image with all five
languages at once (``-l chi_sim+kor+eng+fra+msa``, the same models), on
the raw image, its text scored the same way.

Targets (issue 13): ≥ 95 % character accuracy on the HMI-style images
(screens and pop-ups), ≥ 98 % of alarm codes exact, median time per image
≤ 0.5 × pytesseract's.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rapidfuzz.distance import Levenshtein  # noqa: E402

from bot.vision.ocr import Reader, codes_in, tessdata_dir  # noqa: E402

DATA = ROOT / "tests" / "data" / "ocr"


def accuracy(got: str, expected: str) -> float:
    return max(0.0, 1 - Levenshtein.distance(got, expected) / len(expected))


def baseline(data: bytes, tessdata: Path):
    import pytesseract
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    text = pytesseract.image_to_string(img, lang="chi_sim+kor+eng+fra+msa",
                                       config=f'--tessdata-dir "{tessdata}"')
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="every other image (a smoke run)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--no-baseline", action="store_true", help="skip pytesseract")
    args = parser.parse_args()

    truth = json.loads((DATA / "truth.json").read_text(encoding="utf-8"))
    if args.quick:
        truth = truth[::2]
    tessdata = tessdata_dir()
    with_baseline = not args.no_baseline
    if with_baseline:
        try:
            import pytesseract  # noqa: F401
        except ImportError:
            sys.exit("pytesseract is not installed: run `make bench-ocr` (or --no-baseline)")
        if shutil.which("tesseract") is None:
            sys.exit("the tesseract binary is missing: run `make bench-ocr` (apt-get install tesseract-ocr)")

    reader = Reader(tessdata)
    reader.read((DATA / truth[0]["file"]).read_bytes())  # warm: models loaded once, as in the bot

    rows = []
    for item in truth:
        data = (DATA / item["file"]).read_bytes()
        expected = "\n".join(item["lines"])
        started = time.perf_counter()
        reading = reader.read(data)
        ours_s = time.perf_counter() - started
        row = {"file": item["file"], "lang": item["lang"], "style": item["style"], "hmi": item["hmi"],
               "ours": {"acc": accuracy(reading.text, expected), "s": ours_s,
                        "codes": sum(c in reading.codes for c in item["codes"]), "text": reading.text},
               "codes": len(item["codes"])}
        if with_baseline:
            started = time.perf_counter()
            text = baseline(data, tessdata)
            base_s = time.perf_counter() - started
            row["base"] = {"acc": accuracy(text, expected), "s": base_s,
                           "codes": sum(c in codes_in(text) for c in item["codes"]), "text": text}
        rows.append(row)
    reader.close()

    def summary(who: str, selected: list[dict]) -> dict:
        return {"acc": statistics.mean(r[who]["acc"] for r in selected),
                "codes": sum(r[who]["codes"] for r in selected) / sum(r["codes"] for r in selected),
                "median_s": statistics.median(r[who]["s"] for r in selected)}

    who = ["ours"] + (["base"] if with_baseline else [])
    report = {
        "images": len(rows),
        "all": {w: summary(w, rows) for w in who},
        "hmi": {w: summary(w, [r for r in rows if r["hmi"]]) for w in who},
        "by_lang": {lang: {w: summary(w, [r for r in rows if r["lang"] == lang]) for w in who}
                    for lang in dict.fromkeys(r["lang"] for r in rows)},
        "by_style": {style: {w: summary(w, [r for r in rows if r["style"] == style]) for w in who}
                     for style in dict.fromkeys(r["style"] for r in rows)},
    }
    if with_baseline:
        report["time_ratio"] = report["all"]["ours"]["median_s"] / report["all"]["base"]["median_s"]
    if args.json:
        print(json.dumps({**report, "rows": rows}, ensure_ascii=False, indent=1))
        return

    def fmt(s: dict) -> str:
        return f"acc {s['acc'] * 100:5.1f} %  codes {s['codes'] * 100:5.1f} %  median {s['median_s'] * 1000:6.0f} ms"

    print(f"{len(rows)} images, language unknown; ours = shopbot (tesserocr, warm), "
          f"base = pytesseract (a process per image, 5 languages)")
    for title, groups in (("by language", report["by_lang"]), ("by style", report["by_style"])):
        print(f"\n{title}:")
        for name, figures in groups.items():
            line = f"  {name:15s} ours {fmt(figures['ours'])}"
            if with_baseline:
                line += f"   | base {fmt(figures['base'])}"
            print(line)
    print()
    for name in ("hmi", "all"):
        line = f"{name.upper():5s} ours {fmt(report[name]['ours'])}"
        if with_baseline:
            line += f"   | base {fmt(report[name]['base'])}"
        print(line)
    hmi = report["hmi"]["ours"]
    codes = report["all"]["ours"]["codes"]
    print(f"\ntarget: HMI character accuracy >= 95 %: {hmi['acc'] * 100:.1f} % "
          f"{'OK' if hmi['acc'] >= 0.95 else 'MISSED'}")
    print(f"target: alarm codes exact >= 98 %: {codes * 100:.1f} % {'OK' if codes >= 0.98 else 'MISSED'}")
    if with_baseline:
        ratio = report["time_ratio"]
        print(f"target: median time <= 0.5 x pytesseract: {ratio:.2f} x "
              f"{'OK' if ratio <= 0.5 else 'MISSED'}")
    worst = sorted(rows, key=lambda r: r["ours"]["acc"])[:3]
    print("\nweakest readings:")
    for r in worst:
        print(f"  {r['file']:26s} {r['ours']['acc'] * 100:5.1f} %  {r['ours']['text']!r}")


if __name__ == "__main__":
    main()

"""Public TBX and TMX sample files through our readers and writers (issue 17).

For each file: what it holds, what we import, what we skip and why, and
whether our exports of what we imported validate (TBX-Basic: the core
RelaxNG schema and the TBX-Basic Schematron; TMX: the TMX 1.4b DTD) and are
read by translate-toolkit. With ``--before DIR`` (a checkout of the code
before issue 17) it also shows what the old readers made of each file.

The samples are not in git (their repositories' licences differ; some have
none): the script reads them from local snapshots of their repositories,
``--mirrors DIR/<owner>+<name>/repo`` (git directories, read with git show),
or from ``--dir`` where they lie under ``<owner>+<name>/<path>``. The schemas
are looked up as in tests/data/schemas/README.md.

    .venv/bin/python benchmarks/exchange_samples.py --before /path/to/old/checkout
    .venv/bin/python benchmarks/exchange_samples.py --json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.translation import memory  # noqa: E402
from glossary import exchange  # noqa: E402
from glossary.model import GlossaryError  # noqa: E402
from tests.exchange_checks import (  # noqa: E402
    SCHEMA_DIRS,
    basic_rule_errors,
    dtd_errors,
    relaxng_errors,
    schematron_errors,
)

OMEGAT_KIT = "src/test/resources/data/tmx/TMXComplianceKit/"
#: (repository, path at the snapshot's HEAD): where each sample comes from.
SAMPLES = [
    ("LTAC-Global/TBX-Basic_dialect", "DCA/Example_Astronomy_DCA_VALID.tbx"),
    ("LTAC-Global/TBX-Basic_dialect", "DCT/Example_Astronomy_DCT_VALID.tbx"),
    ("LTAC-Global/TBX-Min_dialect", "DCA/Example_Astronomy_DCA_VALID.tbx"),
    ("LTAC-Global/TBX-Min_dialect", "DCT/Example_Astronomy_DCT_VALID.tbx"),
    ("LTAC-Global/TBX_test_files", "basic_good.tbx"),
    ("LTAC-Global/TBX_test_files", "core_structure_good.tbx"),
    ("LTAC-Global/TBX_test_files", "min_good.tbx"),
    ("LTAC-Global/TBX_test_files", "poorly_formed_xml.tbx"),
    ("LTAC-Global/TBX-converter", "tests/resources/Good-Basic1.tbx"),
    ("LTAC-Global/TBX-converter", "tests/resources/Unknown Dialect1.tbx"),
    ("omegat-org/omegat", "src/test/resources/data/glossaries/sampleTBXfile.tbx"),
    ("omegat-org/omegat", OMEGAT_KIT + "ImportTest1A.tmx"),
    ("omegat-org/omegat", OMEGAT_KIT + "ImportTest1B.tmx"),
    ("omegat-org/omegat", OMEGAT_KIT + "ImportTest1D.tmx"),
    ("omegat-org/omegat", OMEGAT_KIT + "ImportTest1E.tmx"),
    ("omegat-org/omegat", OMEGAT_KIT + "ImportTest1F.tmx"),
    ("omegat-org/omegat", OMEGAT_KIT + "ImportTest1I.tmx"),
    ("omegat-org/omegat", OMEGAT_KIT + "ImportTest1J.tmx"),
    ("omegat-org/omegat", OMEGAT_KIT + "ImportTest2A.tmx"),
    ("omegat-org/omegat", "src/test/resources/data/tmx/en-US_en-GB_fr_sr.tmx"),
    ("omegat-org/omegat", "src/test/resources/data/tmx/test-level2.tmx"),
]

_BEFORE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
path = sys.argv[2]
try:
    if path.endswith(".tmx"):
        from bot.translation.memory import read_tmx
        print(json.dumps({"ok": len(read_tmx(path))}))
    else:
        from glossary.exchange import read_tbx
        print(json.dumps({"ok": len(read_tbx(path))}))
except Exception as exc:
    print(json.dumps({"error": str(exc).splitlines()[0][:90]}))
"""


def load(repo: str, path: str, mirrors: Path, folder: Path | None) -> bytes | None:
    local = repo.replace("/", "+")
    if folder is not None and (folder / local / path).is_file():
        return (folder / local / path).read_bytes()
    git_dir = mirrors / local / "repo"
    if git_dir.is_dir():
        done = subprocess.run(["git", "-C", str(git_dir), "show", f"HEAD:{path}"],
                              capture_output=True)
        if done.returncode == 0:
            return done.stdout
    return None


def _schema(name: str) -> Path | None:
    return next((d / name for d in SCHEMA_DIRS if (d / name).is_file()), None)


def before(old: Path, data: bytes, suffix: str) -> str:
    with tempfile.NamedTemporaryFile(suffix=suffix) as f:
        f.write(data)
        f.flush()
        out = subprocess.run([sys.executable, "-c", _BEFORE, str(old), f.name],
                             capture_output=True, text=True, cwd=str(old))
    try:
        result = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return "crashed"
    return f"{result['ok']} imported" if "ok" in result else f"refused: {result['error']}"


def measure_tbx(data: bytes, name: str) -> dict:
    reading = exchange.read_tbx_reading(data, name)
    row = {"held": reading.report.held, "imported": reading.report.imported,
           "skipped": reading.report.as_dict()["skipped_by_reason"],
           "other_languages": reading.report.languages}
    if not reading.concepts:
        return row
    basic = exchange.tbx_bytes(reading.concepts)
    checks = {"own TBX-Basic rules": not basic_rule_errors(basic)}
    rng, sch = _schema("TBXcoreStructV03.rng"), _schema("TBX-Basic_DCA.sch")
    if rng:
        checks["core RNG"] = not relaxng_errors(rng, basic)
    if sch:
        checks["TBX-Basic Schematron"] = not schematron_errors(sch, basic)
    try:
        from translate.storage.tbx import tbxfile

        units = len(tbxfile.parsestring(exchange.tbx_bytes(reading.concepts, "tbx2008")).units)
        checks["translate-toolkit reads tbx2008"] = f"{units} units"
    except ImportError:
        pass
    row["export"] = checks
    return row


def measure_tmx(data: bytes) -> dict:
    units, report = memory.read_tmx_report(data)
    row = {"held": report.held, "imported": report.imported,
           "skipped": report.as_dict()["skipped_by_reason"], "other_languages": report.languages}
    if not units:
        return row
    out = memory.tmx_bytes(units)
    checks = {}
    dtd = _schema("tmx14.dtd")
    if dtd:
        checks["TMX 1.4b DTD"] = not dtd_errors(dtd, out)
    try:
        from translate.storage.tmx import tmxfile

        checks["translate-toolkit reads"] = f"{len(tmxfile.parsestring(out).units)} units"
    except ImportError:
        pass
    row["export"] = checks
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--before", type=Path, default=None,
                        help="a checkout of the code before issue 17, for a before/after column")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for repo, path in SAMPLES:
        data = load(repo, path, args.mirrors, args.dir)
        row = {"repo": repo, "path": path}
        if data is None:
            row["error"] = "not at hand"
            rows.append(row)
            continue
        try:
            if path.endswith(".tmx"):
                row.update(measure_tmx(data))
            else:
                row.update(measure_tbx(data, Path(path).name))
        except (GlossaryError, memory.TMError) as exc:
            row["error"] = f"refused: {exc}"
        if args.before:
            row["before"] = before(args.before, data, Path(path).suffix)
        rows.append(row)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    print("| file | held | imported | skipped (why) | other languages | export checks | before |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        skipped = "; ".join(f"{v['count']}: {k}" for k, v in row.get("skipped", {}).items()) or "0"
        langs = ", ".join(f"{k} {v}" for k, v in sorted(row.get("other_languages", {}).items())) or "-"
        checks = ", ".join(f"{k}: {'ok' if v is True else 'FAIL' if v is False else v}"
                           for k, v in row.get("export", {}).items()) or "-"
        held = row.get("held", row.get("error", ""))
        print(f"| {row['repo']} `{row['path']}` | {held} | {row.get('imported', '-')} | {skipped} "
              f"| {langs} | {checks} | {row.get('before', '')} |")


if __name__ == "__main__":
    main()

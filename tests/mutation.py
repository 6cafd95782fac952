"""Mutation score of the modules that carry the promises (``make mutation``).

    .venv/bin/python tests/mutation.py [GROUP ...] [--minutes N] [--children N]

mutmut (3.x) makes small deliberate bugs, one at a time, inside functions
(``<`` for ``<=``, a string changed, a call's argument dropped, ``None`` for a
result...), and runs the tests that cover the mutated function against each.
A mutant the tests do not notice *survived*: a bug they would let through.

Each group below is run against its own test files only, in a copy of the
project under ``build/mutation/<group>/`` (mutmut keeps its state there, so a
second run only retests what changed), with a time box per group. The
summary, per module, goes to docs/mutation.md (and --json to stdout).

mutmut mutates code inside functions and methods only: module-level
constants (a tuple of formula characters, a regex) are not mutated; a test
for them is still worth having (tests/glossary/test_exchange.py has one).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "mutation"
SUMMARY = ROOT / "docs" / "mutation.md"

#: group -> (files to mutate, the tests that are theirs). Order: what the
#: issue cares about most first, so that a time box cuts the least important.
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "normalize": (["glossary/normalize.py"], ["tests/glossary/test_normalize.py"]),
    "search": (["glossary/search.py"], ["tests/glossary/test_search.py"]),
    "spot": (["glossary/index.py"], ["tests/glossary/test_spot.py", "tests/glossary/test_search.py"]),
    "exchange": (["glossary/exchange.py"], ["tests/glossary/test_exchange.py",
                                             "tests/glossary/test_exchange_dialects.py"]),
    "engine": (["bot/translation/engine.py"], ["tests/translation/test_engine.py",
                                               "tests/translation/test_ambiguity.py",
                                               "tests/translation/test_articles.py"]),
    "memory": (["bot/translation/memory.py"], ["tests/translation/test_memory.py",
                                               "tests/translation/test_tmx_exchange.py"]),
    "render": (["handlers/render.py"], ["tests/telegram/test_render.py"]),
    "storage": (["bot/storage.py"], ["tests/test_storage.py"]),
    # manage.py (the console's people page): its views' tests join its own
    "people": (["bot/people/*"], ["tests/people/", "tests/web/test_console_people.py"]),
}
# The knowledge base, one group per file: about 3,600 mutants in all, hours on
# a 2-core machine, so a time box has to cut somewhere; per file, a run that
# ends is a complete score of that file, and the next run starts where the
# cut was (mutmut keeps what it tried). Imports and the glossary editor are
# tested mostly through the console's HTTP views and the CLI: those tests
# join tests/knowledge/ for their file (the browser tests do not: a
# Chromium per mutant costs more than it finds).
_KNOWLEDGE_ALSO = {
    "imports": ["tests/web/test_console_files.py"],
    "termbase": ["tests/web/test_console_glossary.py", "tests/test_cli_term.py"],
    "fixes": ["tests/test_fixes_cli.py"],
}
for _name in ("files", "review", "suggestions", "search", "imports", "termbase", "fixes"):
    GROUPS[f"knowledge-{_name}"] = ([f"bot/knowledge/{_name}.py"], ["tests/knowledge/", *_KNOWLEDGE_ALSO.get(_name, [])])

# Tests that read a module's source text: in mutmut's copy that text holds
# every mutant's strings too, so they fail before any mutant is tried.
_SOURCE_SCANS = ["tests/web/test_console_glossary.py::test_every_editor_message_is_in_the_catalogues"]

_LINE = re.compile(r"^\s+(\S+): (.+)$")


def _prepare(group: str, mutate: list[str], tests: list[str], tests_rev: str | None) -> Path:
    """A copy of the project whose pyproject.toml configures mutmut for the
    group; with ``tests_rev``, the tests as they were at that git revision
    (the score *before* new tests, on today's code)."""
    work = WORK / (f"{group}@{tests_rev}" if tests_rev else group)
    work.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for name in ("glossary", "bot", "handlers", "tests"):
        shutil.rmtree(work / name, ignore_errors=True)
        if name == "tests" and tests_rev:
            archive = subprocess.run(["git", "archive", tests_rev, "tests"], cwd=ROOT, check=True,
                                     capture_output=True).stdout
            subprocess.run(["tar", "-x"], cwd=work, input=archive, check=True)
            shutil.copy(ROOT / "tests" / "mutation.py", work / "tests" / "mutation.py")
            continue
        shutil.copytree(ROOT / name, work / name, ignore=ignore)
    config = {
        "source_paths": ["glossary", "bot", "handlers"],
        "only_mutate": mutate,
        "pytest_add_cli_args_test_selection": tests,
        # A test stuck for 30 s fails (pytest-timeout, the thread method:
        # it ends the process with exit code 1 even when the loop or a lock
        # is stuck), as it would fail CI's time limit. Without it a hanging
        # mutant costs mutmut's own timeout (10x the tests' time) and counts
        # as "timeout", not killed.
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q", "-x",
                                "--timeout", "30", "--timeout-method", "thread",
                                *[arg for test in _SOURCE_SCANS for arg in ("--deselect", test)]],
        # torch, CTranslate2 and aiohttp set up threads: workers fork from a
        # clean server process, not from the one that ran the tests.
        "process_isolation": "forkserver",
        "timeout_multiplier": 10.0,
        "timeout_constant": 10.0,
    }
    lines = ["", "[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    (work / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text("utf-8") + "\n".join(lines) + "\n",
                                         "utf-8")
    return work


def _results(work: Path) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=work,
                         capture_output=True, text=True).stdout
    return {m.group(1): m.group(2).strip() for m in map(_LINE.match, out.splitlines()) if m}


def run_group(group: str, minutes: float, children: int, tests_rev: str | None = None) -> dict:
    mutate, tests = GROUPS[group]
    work = _prepare(group, mutate, tests, tests_rev)
    # The copy's modules, not the checkout's; the suite's temporary folder
    # is the group's (many pytest sessions run at once: none owns it).
    (work / "tmp").mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": "", "SHOPBOT_SUITE_TMP": str(work / "tmp")}
    started = time.monotonic()
    timed_out = False
    print(f"== {group}: mutating {' '.join(mutate)} against {' '.join(tests)} "
          f"(time box {minutes:g} min)", flush=True)
    # Its own process group: at the time box, mutmut's fork server and
    # workers are stopped with it (they outlived it before).
    proc = subprocess.Popen([sys.executable, "-m", "mutmut", "run", "--max-children", str(children)],
                            cwd=work, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    statuses = _results(work)
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    killed = counts.get("killed", 0) + counts.get("caught by type check", 0)
    tested = sum(n for s, n in counts.items() if s not in ("not checked", "skipped"))
    survived = sorted(name for name, s in statuses.items() if s == "survived")
    row = {"group": group + (f" (tests of {tests_rev})" if tests_rev else ""), "modules": mutate, "tests": tests, "mutants": len(statuses),
           "tested": tested, "killed": killed, "counts": counts,
           "score": round(100 * killed / tested, 1) if tested else None,
           "complete": not timed_out and counts.get("not checked", 0) == 0,
           "minutes": round((time.monotonic() - started) / 60, 1), "survived": survived}
    print(f"   {group}: {killed}/{tested} killed"
          + (f" = {row['score']}%" if tested else "") + ("" if row["complete"] else " (partial)")
          + f"; {counts}", flush=True)
    return row


def write_summary(rows: list[dict]) -> None:
    previous = {}
    text = SUMMARY.read_text("utf-8") if SUMMARY.exists() else ""
    if "<!-- scores -->" in text:  # keep the figures of groups not run this time
        scores = text.split("<!-- scores -->")[1].split("<!-- /scores -->")[0]
        for line in scores.splitlines():
            if line.startswith("| ") and not line.startswith("| group") and not line.startswith("| ---"):
                previous[line.split("|")[1].strip()] = line
    table = dict(previous)
    for r in rows:
        score = f"{r['score']}%" if r["score"] is not None else "—"
        table[r["group"]] = (f"| {r['group']} | {', '.join(r['modules'])} | {r['killed']}/{r['tested']} "
                             f"| {score} | {r['counts'].get('survived', 0)} | {r['counts'].get('timeout', 0)} "
                             f"| {'yes' if r['complete'] else 'partial'} | {time.strftime('%Y-%m-%d')} |")
    order = [g for g in GROUPS if g in table]
    text = SUMMARY.read_text("utf-8") if SUMMARY.exists() else ""
    head = text.split("<!-- scores -->")[0] if "<!-- scores -->" in text else (
        "# Mutation score\n\n`make mutation` (tests/mutation.py) writes the table below.\n\n")
    tail = text.split("<!-- /scores -->")[1] if "<!-- /scores -->" in text else "\n"
    body = ["<!-- scores -->", "| group | modules | killed/tested | score | survived | timeout | complete | date |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |", *[table[g] for g in order], "<!-- /scores -->"]
    SUMMARY.write_text(head + "\n".join(body) + tail, "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="*", help=f"default: all ({', '.join(GROUPS)})")
    parser.add_argument("--minutes", type=float, default=20, help="time box per group (default 20)")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--tests-rev", help="run the tests as they were at this git revision "
                                            "(a score before new tests); not written to the summary")
    args = parser.parse_args()
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {unknown}; known: {', '.join(GROUPS)}")
    rows = [run_group(g, args.minutes, args.children, args.tests_rev) for g in args.groups or GROUPS]
    if not args.tests_rev:
        write_summary(rows)
    if args.json:
        print(json.dumps(rows, indent=2))
    print(f"summary: {SUMMARY.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

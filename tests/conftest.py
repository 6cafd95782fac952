"""Shared fixtures: databases (empty, seeded, small hand-made glossary)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

from bot.storage import Storage
from glossary import Concept, Glossary, Term
from glossary import store as glossary_store

# -- temporary files --------------------------------------------------------
# Everything this process and its children put in the temporary folder goes
# to a folder of this run (the machine's /tmp is shared with other runs), and
# the run fails if anything is left there at the end
# (no_temporary_files_left). pytest's own tmp_path folders stay where pytest
# keeps and prunes them.
os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
# A child process that imports this module (or a mutation run, which sets
# the folder) shares the folder and leaves the check to its owner.
_OWN_TMP = "SHOPBOT_SUITE_TMP" not in os.environ
if _OWN_TMP:
    os.environ["SHOPBOT_SUITE_TMP"] = tempfile.mkdtemp(prefix="shopbot-tests-")
SUITE_TMP = Path(os.environ["SHOPBOT_SUITE_TMP"])
os.environ["TMPDIR"] = str(SUITE_TMP)
tempfile.tempdir = str(SUITE_TMP)

# -- Hypothesis ----------------------------------------------------------------
# Its folder (example database, Unicode tables) outside the checkout: a
# developer's failing examples are replayed from there on the next run.
set_hypothesis_home_dir(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                        / "shopbot-hypothesis")
_COMMON = dict(deadline=None,  # 2 shared cores: no per-example deadline
               suppress_health_check=[HealthCheck.too_slow,
                                      # read-only fixtures (a glossary) are shared on purpose
                                      HealthCheck.function_scoped_fixture])
# CI (CI=true): derandomised, so that a run is repeatable and a red CI is the
# code's doing, not the draw's; no example database (a fresh clone has none).
settings.register_profile("ci", max_examples=150, derandomize=True, database=None,
                          print_blob=True, **_COMMON)
# A developer's machine: random draws, the database above.
settings.register_profile("dev", max_examples=150, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE")
                      or ("ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev"))


@pytest.fixture(scope="session", autouse=True)
def no_temporary_files_left():
    """The suite cleans up after itself: nothing left in the run's temporary
    folder when the session ends (a leaked database fails the run)."""
    yield
    if not _OWN_TMP:
        return
    left = sorted(p.name for p in SUITE_TMP.iterdir())
    shutil.rmtree(SUITE_TMP, ignore_errors=True)
    assert left == [], f"the test suite left temporary files behind: {left}"


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory) -> Path:
    """A database with the shipped seed glossary, built once per run."""
    path = tmp_path_factory.mktemp("template") / "seeded.db"
    Storage(path).close()  # migrate + seed; close checkpoints the WAL
    return path


@pytest.fixture
def storage(tmp_path, seeded_template):
    """A seeded database of this test's own."""
    path = tmp_path / "shopbot.db"
    shutil.copy(seeded_template, path)
    s = Storage(path)
    yield s
    s.close()


@pytest.fixture
def empty_storage(tmp_path):
    s = Storage(tmp_path / "empty.db", seed=False)
    yield s
    s.close()


def concept(cid: str, category: str = "electrode", equipment: bool = False, **langs) -> Concept:
    """Build a concept: ``en="coater|coating machine"``; suffixes ``*abbr``,
    ``*dep`` mark abbreviations and deprecated terms; the first plain term of
    a language is preferred, the others admitted."""
    terms = []
    for lang, spec in langs.items():
        if lang.startswith("def_"):
            continue
        first = True
        for text in spec.split("|"):
            type_ = "admitted"
            if text.endswith("*abbr"):
                text, type_ = text[:-5], "abbreviation"
            elif text.endswith("*dep"):
                text, type_ = text[:-4], "deprecated"
            elif first:
                type_, first = "preferred", False
            terms.append(Term(lang=lang, text=text, type=type_, pos="noun"))
    definitions = {k[4:]: v for k, v in langs.items() if k.startswith("def_")}
    return Concept(id=cid, category=category, equipment=equipment, terms=terms,
                   definitions=definitions, source="tests")


def with_pos(c: Concept, pos: str, *langs: str) -> Concept:
    """``c`` with the part of speech of its terms in ``langs`` (all if none
    is named) set to ``pos``."""
    c.terms[:] = [dataclasses.replace(t, pos=pos) if not langs or t.lang in langs else t for t in c.terms]
    return c


SMALL = [
    concept("coater", equipment=True, zh="涂布机|涂覆机", ko="코터|코팅기", ms="mesin salutan",
            fr="enduiseuse|coater", en="coater|coating machine", def_en="Machine that coats foil."),
    concept("coating", zh="涂布", ko="코팅", ms="salutan", fr="enduction", en="coating"),
    concept("calendering", zh="辊压|碾压", ko="압연|롤프레스", ms="penggelekan", fr="calandrage",
            en="calendering|calendaring*dep"),
    concept("tab", category="assembly", zh="极耳", ko="탭", ms="tab", fr="languette", en="tab"),
    concept("electrolyte", category="materials", zh="电解液", ko="전해액", ms="elektrolit",
            fr="électrolyte", en="electrolyte"),
    concept("ocv", category="finishing", zh="开路电压|OCV*abbr", ko="개방전압|OCV*abbr",
            ms="voltan litar terbuka|OCV*abbr", fr="tension à vide|OCV*abbr",
            en="open-circuit voltage|OCV*abbr"),
    concept("agv", category="logistics_it", equipment=True, zh="自动导引车|AGV*abbr",
            ko="무인운반차|AGV*abbr", ms="kenderaan berpandu automatik|AGV*abbr",
            fr="chariot autoguidé|AGV*abbr", en="automated guided vehicle|AGV*abbr"),
    concept("hmi", category="electrical", equipment=True, zh="人机界面|HMI*abbr",
            ko="인간기계인터페이스|HMI*abbr", ms="antara muka manusia-mesin|HMI*abbr",
            fr="interface homme-machine|IHM*abbr|HMI*abbr", en="human-machine interface|HMI*abbr"),
    concept("emergency-stop", category="safety", equipment=True, zh="急停按钮|急停",
            ko="비상정지 버튼", ms="butang henti kecemasan", fr="arrêt d'urgence",
            en="emergency stop|E-stop*abbr"),
    concept("positive-tab", category="assembly", zh="正极耳", ko="양극 탭", ms="tab positif",
            fr="languette positive", en="positive tab"),
]


@pytest.fixture
def small(empty_storage):
    """A hand-made glossary whose content the tests know exactly."""
    empty_storage.write(glossary_store.upsert_concepts, SMALL, "tests")
    return Glossary(empty_storage.conn)


@pytest.fixture(scope="session")
def packages(tmp_path_factory):
    """Tiny real Argos packages (tests/argos_factory.py), built once per run:
    "copy" models output their input (predictable placeholders); "random"
    ones emit nonsense, as an untrained or confused model would."""
    from tests.argos_factory import build_package

    root = tmp_path_factory.mktemp("packages")
    return {
        "copy": {pair: build_package(root / f"copy-{pair}", *pair.split("_"), copy=True)
                 for pair in ("en_fr", "zh_en", "ko_en", "fr_en", "en_ms")},
        "random": {pair: build_package(root / f"random-{pair}", *pair.split("_"), seed=3)
                   for pair in ("en_fr", "zh_en")},
    }


@pytest.fixture
def run(tmp_path, seeded_template, monkeypatch):
    """Invoke the ``shopbot`` CLI (click's CliRunner) on a seeded database of
    this test's own; ``run.db`` is its path."""
    import shutil

    from click.testing import CliRunner

    from bot.cli import cli

    db = tmp_path / "cli.db"
    shutil.copy(seeded_template, db)
    monkeypatch.setenv("SHOPBOT_DB", str(db))
    monkeypatch.delenv("SHOPBOT_DEBUG", raising=False)
    runner = CliRunner()

    def invoke(*args, **kw):
        return runner.invoke(cli, list(args), catch_exceptions=False, **kw)

    invoke.db = db
    return invoke

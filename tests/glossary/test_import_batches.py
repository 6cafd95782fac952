"""Large glossary imports in short transactions, still all or nothing
(glossary.store.import_in_batches, rollback_import, recover_imports),
through the application's Storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from glossary import Concept, Term
from glossary import store as glossary_store


def _many(n: int, prefix: str = "bulk") -> list[Concept]:
    return [Concept(id=f"{prefix}{i}", category="general",
                    terms=[Term("en", f"{prefix} thing {i}"), Term("fr", f"chose {prefix} {i}"),
                           Term("zh", f"涂布机{i}")], definitions={"en": f"number {i}"})
            for i in range(n)]


def _state(storage) -> tuple:
    db = storage.conn()
    return (sorted(c.key() for c in glossary_store.all_concepts(db)),
            db.execute("SELECT count(*) FROM term_gram").fetchone()[0],
            db.execute("SELECT count(*) FROM term_fts WHERE term_fts MATCH 'thing'").fetchone()[0])


def test_batched_import_matches_one_transaction(tmp_path):
    from bot.storage import Storage

    concepts = [Concept(id="bulk3", terms=[Term("en", "changed thing 3")]) if c.id == "bulk3" else c
                for c in _many(230)]
    with Storage(tmp_path / "a.db", seed=False) as a, Storage(tmp_path / "b.db", seed=False) as b:
        for st in (a, b):
            st.write(glossary_store.upsert_concepts, _many(10), "t")
        one = a.write(glossary_store.upsert_concepts, concepts, "t")
        many = glossary_store.import_in_batches(b.write, concepts, "t", batch=40, pause=0)
        assert str(one) == str(many) == "220 added, 1 updated, 9 unchanged"
        assert _state(a) == _state(b)
        assert b.read(lambda db: db.execute("SELECT count(*) FROM import_undo").fetchone()[0]) == 0
        assert b.read(glossary_store.glossary_rev) == a.read(glossary_store.glossary_rev)


def test_a_batched_import_that_fails_midway_leaves_nothing(tmp_path):
    from bot.storage import Storage

    with Storage(tmp_path / "f.db", seed=False) as st:
        st.write(glossary_store.upsert_concepts, _many(50), "t")
        before = _state(st)
        calls = 0

        def failing_write(fn, *args):
            nonlocal calls
            calls += 1
            if calls == 4:  # the start, two batches, then a failure
                raise OSError("disk full")
            return st.write(fn, *args)

        changed = [Concept(id=f"bulk{i}", terms=[Term("en", f"renamed {i}")]) for i in range(0, 50, 2)]
        with pytest.raises(OSError, match="disk full"):
            glossary_store.import_in_batches(failing_write, changed + _many(100, "new"), "t",
                                             batch=30, pause=0)
        assert _state(st) == before
        assert st.read(lambda db: db.execute("SELECT count(*) FROM import_run").fetchone()[0]) == 0


IMPORTER = """
import sys, time
from bot.storage import Storage
from glossary import store
from tests.glossary.test_import_batches import _many
st = Storage(sys.argv[1], seed=False)
def slow_write(fn, *args):
    result = st.write(fn, *args)
    if fn is store._import_chunk:
        print("batch", flush=True)
        time.sleep(0.3)
    return result
store.import_in_batches(slow_write, _many(400, "new"), "t", batch=20, pause=0)
print("done", flush=True)
"""


def test_a_killed_import_is_rolled_back_and_others_write_meanwhile(tmp_path):
    """SIGKILL between batches: the next process that opens the database
    undoes the committed batches. And while the import ran, another
    process's write landed (the lock was not held for the whole import)."""
    import signal
    import subprocess
    import sys

    from bot.storage import Storage

    path = tmp_path / "k.db"
    with Storage(path, seed=False) as st:
        st.write(glossary_store.upsert_concepts, _many(20), "t")
        before = _state(st)
    proc = subprocess.Popen([sys.executable, "-c", IMPORTER, str(path)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout.readline().strip() == "batch"
        with Storage(path, seed=False) as st:  # the import runs: not rolled back, and we can write
            st.write(lambda db: db.execute("INSERT INTO meta VALUES ('during', '1')"))
            assert st.read(lambda db: db.execute("SELECT count(*) FROM import_run").fetchone()[0]) == 1
        assert proc.stdout.readline().strip() == "batch"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    with Storage(path, seed=False) as st:
        assert st.read(lambda db: db.execute("SELECT count(*) FROM import_run").fetchone()[0]) == 0
        assert _state(st) == before
        assert st.read(lambda db: db.execute("SELECT value FROM meta WHERE key = 'during'").fetchone()) == ("1",)


def test_every_concept_is_checked_before_any_write(empty_storage):
    """The bad concept is the last of many: checking only the first would
    write the others and fail half-way (or not at all)."""
    concepts = _many(30) + [Concept(id="9bad", terms=[Term("en", "x")])]
    for run in (lambda: empty_storage.write(glossary_store.upsert_concepts, concepts, "t"),
                lambda: glossary_store.import_in_batches(empty_storage.write, concepts, "t",
                                                         batch=10, pause=0)):
        with pytest.raises(ValueError, match="'9bad'"):
            run()
        assert glossary_store.all_concepts(empty_storage.conn()) == []
    dup = _many(5) + [_many(5)[2]]
    with pytest.raises(ValueError, match="appears twice"):
        empty_storage.write(glossary_store.upsert_concepts, dup, "t")

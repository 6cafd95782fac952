"""``shopbot fixes import|export|search``."""

from __future__ import annotations

import json

import pytest


FILE = """\
- slug: test-coater-wrinkle
  status: approved
  equipment: coater
  codes: [ZQ-9001]
  original_lang: zh
  author: sample
  texts:
    zh: {symptom: 涂布机张力报警, cause: 浮动辊卡住, steps: [停机, 检查浮动辊], safety: [挂牌上锁]}
- slug: test-coater-draft
  status: draft
  equipment: coater
  codes: [ZQ-9002]
  original_lang: en
  author: "42"
  texts:
    en: {symptom: Foil wrinkles, steps: [Slow down]}
"""


@pytest.fixture
def imported(run, tmp_path):
    from bot.people.directory import ensure_admins
    from bot.storage import Storage

    with Storage(run.db) as storage:  # the file's author "42" must be a known person
        storage.write(ensure_admins, [42])
    path = tmp_path / "fixes.yaml"
    path.write_text(FILE, encoding="utf-8")
    result = run("fixes", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "fixes.yaml: 2 added, 0 updated, 0 unchanged" in result.output
    return path


def test_import_refuses_an_unknown_author_and_a_photo_outside_the_folder(run, tmp_path):
    path = tmp_path / "fixes.yaml"
    path.write_text(FILE, encoding="utf-8")
    result = run("fixes", "import", str(path))
    assert result.exit_code == 1
    assert "line 9 (fix 2): author '42': not a known person" in result.output
    path.write_text(FILE.replace('author: "42"', "author: sample\n  photos: [{local_path: /etc/hostname}]"),
                    encoding="utf-8")
    result = run("fixes", "import", str(path))
    assert result.exit_code == 1 and "inside the photos folder" in result.output
    assert run("fixes", "search", "ZQ9001", "--json").output.strip() == "[]"  # nothing imported


def test_import_twice_is_unchanged(run, imported):
    result = run("fixes", "import", str(imported))
    assert "0 added, 0 updated, 2 unchanged" in result.output


def test_search_json_best_first_approved_only(run, imported):
    result = run("fixes", "search", "zq-9001", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data[0]["slug"] == "test-coater-wrinkle" and "code:ZQ9001" in data[0]["reasons"]
    assert json.loads(run("fixes", "search", "ZQ9002", "--json").output) == []  # a draft


def test_search_text_and_not_found(run, imported):
    result = run("fixes", "search", "ZQ 9001", "--lang", "fr")
    assert result.exit_code == 0 and "涂布机张力报警" in result.output and "停机" in result.output
    missing = run("fixes", "search", "qqqqzzzz")
    assert missing.exit_code == 1 and "No fix found" in missing.output


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_export_round_trip_and_force(run, imported, tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    result = run("fixes", "export", str(out))
    assert result.exit_code == 0 and "fixes written" in result.output
    slugs = {f["slug"] for f in (json.loads(out.read_text()) if suffix == ".json" else
                                 __import__("yaml").safe_load(out.read_text()))}
    assert {"test-coater-wrinkle", "test-coater-draft"} <= slugs
    again = run("fixes", "export", str(out))
    assert again.exit_code == 1 and "--force" in again.output
    assert run("fixes", "export", str(out), "--force").exit_code == 0
    assert " 0 added, 0 updated," in run("fixes", "import", str(out)).output


def test_bad_file_is_one_line_error_and_imports_nothing(run, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"slug": "ok-one", "equipment": "coater", "original_lang": "en",
                                 "texts": {"en": {"symptom": "s", "steps": ["x"]}}},
                                {"slug": "bad-one", "equipment": "coater", "original_lang": "xx",
                                 "texts": {"en": {"symptom": "s", "steps": ["x"]}}}], indent=1))
    result = run("fixes", "import", str(path))
    assert result.exit_code == 1
    assert result.output.startswith("Error: line ") and "original_lang" in result.output
    assert len(result.output.strip().splitlines()) == 1
    import sqlite3

    with sqlite3.connect(run.db) as conn:
        assert conn.execute("SELECT count(*) FROM fix WHERE slug LIKE '%-one'").fetchone()[0] == 0
    assert run("fixes", "export", str(tmp_path / "x.csv")).exit_code == 1


def test_a_glossary_import_makes_old_fixes_findable_by_the_new_term(run, imported, tmp_path):
    """The fix says 浮动辊卡住 (the dancer roll is stuck); the glossary learns
    the term later, with a French name nothing else has: the French name then
    finds the old fix."""
    assert run("fixes", "search", "zzqbloc", "--json").output.strip() == "[]"
    glossary = tmp_path / "new.csv"
    glossary.write_text("id,category,equipment,zh,fr,en\n"
                        "dancer-stuck-zz,general,false,浮动辊卡住,zzqbloc,dancer roll stuck\n",
                        encoding="utf-8")
    result = run("glossary", "import", str(glossary))
    assert result.exit_code == 0, result.output
    assert "spotted again in" in result.output
    found = json.loads(run("fixes", "search", "zzqbloc", "--json").output)
    assert [f["slug"] for f in found] == ["test-coater-wrinkle"]
    assert "spotted again" not in run("glossary", "import", str(glossary)).output  # unchanged
    again = run("fixes", "reindex")
    assert again.exit_code == 0 and "up to date" in again.output and "spotted again" not in again.output


def test_remove_samples_keeps_the_adopted_ones(run):
    from bot.knowledge import fixes as fx
    from bot.storage import Storage

    with Storage(run.db) as storage:
        total, = storage.read(lambda db: db.execute("SELECT count(*) FROM fix WHERE sample = 1").fetchone())
        kept = storage.read(lambda db: db.execute("SELECT id FROM fix WHERE sample = 1 LIMIT 1").fetchone()[0])
        assert storage.write(fx.adopt_sample, kept, "cli:lead") is True
    result = run("fixes", "remove", "--samples", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"removed": total - 1}
    with Storage(run.db) as storage:
        assert storage.read(lambda db: db.execute("SELECT id FROM fix").fetchall()) == [(kept,)]
        assert storage.read(lambda db: db.execute(
            "SELECT count(*) FROM audit WHERE action = 'remove sample'").fetchone()[0]) == total - 1
    assert run("fixes", "remove").exit_code == 2  # --samples is required: nothing else is removed

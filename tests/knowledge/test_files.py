"""Fix files (bot/knowledge/files.py) in detail: each field's check, where
each fix starts, the nesting limit, the two output formats and the seed."""

from __future__ import annotations

import json

import pytest

from bot.knowledge import files as ff
from bot.knowledge import fixes as fx
from tests.knowledge.test_fixes import YAML_OK, st_  # noqa: F401

MINIMAL = {"texts": {"en": {"symptom": "s", "steps": ["x"]}}}


def test_depth():
    assert ff._depth(1) == 1
    assert ff._depth([]) == 1 and ff._depth({}) == 1
    assert ff._depth([1, [2, [3]]]) == 4
    assert ff._depth({"a": {"b": [1]}, "c": 2}) == 4
    assert ff._depth([[[[1]]]], limit=2) == 3  # stops counting past the limit
    deep: list = []
    for _ in range(1000):
        deep = [deep]
    assert ff._depth(deep) == ff.MAX_DEPTH + 1


def test_item_defaults():
    item = ff._item(dict(MINIMAL))
    assert (item.slug, item.equipment, item.original_lang, item.status, item.author, item.sample,
            item.codes, item.photos, item.reject_reason) == (
        None, None, None, "draft", "import", False, [], [], None)
    item = ff._item({**MINIMAL, "author": 42, "sample": 1, "codes": None, "photos": None,
                     "reject_reason": "r", "status": "approved", "slug": "s", "equipment": "coater",
                     "original_lang": "en"})
    assert (item.author, item.sample, item.codes, item.photos, item.reject_reason, item.status) == (
        "42", True, [], [], "r", "approved")
    assert item.texts == MINIMAL["texts"]
    assert ff._item({**MINIMAL, "author": "a" * fx.MAX_AUTHOR}).author == "a" * fx.MAX_AUTHOR


@pytest.mark.parametrize("raw, message", [
    ([], "each fix must be a mapping"),
    ("slug", "^each fix must be a mapping$"),
    ({**MINIMAL, "zzz": 1, "aaa": 2}, "^unknown field\\(s\\): 'aaa', 'zzz'$"),
    ({**MINIMAL, **{f"k{i}": 1 for i in range(9)}}, "^unknown field\\(s\\): 'k0', 'k1', 'k2', 'k3', 'k4'$"),
    ({**MINIMAL, "x" * 100: 1}, "^unknown field\\(s\\): '" + "x" * 40 + "'…$"),
    ({"slug": "a"}, "texts: a mapping"),
    ({"texts": ["en"]}, "texts: a mapping"),
    ({**MINIMAL, "author": True}, "author: a Telegram user id or a short tag \\(at most 64"),
    ({**MINIMAL, "author": 1.5}, "author"),
    ({**MINIMAL, "author": ["1"]}, "author"),
    ({**MINIMAL, "author": "a" * 65}, "author"),
    ({**MINIMAL, "author": None}, "author"),
    ({**MINIMAL, "slug": 5}, "^slug: must be text$"),
    ({**MINIMAL, "equipment": ["coater"]}, "^equipment: must be text$"),
    ({**MINIMAL, "original_lang": 1}, "^original_lang: must be text$"),
    ({**MINIMAL, "status": True}, "^status: must be text$"),
])
def test_item_refusals(raw, message):
    with pytest.raises(fx.FixError, match=message):
        ff._item(raw)


def test_json_items_and_their_lines():
    text = '[\n  {"a": 1},\n\n  {"b": [1,\n 2]}, {"c": "[x"}\n, 7]'
    data, lines = ff._json_items(text)
    assert data == [{"a": 1}, {"b": [1, 2]}, {"c": "[x"}, 7]
    assert lines == [2, 4, 5, 6]
    assert ff._json_items("[]") == ([], [])
    with pytest.raises(fx.FixError, match="^line 1: the file must be a list of fixes$"):
        ff._json_items('{"a": 1}')
    with pytest.raises(fx.FixError, match="^line 2: not valid JSON: "):
        ff._json_items('[\n}')
    nested = "[" * ff.MAX_DEPTH + "]" * ff.MAX_DEPTH
    assert ff._json_items(nested)[1] == [1]
    with pytest.raises(fx.FixError, match=f"^line 1: nested too deep \\(a fix file nests {ff.MAX_DEPTH}"):
        ff._json_items("[" + nested + "]")


def test_yaml_items_and_their_lines():
    data, lines = ff._yaml_items("# fixes\n- a: 1\n\n- b: 2\n  c: 3\n- [x]\n")
    assert data == [{"a": 1}, {"b": 2, "c": 3}, ["x"]] and lines == [2, 4, 6]
    assert ff._yaml_items("") == ([], [])
    assert ff._yaml_items("# nothing\n") == ([], [])
    with pytest.raises(fx.FixError, match="^line 1: the file must be a list of fixes$"):
        ff._yaml_items("a: 1\n")
    nested = "- " + "[" * (ff.MAX_DEPTH - 1) + "]" * (ff.MAX_DEPTH - 1) + "\n"
    assert ff._yaml_items(nested)[1] == [1]
    with pytest.raises(fx.FixError, match="^line 2: nested too deep \\(a fix file nests 12 levels at most\\)$"):
        ff._yaml_items("- a\n- " + "[" * ff.MAX_DEPTH + "]" * ff.MAX_DEPTH + "\n")
    with pytest.raises(fx.FixError, match="^line 3: YAML anchors and aliases \\(& and \\*\\) are not accepted in a fix file$"):
        ff._yaml_items("- a\n- b\n- &x c\n")
    with pytest.raises(fx.FixError, match="^line 2: YAML anchors and aliases"):
        ff._yaml_items("- a\n- *x\n")
    with pytest.raises(fx.FixError, match="^line 3: not valid YAML: mapping values are not allowed"):
        ff._yaml_items("- a\n- b\n- c: d: e\n")
    # A reader error has no line mark and no "problem": its own words are kept.
    with pytest.raises(fx.FixError, match="^not valid YAML: unacceptable character #x0007: control characters"):
        ff._yaml_items("- a\x07\n")
    # Depth is counted back one level per closed collection: a nest after a
    # closed sibling is measured from where it really starts (12 levels: 3 + 9).
    assert ff._yaml_items("- texts: {a: [[1]], b: " + "[" * 9 + "]" * 9 + "}\n")[1] == [1]
    with pytest.raises(fx.FixError, match="^line 1: nested too deep"):
        ff._yaml_items("- texts: {a: [[1]], b: " + "[" * 10 + "]" * 10 + "}\n")
    # Closed collections give their depth back: many siblings are fine.
    assert len(ff._yaml_items("".join(f"- [[{i}]]\n" for i in range(30)))[0]) == 30


def test_read_fixes_names_each_fix(tmp_path):
    items, where = ff.read_fixes(tmp_path / "F.YML", YAML_OK)
    assert [i.slug for i in items] == ["coater-web-tension-alarm", "slitter-burr"]
    assert where == ["line 1 (fix 1)", "line 12 (fix 2)"]
    with pytest.raises(fx.FixError, match="^line 12 \\(fix 2\\): texts: a mapping"):
        ff.read_fixes(tmp_path / "f.yaml", YAML_OK.replace("  texts:\n    en:", "  texts: [en]\n  photos:\n    en:"))
    with pytest.raises(fx.FixError, match="^f.txt: use a .yaml, .yml or .json file$"):
        ff.read_fixes(tmp_path / "f.txt", YAML_OK)
    path = tmp_path / "f.json"
    path.write_text('\ufeff[{"texts": {}, "slug": "a"}]', encoding="utf-8")  # a BOM is fine
    assert ff.read_fixes(path) == ([ff._item({"texts": {}, "slug": "a"})], ["line 1 (fix 1)"])
    path.write_bytes(b'[\x00]')
    with pytest.raises(fx.FixError, match="^f.json: line 1: contains NUL"):
        ff.read_fixes(path)
    with pytest.raises(fx.FixError, match="^deep.json: nested too deep"):
        ff.read_fixes(tmp_path / "deep.json", "[" * 100_000 + "]" * 100_000)


def test_fixes_bytes_both_formats(st_, tmp_path):
    items, _ = ff.read_fixes(tmp_path / "f.yaml", YAML_OK)
    data = [fx.clean_fix(i) for i in items]
    as_json = ff.fixes_bytes(data, "json")
    assert as_json.endswith(b"]\n") and "涂布机张力报警".encode() in as_json
    assert as_json.startswith(b'[\n  {\n    "slug": "coater-web-tension-alarm"')
    assert json.loads(as_json) == [d.to_dict() for d in data]
    as_yaml = ff.fixes_bytes(data, "yaml")
    assert as_yaml.startswith(b"- slug: coater-web-tension-alarm\n  sample: true\n  status: approved\n")
    assert "涂布机张力报警".encode() in as_yaml
    long = fx.clean_fix(ff._item({"slug": "l", "equipment": "coater", "original_lang": "en", "texts": {
        "en": {"symptom": " ".join(["word"] * 30), "steps": ["x"]}}}))
    # Lines fold at 100 columns, not PyYAML's 80.
    assert max(map(len, ff.fixes_bytes([long], "yaml").decode().splitlines())) in range(101, 111)
    ff.write_fixes(data, tmp_path / "out.JSON")
    assert (tmp_path / "out.JSON").read_bytes() == as_json
    ff.write_fixes(data, tmp_path / "out.txt", "yaml")
    assert (tmp_path / "out.txt").read_bytes() == as_yaml
    ff.write_fixes(data, tmp_path / "out.yml", "json")
    assert (tmp_path / "out.yml").read_bytes() == as_json


def test_read_samples():
    samples, where = ff.read_samples()
    assert len(samples) == len(where) >= 30
    assert all(w.startswith("line ") and w.endswith(f"(fix {i})") for i, w in enumerate(where, 1))
    assert all(s.sample and s.author == "sample" for s in samples)


def test_seed_on_the_shipped_glossary(storage):
    db = storage.conn()
    assert db.execute("SELECT value FROM meta WHERE key = 'fixes_seed_version'").fetchone() == ("1",)
    assert db.execute("SELECT count(*) FROM fix").fetchone()[0] == len(ff.read_samples()[0])
    # Each sample's history says who wrote it in: the seed, not a person.
    assert db.execute("SELECT DISTINCT actor, why FROM fix_version").fetchall() == [("seed", "import")]
    assert storage.write(ff.seed) is None


def test_seed_again_after_the_version_row_goes(storage):
    """The seed imports by slug: run again, it changes nothing, and does not
    mark the fixes fresh when they were not all just added."""
    storage.write(lambda db: db.execute("DELETE FROM meta WHERE key IN ('fixes_seed_version', 'fix_concepts_rev')"))
    report = storage.write(ff.seed)
    assert (report.added, report.updated) == (0, 0) and report.unchanged == len(ff.read_samples()[0])
    assert storage.read(fx.concepts_stale)  # not marked: nothing was added
    where = storage.conn().execute("SELECT count(*) FROM audit WHERE entity = 'fix' AND action = 'import'")
    assert where.fetchone()[0] == report.unchanged  # the first seed's rows only


def test_no_samples_shipped(storage, monkeypatch):
    monkeypatch.setattr(ff, "SAMPLES", "data/no_such_samples.yaml")
    assert ff.read_samples() is None
    storage.write(lambda db: db.execute("DELETE FROM meta WHERE key = 'fixes_seed_version'"))
    assert storage.write(ff.seed) is None
    assert storage.conn().execute("SELECT 1 FROM meta WHERE key = 'fixes_seed_version'").fetchone() is None


def test_json_lines_of_items_right_after_the_bracket():
    assert ff._json_items('[{"a": 1},\n {"b": 2}]')[1] == [1, 2]
    assert ff._json_items('\n[\n{"a": 1}]')[1] == [3]  # a line before the list counts

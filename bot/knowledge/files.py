"""Fixes in files: YAML/JSON import and export, and the sample fixes seeded
into a new database.

    items, where = read_fixes("fixes.yaml")          # FixData, and "line N" for each
    storage.write(import_fixes, items, "cli:alice", where)
    write_fixes(storage.read(all_fixes), "out.yaml")
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from glossary.exchange import decode_text, read_bytes
from glossary.model import GlossaryError
from glossary.store import ImportReport

from .fixes import MAX_AUTHOR, FixData, FixError, clip_repr, import_fixes, mark_concepts_fresh

SAMPLES = "data/sample_fixes.yaml"  # inside the bot package
SAMPLES_VERSION = "1"


#: Nesting deeper than a fix needs (a list of fixes, a fix, texts, a text,
#: its steps): refused before Python's recursion limit is reached.
MAX_DEPTH = 12


def _depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deep ``value`` nests, counting no further than ``limit`` + 1."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > limit:
            break
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _item(raw: Any) -> FixData:
    if not isinstance(raw, dict):
        raise FixError("each fix must be a mapping")
    known = {"slug", "sample", "status", "equipment", "codes", "original_lang", "author",
             "photos", "texts", "reject_reason"}
    if set(raw) - known:
        unknown = ", ".join(sorted(clip_repr(str(k), 40) for k in set(raw) - known)[:5])
        raise FixError(f"unknown field(s): {unknown}")
    if not isinstance(raw.get("texts"), dict):
        raise FixError("texts: a mapping of language → text is required")
    # Types first, then conversions: str() of a nested value could be huge.
    author = raw.get("author", "import")
    if isinstance(author, bool) or not isinstance(author, (str, int)) or len(str(author)) > MAX_AUTHOR:
        raise FixError(f"author: a Telegram user id or a short tag (at most {MAX_AUTHOR} characters)")
    for name in ("slug", "equipment", "original_lang", "status"):
        if raw.get(name) is not None and not isinstance(raw[name], str):
            raise FixError(f"{name}: must be text")
    return FixData(slug=raw.get("slug"), equipment=raw.get("equipment"),
                   original_lang=raw.get("original_lang"), texts=raw["texts"],
                   codes=raw.get("codes") or [], author=str(author),
                   sample=bool(raw.get("sample", False)), status=raw.get("status", "draft"),
                   reject_reason=raw.get("reject_reason"), photos=raw.get("photos") or [])


def _yaml_items(text: str) -> tuple[list, list[int]]:
    import yaml

    # libyaml when PyYAML has it: the pure-Python parser took 30 s on 40 kB
    # of nested brackets.
    safe_loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = safe_loader(text)
    try:
        # One pass over the events before anything is built. No anchors or
        # aliases: a 500-byte file of nested aliases expands to gigabytes when
        # its values are built (the "billion laughs"), and a fix file has no
        # use for them. No nesting deeper than a fix needs.
        depth = 0
        for event in yaml.parse(text, Loader=safe_loader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise FixError(f"line {event.start_mark.line + 1}: YAML anchors and aliases "
                               "(& and *) are not accepted in a fix file")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise FixError(f"line {event.start_mark.line + 1}: nested too deep "
                                   f"(a fix file nests {MAX_DEPTH} levels at most)")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        node = loader.get_single_node()
        if node is None:  # an empty file: no fixes
            return [], []
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        raise FixError(f"{line}not valid YAML: {getattr(exc, 'problem', exc)}") from None
    finally:
        loader.dispose()
    if not isinstance(data, list):
        raise FixError("line 1: the file must be a list of fixes")
    return data, [n.start_mark.line + 1 for n in node.value]


def _json_items(text: str) -> tuple[list, list[int]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FixError(f"line {exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, list):
        raise FixError("line 1: the file must be a list of fixes")
    if _depth(data) > MAX_DEPTH:  # (the YAML reader checks this on its events)
        raise FixError(f"line 1: nested too deep (a fix file nests {MAX_DEPTH} levels at most)")
    # Where each item starts: decode the array again, one item at a time.
    decoder, lines, pos = json.JSONDecoder(), [], text.index("[") + 1
    for _ in data:
        while text[pos] in " \t\r\n,":
            pos += 1
        lines.append(text.count("\n", 0, pos) + 1)
        pos = decoder.raw_decode(text, pos)[1]
    return data, lines


def read_fixes(path: str | Path, text: str | None = None) -> tuple[list[FixData], list[str]]:
    """Fixes from a .yaml/.yml/.json file, and where each one starts."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise FixError(f"{path.name}: use a .yaml, .yml or .json file")
    if text is None:
        try:  # at most 50 MB, as a glossary file; not UTF-8: the line says where
            text = decode_text(read_bytes(path))
        except GlossaryError as exc:
            raise FixError(f"{path.name}: {exc}") from None
    try:
        raw, lines = _json_items(text) if suffix == ".json" else _yaml_items(text)
    except RecursionError:  # deeper than the JSON decoder itself goes
        raise FixError(f"{path.name}: nested too deep (a fix file nests {MAX_DEPTH} levels at most)") from None
    items, where = [], []
    for i, (item, line) in enumerate(zip(raw, lines), 1):
        at = f"line {line} (fix {i})"
        try:
            items.append(_item(item))
        except FixError as exc:
            raise FixError(f"{at}: {exc}") from None
        where.append(at)
    return items, where


def write_fixes(fixes: list[FixData], path: str | Path, fmt: str | None = None) -> None:
    path = Path(path)
    path.write_bytes(fixes_bytes(fixes, fmt or path.suffix.lower().lstrip(".")))


def fixes_bytes(fixes: list[FixData], fmt: str) -> bytes:
    """The fixes as a JSON (``fmt`` "json") or YAML file's content."""
    data = [f.to_dict() for f in fixes]
    if fmt == "json":
        return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    import yaml

    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100).encode("utf-8")


def read_samples() -> tuple[list[FixData], list[str]] | None:
    """The shipped sample fixes, and where each starts; None if not shipped."""
    source = resources.files("bot").joinpath(SAMPLES)
    if not source.is_file():
        return None
    return read_fixes(Path(SAMPLES), source.read_text(encoding="utf-8-sig"))


def seed(db) -> ImportReport | None:
    """Load the shipped sample fixes once, if the file ships with this version."""
    if db.execute("SELECT 1 FROM meta WHERE key = 'fixes_seed_version'").fetchone():
        return None
    samples = read_samples()
    if samples is None:
        return None  # not shipped (yet): loaded at the first start that has it
    items, where = samples
    report = import_fixes(db, items, "seed", where=[f"{SAMPLES} {w}" for w in where])
    db.execute("INSERT INTO meta (key, value) VALUES ('fixes_seed_version', ?)", [SAMPLES_VERSION])
    if db.execute("SELECT count(*) FROM fix").fetchone()[0] == report.added:
        mark_concepts_fresh(db)  # a new database: every fix was spotted just now
    return report

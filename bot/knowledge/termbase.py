"""Curating the glossary (issue 12): edit a language's terms and definition,
add a concept, merge two, deprecate a term, revert one change, and review a
concept per language. One service for the web console and the CLI.

Plain functions on a ``sqlite_utils.Database`` that never open a
transaction: run writes through ``Storage.write``/``awrite`` (one
``BEGIN IMMEDIATE`` each), so the version check, the change, the review
reset and the audit row are one atomic write.

Rules (decided here, argued in the README, "The glossary editor"):

* who: an ``Editor`` (a person from the web or Telegram, or the command
  line). Operators change nothing. A trainer's change is not applied: it
  becomes a suggestion in the existing queue (``suggestions``), with the
  proposed concept kept beside it (``glossary_proposal``) so that a lead
  can open it prefilled and apply it. Leads and admins apply directly.
  The command line acts as an admin (as ``glossary import`` does).
* versions: every write of a concept bumps ``concept.version``; a change
  names the version it was made from, and a concept written meanwhile
  raises ``Conflict`` carrying what the other person changed. Nothing is
  silently lost.
* review: a language is reviewed by a *speaker* of it: a person's
  interface language, plus the languages a lead or admin declared for them
  (``person_language``). Any later change of that language's terms or
  definition puts it back to draft in the same transaction, whichever path
  writes (``glossary.store._write_concept``: this service, imports, CLI).
* every change is audited with the concept before and after it, which is
  what a revert needs; rows written before (or by imports) hold no earlier
  state and cannot be reverted here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace

import sqlite_utils

from glossary.model import (CATEGORIES, GENDERED_LANGS, GENDERS, LANGS, MAX_TERM_CHARS, MAX_TEXT_CHARS,
                            PARTS_OF_SPEECH, TERM_TYPES, Concept, GlossaryError, Term, validate_concept)
from glossary.normalize import scrub
from glossary import store as gstore
from glossary.store import audit, execute_script, utcnow

from bot.people import directory as people
from bot.people.signin import person_by_id

from . import suggestions

#: Audit actions a revert knows how to undo (each row holds before/after).
REVERTIBLE = ("edit", "create", "deprecate", "merge", "revert", "review")
MAX_LIST = 50


class EditError(ValueError):
    """A refused change. ``msgid`` is an interface text (translated by the
    web app through the catalogues), ``values`` fill its placeholders; str()
    is the English sentence (the CLI's error line)."""

    def __init__(self, msgid: str, **values):
        self.msgid, self.values = msgid, values
        super().__init__(msgid.format(**values))


class NotAllowed(EditError):
    pass


class Conflict(EditError):
    """The concept changed since the form was made: ``current`` is the
    concept now, ``since`` the audit rows written after ``base``."""

    EDITED = ("Someone else changed this concept while you were editing it (version {base}, now {now}). "
              "Their change is shown below; your edit was not saved.")
    LATER = "Later changes touched the same parts of this concept: revert those first (shown below)."

    def __init__(self, current: Concept, base: int, since: list, msgid: str = EDITED):
        self.current, self.base, self.since = current, base, since
        super().__init__(msgid, base=base, now=current.version)


@dataclass(frozen=True)
class Editor:
    """Who makes a change: their audit tag, role and the languages they speak."""

    tag: str  # web:ID, tg:ID, cli:NAME
    role: str
    langs: frozenset[str]
    user_id: int | None = None  # None: the command line

    def can(self, needed: str) -> bool:
        return people.can(self.role, needed)


@dataclass
class Outcome:
    applied: bool  # False: a trainer's proposal, waiting in the suggestions queue
    concept_id: str
    version: int | None = None
    suggestion: int | None = None
    deleted: bool = False


# -- schema --------------------------------------------------------------------

def migrate_editor(db: sqlite_utils.Database) -> None:
    """The glossary editor: per-language review and concept versions (the
    glossary's own tables), languages people speak, and the structured
    change behind a trainer's suggestion."""
    gstore.migrate_concept_review(db)
    execute_script(db, """
        CREATE TABLE person_language (
            user_id INTEGER NOT NULL,
            lang TEXT NOT NULL CHECK (lang IN ('zh', 'ko', 'ms', 'fr', 'en')),
            set_by TEXT NOT NULL,
            set_at TEXT NOT NULL,
            PRIMARY KEY (user_id, lang)
        ) WITHOUT ROWID;
        CREATE TABLE glossary_proposal (
            suggestion_id INTEGER PRIMARY KEY REFERENCES suggestion(id) ON DELETE CASCADE,
            concept_id TEXT NOT NULL,     -- no foreign key: the proposal may add it
            action TEXT NOT NULL,         -- edit | create
            lang TEXT,                    -- the language edited, if one
            base_version INTEGER,         -- the version it was made from
            after TEXT NOT NULL           -- the concept as proposed (JSON snapshot)
        );
    """)


# -- who -----------------------------------------------------------------------

def declared_langs(db, user_id: int) -> list[str]:
    return [r[0] for r in db.execute("SELECT lang FROM person_language WHERE user_id = ? ORDER BY lang",
                                     [user_id])]


def editor_for(db, person, via: str = "web") -> Editor:
    """The Editor of a known person (``people.Person``)."""
    langs = {person.lang, *declared_langs(db, person.user_id)}
    return Editor(f"{via}:{person.user_id}", person.role, frozenset(langs & set(LANGS)), person.user_id)


def cli_editor(name: str) -> Editor:
    return Editor(f"cli:{name}", "admin", frozenset(LANGS))


def set_speaker_langs(db, editor: Editor, user_id: int, langs: list[str]) -> list[str]:
    """Declare the languages a person speaks, besides their interface
    language (a lead or admin does it; audited)."""
    if not editor.can("lead"):
        raise NotAllowed("Only a lead or an admin can do this.")
    if person_by_id(db, user_id) is None:
        raise EditError("No such person.")
    wanted = sorted({lang for lang in langs if lang in LANGS})
    db.execute("DELETE FROM person_language WHERE user_id = ?", [user_id])
    now = utcnow()
    db.conn.executemany("INSERT INTO person_language (user_id, lang, set_by, set_at) VALUES (?, ?, ?, ?)",
                        [(user_id, lang, editor.tag, now) for lang in wanted])
    audit(db, editor.tag, "languages", "person", str(user_id), {"langs": wanted})
    return wanted


def speakers(db) -> list[tuple]:
    """(person, declared languages) of everyone but the kiosk, for the speakers page."""
    kiosks = {r[0] for r in db.execute("SELECT user_id FROM web_person WHERE kind = 'kiosk'")}
    return [(p, declared_langs(db, p.user_id)) for p in people.list_people(db) if p.user_id not in kiosks]


def actor_names(db, tags) -> dict[str, str]:
    """Audit tags (web:ID, tg:ID) → the person's name, for history lists."""
    out = {}
    for tag in set(tags):
        kind, _, rest = tag.partition(":")
        if kind in ("web", "tg") and rest.isascii() and rest.isdigit():
            person = person_by_id(db, int(rest))
            if person is not None:
                out[tag] = person.label
    return out


# -- reading -------------------------------------------------------------------

def get(db, concept_id: str) -> Concept | None:
    if not isinstance(concept_id, str) or len(concept_id) > 64:
        return None
    return gstore.load_concepts(db, [concept_id]).get(concept_id)


def merged_into(db, concept_id: str) -> str | None:
    """Where a concept that was merged away went (its id now), if it was."""
    row = db.execute("SELECT detail FROM audit WHERE entity = 'concept' AND entity_id = ? AND action = 'merged' "
                     "ORDER BY id DESC LIMIT 1", [concept_id[:64]]).fetchone()
    return json.loads(row[0]).get("into") if row and row[0] else None


def keep(concept: Concept, category: str | None = None, equipment: bool | None = None,
         lang: str | None = None, state: str | None = None) -> bool:
    """Whether a concept passes the browse filters (also applied to search results)."""
    if category and concept.category != category:
        return False
    if equipment is not None and concept.equipment != equipment:
        return False
    if lang and state:
        has_term = any(t.lang == lang for t in concept.terms)
        reviewed = lang in concept.reviews
        return reviewed if state == "reviewed" else has_term and not reviewed
    return True


def browse(db, category: str | None = None, equipment: bool | None = None, lang: str | None = None,
           state: str | None = None, page: int = 1, per_page: int = MAX_LIST) -> tuple[list[Concept], int]:
    """One page of concepts passing the filters (by id), and how many pass."""
    where, params = [], []
    if category:
        where.append("c.category = ?")
        params.append(category)
    if equipment is not None:
        where.append("c.equipment = ?")
        params.append(int(equipment))
    if lang and state:
        reviewed = "EXISTS (SELECT 1 FROM concept_review r WHERE r.concept_id = c.id AND r.lang = ?)"
        if state == "reviewed":
            where.append(reviewed)
            params.append(lang)
        else:
            where.append(f"NOT {reviewed} AND EXISTS (SELECT 1 FROM term t WHERE t.concept_id = c.id AND t.lang = ?)")
            params += [lang, lang]
    sql = " WHERE " + " AND ".join(where) if where else ""
    total = db.execute(f"SELECT count(*) FROM concept c{sql}", params).fetchone()[0]
    ids = [r[0] for r in db.execute(f"SELECT c.id FROM concept c{sql} ORDER BY c.id LIMIT ? OFFSET ?",
                                    [*params, per_page, (max(page, 1) - 1) * per_page])]
    found = gstore.load_concepts(db, ids)
    return [found[i] for i in ids], total


@dataclass(frozen=True)
class FixLink:
    id: int
    slug: str
    status: str
    symptom: str
    equipment: bool  # the fix is about this machine (else: its texts mention it)


def fixes_mentioning(db, concept_id: str, lang: str = "en", limit: int = MAX_LIST) -> list[FixLink]:
    """The fixes about this concept (their machine) or whose texts mention it."""
    rows = db.execute(
        "SELECT f.id, f.slug, f.status, f.equipment = ?, "
        " coalesce((SELECT symptom FROM fix_text WHERE snippet_id = f.id AND lang = ?), "
        "          (SELECT symptom FROM fix_text WHERE snippet_id = f.id AND lang = f.original_lang), '') "
        "FROM fix f WHERE f.equipment = ? OR f.id IN (SELECT snippet_id FROM fix_concept WHERE concept_id = ?) "
        "ORDER BY f.equipment = ? DESC, f.id LIMIT ?",
        [concept_id, lang, concept_id, concept_id, concept_id, limit]).fetchall()
    return [FixLink(r[0], r[1], r[2], r[4], bool(r[3])) for r in rows]


@dataclass
class Change:
    """One row of a concept's history, with what it changed."""

    id: int
    at: str
    actor: str
    who: str
    action: str
    lines: list  # (what, lang, before, after): what is an interface text
    revertible: bool
    note: str = ""
    version: int | None = None  # the concept's version this change wrote


def _term_list(terms: list) -> str:
    return " · ".join(f"{t[1]} ({t[2]})" for t in _by_type(terms)) or "—"


def diff(before: dict | None, after: dict | None) -> list[tuple[str, str, str, str]]:
    """What changed between two snapshots, as (what, lang, before, after)."""
    b, a = _components(before), _components(after)
    out = []
    for key in a.keys() | b.keys():
        what, lang = key[0], key[1] if len(key) > 1 else ""
        # A part missing from one side (a creation, a deletion) counts as
        # empty: a new concept's history lists what it has, not a
        # "— → —" line for every language it has nothing in.
        empty = [] if what == "terms" else ""
        old, new = b.get(key, empty), a.get(key, empty)
        if old == new:
            continue
        show = _term_list if what == "terms" else (lambda v: "—" if v == "" else str(v))
        out.append((what, lang, show(old), show(new)))
    order = {k: i for i, k in enumerate(("terms", "definition", "category", "equipment", "source", "notes"))}
    return sorted(out, key=lambda x: (order.get(x[0], 9), LANGS.index(x[1]) if x[1] in LANGS else -1))


def changes(db, concept_id: str, limit: int = 100) -> list[Change]:
    rows = gstore.history(db, concept_id, limit)
    names = actor_names(db, [r.actor for r in rows])
    out = []
    for r in rows:
        d = r.detail or {}
        lines = diff(d.get("before"), d.get("after")) if ("before" in d or "after" in d) else []
        if r.action == "review":
            lines = [("reviewed", d.get("lang", ""), "", "")]
        if r.action == "unreview":
            lines = [("back to draft", d.get("lang", ""), "", "")]
        note = d.get("into", "") if r.action == "merged" else d.get("absorbed", {}).get("id", "") \
            if r.action == "merge" else ""
        revertible = r.action in REVERTIBLE and ("after" in d or r.action == "review")
        out.append(Change(r.id, r.at, r.actor, names.get(r.actor, r.actor), r.action, lines, revertible, note,
                          d.get("version")))
    return out


# -- helpers for changes ---------------------------------------------------------

def _components(snap: dict | None, ordered: bool = False) -> dict[tuple, object]:
    """A snapshot cut into the parts a revert can put back one by one
    (terms sorted to compare them; ``ordered``: as stored, to restore them)."""
    if not snap:
        return {}
    out: dict[tuple, object] = {(k,): snap[k] for k in ("category", "equipment", "source", "notes")}
    for lang in LANGS:
        terms = [list(t) for t in snap["terms"] if t[0] == lang]
        out[("terms", lang)] = terms if ordered else sorted(terms)
        out[("definition", lang)] = snap["definitions"].get(lang, "")
    return out


def _from_components(base: dict, parts: dict[tuple, object]) -> Concept:
    snap = dict(base)
    for key in ("category", "equipment", "source", "notes"):
        snap[key] = parts[(key,)]
    snap["terms"] = [list(t) for lang in LANGS for t in parts[("terms", lang)]]
    snap["definitions"] = {lang: parts[("definition", lang)] for lang in LANGS if parts[("definition", lang)]}
    return gstore.concept_from_snapshot(snap)


def _by_type(terms):
    order = {t: i for i, t in enumerate(TERM_TYPES)}
    return sorted(terms, key=lambda t: order.get(t[2], 9))


def _clean_text(value, limit: int, what: str) -> str:
    value = scrub(value or "").replace("\r\n", "\n").strip()
    value = "".join(ch for ch in value if ch in "\n\t" or ch.isprintable() or ch == " ")
    if len(value) > limit:
        raise EditError("{what} is longer than {limit} characters.", what=what, limit=limit)
    return value


_ZERO_WIDTH = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def clean_term(text) -> str:
    """A term as typed: no zero-width or bidi marks, no control characters,
    inner spaces collapsed (zero-width joiners would make two terms that
    look the same and never match a search)."""
    text = _ZERO_WIDTH.sub("", scrub(text or ""))
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    if len(text) > MAX_TERM_CHARS:
        raise EditError("A term is longer than {limit} characters.", limit=MAX_TERM_CHARS)
    if "|" in text:
        raise EditError("A term may not contain '|'.")
    return text


def make_term(lang: str, text, type_: str, pos: str | None = None, gender: str | None = None) -> Term | None:
    """A term from form fields (None: the row was left empty); bad values refused."""
    text = clean_term(text)
    if not text:
        return None
    if lang not in LANGS:
        raise EditError("Unknown language.")
    if type_ not in TERM_TYPES:
        raise EditError("Unknown term type.")
    pos = pos or None
    if pos is not None and pos not in PARTS_OF_SPEECH:
        raise EditError("Unknown part of speech.")
    gender = gender or None
    if gender is not None and (gender not in GENDERS or lang not in GENDERED_LANGS):
        raise EditError("Only French terms have a gender here.")
    return Term(lang, text, type_, pos, gender)


def _check_terms(terms: list[Term]) -> None:
    """One language's terms."""
    if len({t.text for t in terms}) != len(terms):
        raise EditError("The same term is listed twice.")
    if terms and sum(t.type == "preferred" for t in terms) != 1:
        raise EditError("A language needs exactly one preferred term (or no term at all).")


def _validated(concept: Concept) -> Concept:
    try:
        validate_concept(concept)
    except GlossaryError as exc:
        raise EditError("This concept cannot be stored: {reason}", reason=str(exc)) from None
    return concept


def _load(db, concept_id: str) -> Concept:
    concept = get(db, concept_id)
    if concept is None:
        raise EditError("No such concept.")
    return concept


def _check_version(db, concept: Concept, base: int | None) -> None:
    if base is not None and concept.version != base:
        # The other person's changes: the rows after the last one that
        # wrote a version the form had already seen.
        since = []
        for change in changes(db, concept.id, 50):
            if change.action in ("review", "unreview", "merged"):
                continue  # no change of content
            if change.action == "create" or change.version is not None and change.version <= base:
                break
            since.append(change)
        raise Conflict(concept, base, since)


def _head(concept: Concept) -> str:
    for lang in ("en", *LANGS):
        term = concept.preferred(lang)
        if term:
            return term.text
    return concept.id


def _proposal_text(action: str, before: Concept | None, after: Concept) -> str:
    lines = [f"[{action}] {after.id}"]
    for what, lang, old, new in diff(gstore.concept_snapshot(before) if before else None,
                                     gstore.concept_snapshot(after)):
        lines.append(f"{what} {lang}: {old} → {new}".replace("  ", " "))
    return "\n".join(lines)[:suggestions.MAX_PROPOSAL]


def _commit(db, editor: Editor, action: str, before: Concept | None, after: Concept, *,
            base: int | None, lang: str | None = None, extra: dict | None = None,
            proposal: int | None = None) -> Outcome:
    """Apply (a lead, an admin, the CLI) or propose (a trainer) one change."""
    if not editor.can("trainer"):
        raise NotAllowed("Your role cannot change the glossary.")
    if before is not None:
        _check_version(db, before, base)
    _validated(after)
    if before is not None and before.key() == after.key():
        raise EditError("Nothing was changed.")
    if not editor.can("lead"):
        if editor.user_id is None:
            raise NotAllowed("Your role cannot change the glossary.")
        try:
            sid = suggestions.add(db, _head(before or after), _proposal_text(action, before, after), editor.user_id)
        except suggestions.SuggestionError as exc:
            raise EditError("This proposal cannot be stored: {reason}", reason=str(exc)) from None
        db.execute("INSERT INTO glossary_proposal (suggestion_id, concept_id, action, lang, base_version, after) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   [sid, after.id, action, lang, before.version if before else None,
                    json.dumps(gstore.concept_snapshot(after), ensure_ascii=False)])
        return Outcome(False, after.id, suggestion=sid)
    version = gstore.save_concept(db, after)
    audit(db, editor.tag, action, "concept", after.id,
          {"before": gstore.concept_snapshot(before) if before else None,
           "after": gstore.concept_snapshot(after), "version": version, **({"lang": lang} if lang else {}),
           **(extra or {})})
    if proposal is not None:
        _close_proposal(db, editor, proposal)
    return Outcome(True, after.id, version)


def _close_proposal(db, editor: Editor, proposal: int) -> None:
    """A lead applied a trainer's proposal (as proposed, or corrected): the
    suggestion is approved in the same write."""
    current = suggestions.get(db, proposal)
    if current is not None and current.status == "pending" and editor.user_id is not None:
        suggestions.decide(db, proposal, editor.user_id, approve=True)


# -- changes -------------------------------------------------------------------

def edit_language(db, editor: Editor, concept_id: str, base: int | None, lang: str, terms: list[Term],
                  definition: str | None = None, proposal: int | None = None) -> Outcome:
    """Replace one language's terms (and its definition, unless None)."""
    if lang not in LANGS:
        raise EditError("Unknown language.")
    before = _load(db, concept_id)
    terms = [t for t in terms if t is not None]
    if any(t.lang != lang for t in terms):
        raise EditError("Unknown language.")
    _check_terms(terms)
    after = replace(before, terms=[t for t in before.terms if t.lang != lang] + terms,
                    definitions=dict(before.definitions))
    if definition is not None:
        definition = _clean_text(definition, MAX_TEXT_CHARS, "definition")
        if definition:
            after.definitions[lang] = definition
        else:
            after.definitions.pop(lang, None)
    if not after.terms:
        raise EditError("A concept needs at least one term.")
    return _commit(db, editor, "edit", before, after, base=base, lang=lang, proposal=proposal)


def edit_general(db, editor: Editor, concept_id: str, base: int | None, *, category: str | None = None,
                 equipment: bool | None = None, source: str | None = None, notes: str | None = None,
                 proposal: int | None = None) -> Outcome:
    """Category, equipment flag, source and notes (None: unchanged)."""
    before = _load(db, concept_id)
    after = replace(before, terms=list(before.terms), definitions=dict(before.definitions))
    if category is not None:
        if category not in CATEGORIES:
            raise EditError("Unknown category.")
        after.category = category
    if equipment is not None:
        after.equipment = bool(equipment)
    if source is not None:
        after.source = _clean_text(source, MAX_TEXT_CHARS, "source")
    if notes is not None:
        after.notes = _clean_text(notes, MAX_TEXT_CHARS, "notes")
    return _commit(db, editor, "edit", before, after, base=base, proposal=proposal)


_ID_RE = re.compile(r"[^a-z0-9]+")


def new_id(db, terms: list[Term]) -> str:
    """An id for a new concept from its English (else any Latin) preferred term."""
    base = ""
    for term in sorted(terms, key=lambda t: (t.lang != "en", t.type != "preferred")):
        base = _ID_RE.sub("-", term.text.lower()).strip("-")[:48]
        if base and base[0].isalpha() and base.isascii():
            break
        base = ""
    base = base or "concept"
    candidate, n = base, 1
    while gstore.concept_version(db, candidate) is not None or merged_into(db, candidate):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def add_concept(db, editor: Editor, terms: list[Term], *, concept_id: str = "", category: str = "general",
                equipment: bool = False, definitions: dict[str, str] | None = None, source: str = "",
                notes: str = "", proposal: int | None = None) -> Outcome:
    terms = [t for t in terms if t is not None]
    if not terms:
        raise EditError("A concept needs at least one term.")
    for lang in LANGS:
        _check_terms([t for t in terms if t.lang == lang])
    if category not in CATEGORIES:
        raise EditError("Unknown category.")
    concept_id = (concept_id or "").strip()
    if concept_id:
        if gstore.concept_version(db, concept_id) is not None:
            raise EditError("A concept with this id already exists.")
    else:
        concept_id = new_id(db, terms)
    defs = {lang: _clean_text(text, MAX_TEXT_CHARS, "definition") for lang, text in (definitions or {}).items()
            if lang in LANGS}
    after = Concept(id=concept_id, category=category, equipment=bool(equipment),
                    source=_clean_text(source, MAX_TEXT_CHARS, "source"),
                    notes=_clean_text(notes, MAX_TEXT_CHARS, "notes"), terms=terms,
                    definitions={k: v for k, v in defs.items() if v})
    return _commit(db, editor, "create", None, after, base=None, proposal=proposal)


def deprecate(db, editor: Editor, concept_id: str, base: int | None, lang: str, text: str) -> Outcome:
    """Mark a term deprecated: it stays findable, and the card says which
    term to use instead. A preferred term hands its place to the first
    admitted term of its language (there must be one)."""
    before = _load(db, concept_id)
    terms = list(before.terms)
    index = next((i for i, t in enumerate(terms) if t.lang == lang and t.text == text), None)
    if index is None:
        raise EditError("No such term in this concept.")
    if terms[index].type == "deprecated":
        raise EditError("This term is already deprecated.")
    if terms[index].type == "preferred":
        heir = next((i for i, t in enumerate(terms) if t.lang == lang and t.type == "admitted"), None)
        if heir is None:
            raise EditError("Add the term to use instead (as an admitted term) before deprecating the preferred one.")
        terms[heir] = replace(terms[heir], type="preferred")
    terms[index] = replace(terms[index], type="deprecated")
    after = replace(before, terms=terms, definitions=dict(before.definitions))
    return _commit(db, editor, "deprecate", before, after, base=base, lang=lang)


def merge(db, editor: Editor, target_id: str, base: int | None, absorbed_id: str) -> Outcome:
    """Merge ``absorbed`` into ``target``: its terms join the target (its
    preferred terms as admitted where the target has one), definitions fill
    the target's gaps, fixes about it move to the target, and it is deleted
    (its page then points to the target). Leads and admins only."""
    if not editor.can("lead"):
        raise NotAllowed("Only a lead or an admin can do this.")
    absorbed_id = (absorbed_id or "").strip()
    if absorbed_id == target_id:
        raise EditError("A concept cannot be merged with itself.")
    target, absorbed = _load(db, target_id), _load(db, absorbed_id)
    _check_version(db, target, base)
    have = {(t.lang, t.text) for t in target.terms}
    terms = list(target.terms)
    for t in absorbed.terms:
        if (t.lang, t.text) in have:
            continue
        if t.type == "preferred" and target.preferred(t.lang) is not None:
            t = replace(t, type="admitted")
        terms.append(t)
    definitions = {**absorbed.definitions, **{k: v for k, v in target.definitions.items() if v}}
    notes = target.notes
    if absorbed.notes:
        notes = (notes + "\n" if notes else "") + f"[{absorbed.id}] {absorbed.notes}"
    after = replace(target, terms=terms, definitions=definitions, notes=notes[:MAX_TEXT_CHARS],
                    equipment=target.equipment or absorbed.equipment, source=target.source or absorbed.source)
    moved = [r[0] for r in db.execute("SELECT id FROM fix WHERE equipment = ?", [absorbed.id])]
    db.execute("UPDATE fix SET equipment = ? WHERE equipment = ?", [target.id, absorbed.id])
    db.execute("UPDATE OR IGNORE fix_concept SET concept_id = ? WHERE concept_id = ?", [target.id, absorbed.id])
    db.execute("DELETE FROM fix_concept WHERE concept_id = ?", [absorbed.id])
    gstore.remove_concept(db, absorbed.id)
    audit(db, editor.tag, "merged", "concept", absorbed.id,
          {"into": target.id, "before": gstore.concept_snapshot(absorbed)})
    return _commit(db, editor, "merge", target, after, base=None,
                   extra={"absorbed": gstore.concept_snapshot(absorbed), "moved_fixes": moved})


def review(db, editor: Editor, concept_id: str, lang: str, base: int | None = None) -> bool:
    """A speaker of ``lang`` marks it reviewed on this concept. False: it
    already was. Trainers, leads and admins who speak it may. ``base``: the
    version the reviewer read; a concept changed since is a Conflict (they
    would be approving text they have not seen)."""
    if not editor.can("trainer"):
        raise NotAllowed("Your role cannot change the glossary.")
    if lang not in LANGS:
        raise EditError("Unknown language.")
    if lang not in editor.langs:
        raise NotAllowed("Only a speaker of this language can mark it reviewed.")
    concept = _load(db, concept_id)
    _check_version(db, concept, base)
    if not concept.terms_in(lang):
        raise EditError("This concept has no term in this language yet.")
    return gstore.set_reviewed(db, concept_id, lang, editor.tag)


def revert(db, editor: Editor, concept_id: str, change_id: int) -> Outcome:
    """Undo one change of the concept's history. Only the parts that change
    touched are put back, and only if nothing changed them since (else a
    Conflict says so): reverting an old edit of the Malay terms leaves a
    later French edit alone."""
    if not editor.can("lead"):
        raise NotAllowed("Only a lead or an admin can do this.")
    row = db.execute("SELECT action, detail FROM audit WHERE id = ? AND entity = 'concept' AND entity_id = ?",
                     [change_id, concept_id]).fetchone()
    if row is None:
        raise EditError("No such change.")
    action, detail = row[0], json.loads(row[1]) if row[1] else {}
    if action == "review":
        lang = detail.get("lang")
        if not db.execute("DELETE FROM concept_review WHERE concept_id = ? AND lang = ?",
                          [concept_id, lang]).rowcount:
            raise EditError("Nothing was changed.")
        audit(db, editor.tag, "unreview", "concept", concept_id, {"lang": lang, "reverts": change_id})
        return Outcome(True, concept_id, gstore.concept_version(db, concept_id))
    if action not in REVERTIBLE or "after" not in detail:
        raise EditError("This change cannot be reverted here: no earlier state was recorded.")
    current = get(db, concept_id)
    now = _components(gstore.concept_snapshot(current)) if current else {}
    before, after = _components(detail.get("before")), _components(detail["after"])
    touched = [k for k in after.keys() | before.keys() if before.get(k) != after.get(k)]
    clash = [k for k in touched if now.get(k) != after.get(k) and now.get(k) != before.get(k)]
    if current is None:
        raise EditError("No such concept.")
    if clash:
        raise Conflict(current, current.version, [c for c in changes(db, concept_id, 50) if c.id > change_id],
                       Conflict.LATER)
    if not detail.get("before"):  # a creation: reverting it removes the concept
        gstore.remove_concept(db, concept_id)
        audit(db, editor.tag, "delete", "concept", concept_id,
              {"before": gstore.concept_snapshot(current), "reverts": change_id})
        return Outcome(True, concept_id, deleted=True)
    parts = _components(gstore.concept_snapshot(current), ordered=True)
    restore = _components(detail.get("before"), ordered=True)
    for k in touched:
        parts[k] = restore[k]
    restored = _from_components(gstore.concept_snapshot(current), parts)
    if action == "merge" and detail.get("absorbed"):
        absorbed = gstore.concept_from_snapshot(detail["absorbed"])
        if gstore.concept_version(db, absorbed.id) is not None:
            raise EditError("A concept with this id already exists.")
        gstore.save_concept(db, _validated(absorbed))
        for fix_id in detail.get("moved_fixes", []):
            db.execute("UPDATE fix SET equipment = ? WHERE id = ? AND equipment = ?",
                       [absorbed.id, fix_id, concept_id])
        audit(db, editor.tag, "unmerge", "concept", absorbed.id, {"from": concept_id, "reverts": change_id})
    return _commit(db, editor, "revert", current, restored, base=None, extra={"reverts": change_id})


# -- proposals (a trainer's change, waiting) -------------------------------------

@dataclass
class Proposal:
    suggestion: suggestions.Suggestion
    concept_id: str | None = None
    action: str | None = None
    lang: str | None = None
    base_version: int | None = None
    after: Concept | None = None
    extra: dict = field(default_factory=dict)


def proposal(db, suggestion_id: int) -> Proposal | None:
    s = suggestions.get(db, suggestion_id)
    if s is None:
        return None
    row = db.execute("SELECT concept_id, action, lang, base_version, after FROM glossary_proposal "
                     "WHERE suggestion_id = ?", [suggestion_id]).fetchone()
    if row is None:
        return Proposal(s)
    return Proposal(s, row[0], row[1], row[2], row[3], gstore.concept_from_snapshot(json.loads(row[4])))


def pending_proposals(db, limit: int = MAX_LIST) -> list[Proposal]:
    """The pending suggestions, each with its structured change when it has one."""
    return [proposal(db, s.id) for s in suggestions.list_pending(db, limit)]


def missing_terms(db, limit: int = MAX_LIST) -> list[tuple[str, int, str]]:
    """Lookups that found nothing, most asked first: (query, times, last asked)."""
    return gstore.missing_queries(db, limit)


def review_counts(db) -> dict[str, dict[str, int]]:
    """Review progress per language, for the dashboard:
    {lang: {"concepts": with a term in it, "reviewed": n, "draft": n}}."""
    return gstore.review_progress(db)

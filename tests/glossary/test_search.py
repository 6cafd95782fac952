"""Search: every way a person finds a concept, and hostile input."""

import dataclasses
import json

import pytest
from hypothesis import given, strategies as st

from glossary import Glossary, store as glossary_store
from glossary.model import MAX_TERM_CHARS
from glossary.normalize import is_han, normalize, script_of
from glossary.search import MAX_QUERY_CHARS, SearchResult, _Proposals, _results, search
from tests.conftest import concept


def _add(storage, *concepts):
    storage.write(glossary_store.upsert_concepts, list(concepts), "tests")


def best(glossary, query, **kw):
    results = glossary.search(query, **kw)
    return (results[0].concept.id, results[0].reason) if results else None


@pytest.mark.parametrize("query, concept, reason", [
    ("coater", "coater", "exact"),
    ("enduiseuse", "coater", "exact"),
    ("涂布机", "coater", "exact"),
    ("코터", "coater", "exact"),
    ("mesin salutan", "coater", "exact"),
    ("CALANDRAGE", "calendering", "normalized"),
    ("calandrage", "calendering", "exact"),
    ("ｃｏａｔｅｒ", "coater", "normalized"),
    ("Électrolyte", "electrolyte", "normalized"),
    ("塗佈機", "coater", "traditional"),
    ("tubuji", "coater", "pinyin"),
    ("tú bù jī", "coater", "pinyin"),
    ("tu2bu4ji1", "coater", "pinyin"),
    ("tbj", "coater", "pinyin-initials"),
    ("涂步机", "coater", "homophone"),
    ("전해약", "electrolyte", "fuzzy-jamo"),
    ("calendring", "calendering", "fuzzy"),
    ("enduisseuse", "coater", "fuzzy"),
    ("ocv", "ocv", "abbreviation"),
    ("OCV", "ocv", "exact"),
    ("AGV", "agv", "exact"),
    ("hmi", "hmi", "abbreviation"),
    ("IHM", "hmi", "exact"),
    ("estop", "emergency-stop", "abbreviation"),
    ("calend", "calendering", "prefix"),
    ("guid", "agv", "substring"),
])
def test_finds(small, query, concept, reason):
    assert best(small, query) == (concept, reason)


def test_one_and_two_character_cjk_queries(small):
    # FTS5 trigram cannot see these: they go through instr() on the base table.
    ids = [r.concept.id for r in small.search("涂布")]
    assert ids[:2] == ["coating", "coater"]
    assert {r.concept.id for r in small.search("极")} == {"tab", "positive-tab"}
    assert [r.concept.id for r in small.search("탭")] == ["tab", "positive-tab"]
    assert "coater" in [r.concept.id for r in small.search("코")]


def test_deprecated_term_finds_the_concept_and_says_so(small):
    result = small.search("calendaring")[0]
    assert result.concept.id == "calendering"
    assert result.matched.type == "deprecated"
    assert result.concept.preferred("en").text == "calendering"


def test_lang_restricts_matching(small):
    assert best(small, "tab", lang="en") == ("tab", "exact")
    assert small.search("tab", lang="fr") == []
    assert small.search("coater", lang="zh") == []
    assert best(small, "tubuji", lang="zh") == ("coater", "pinyin")
    with pytest.raises(ValueError):
        small.search("tab", lang="de")


def test_results_carry_every_language(small):
    result = small.search("enduiseuse")[0]
    data = result.to_json()
    assert data["concept_id"] == "coater"
    assert [t["text"] for t in data["terms"]["ko"]] == ["코터", "코팅기"]
    assert data["definitions"]["en"] == "Machine that coats foil."


@pytest.mark.parametrize("query", [
    "", "   ", "\u200b\u200c", '"', '""', "AND", "NEAR(", "NEAR(a b)", "col:x", "term_fts:coater",
    "coater OR tab", "*", "^tab", "<b>tab</b>", "&amp;", "a" * 10_000, "涂" * 5000,
    "\x00\x01", "\ud800", "🔥🔥", "' OR 1=1 --", "%", "_", "\\",
])
def test_hostile_queries_never_raise(small, query):
    results = small.search(query)
    assert isinstance(results, list)


def test_lookup_gives_the_key_of_the_best_match_or_the_nearest(small):
    found = small.lookup("enduiseuse")
    assert [r.concept.id for r in found.results][:1] == ["coater"] and found.nearest == []
    assert small.concept_by_key(found.key).id == "coater"
    missing = small.lookup("coaterz machine qqq")
    assert missing.results == [] and missing.key is None
    assert "coater" in [c.id for c in missing.nearest]
    for hostile in ("", "\u200b", '"AND NEAR(', "<b>x</b>", "\ud800", "涂" * 5000):
        found = small.lookup(hostile)
        assert (found.key is not None) == bool(found.results)


def test_sql_wildcards_are_not_wildcards(small):
    assert small.search("%") == []
    assert small.search("_") == []


def _chars_of(text):
    return {c for c in normalize(text) if c.isalnum()}


@given(st.text(max_size=60))
def test_no_wrong_language_garbage(small, query):
    """Whatever the input, each result shares script with the query, or is a
    pinyin match of a Latin query: never, say, a Korean term for Arabic text."""
    q = normalize(query)
    for result in small.search(query):
        term = normalize(result.matched.text)
        if result.reason in ("pinyin", "pinyin-initials"):
            assert script_of(q) == "latin" and result.matched.lang == "zh"
        elif result.reason == "homophone":
            assert any(is_han(c) for c in q) and result.matched.lang == "zh"
        elif result.reason.startswith("fuzzy"):
            assert script_of(term) == script_of(q)
        else:
            # exact, prefix, substring: the query's letters are in the term
            assert _chars_of(q) <= _chars_of(term) | {c for c in q if not c.isalnum()}


@given(st.text(alphabet=st.sampled_from('"*^():ANDORNEAR col-+%_ 涂布机코터\u200b<>&'), max_size=40))
def test_fts_syntax_never_raises(small, query):
    """FTS and LIKE syntax is text: no error, and what comes back is a
    well-formed answer about the glossary's own terms."""
    results = small.search(query)
    assert isinstance(results, list)
    assert all(isinstance(r, SearchResult) for r in results)
    ids = [r.concept.id for r in results]
    assert len(ids) == len(set(ids))  # one result per concept
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    for r in results:
        assert 0 < r.score <= 100
        assert r.matched in r.concept.terms  # the matched term is the concept's own
    if not any(c.isalnum() for c in query):  # nothing but syntax: nothing found
        assert results == []
    assert [r.concept.id for r in small.search(query)] == ids  # the same answer again


def test_seed_glossary_is_searchable(storage):
    from glossary import Glossary

    g = Glossary(storage.conn)
    for query in ("OCV", "AGV", "HMI", "PLC", "涂布机", "calandrage", "coater"):
        assert g.search(query), query


@pytest.mark.parametrize("query, lang, expected", [
    # (concept, score, reason, matched term) of the best results: the
    # scores of the module docstring's table, pinned
    ("tubuji", None, [("coater", 92, "pinyin", "涂布机")]),
    ("tbj", None, [("coater", 85, "pinyin-initials", "涂布机")]),
    ("tb", None, [("coating", 72, "pinyin-initials", "涂布")]),  # two initials: a weak hint
    ("tubu", None, [("coating", 92, "pinyin", "涂布"), ("coater", 74, "pinyin", "涂布机")]),
    ("图布机", None, [("coater", 88, "homophone", "涂布机")]),
    ("塗佈機", None, [("coater", 97, "traditional", "涂布机")]),
    ("calendaring", None, [("calendering", 98, "exact", "calendaring")]),  # deprecated: 2 less
    ("calendering", None, [("calendering", 100, "exact", "calendering")]),
    ("OCV", None, [("ocv", 100, "exact", "OCV")]),
    ("ocv", None, [("ocv", 99, "abbreviation", "OCV")]),
    ("estop", None, [("emergency-stop", 99, "abbreviation", "E-stop")]),
    ("coat", None, [("coater", 83.33, "prefix", "coater"), ("coating", 81.43, "prefix", "coating")]),
    ("oater", None, [("coater", 71.67, "substring", "coater")]),
    ("coater", "fr", [("coater", 100, "exact", "coater")]),  # fr admits "coater"
    ("coater", "ko", []),
    ("x" * 120, None, []),
])
def test_scores_and_reasons(small, query, lang, expected):
    got = [(r.concept.id, round(r.score, 2), r.reason, r.matched.text)
           for r in small.search(query, lang=lang)][:len(expected) or None]
    assert got == expected


def test_language_filter_and_limit(small):
    assert {r.matched.lang for r in small.search("c", lang="en")} <= {"en"}
    assert [r.matched.lang for r in small.search("coater", lang="fr")] == ["fr"]
    assert [r.matched.text for r in small.search("enduiseuse", lang="fr")] == ["enduiseuse"]
    assert small.search("enduiseuse", lang="en") == []
    assert len(small.search("a", limit=3)) <= 3
    with pytest.raises(ValueError, match="unknown language 'de' \\(one of: zh, ko, ms, fr, en\\)"):
        small.search("x", lang="de")


def test_deprecated_terms_rank_after_an_approved_one(small, empty_storage):
    """Two concepts found by the same text: the one where it is approved first."""
    _add(empty_storage, concept("old-roller", category="general", en="roller|press roll*dep"),
         concept("press-roll", category="general", en="press roll"))
    [first, second] = small.search("press roll")[:2]
    assert (first.concept.id, first.score, second.concept.id, second.score) == (
        "press-roll", 100, "old-roller", 98)


def test_result_json(small):
    [result] = small.search("tubuji")
    data = result.to_json()
    assert data["concept_id"] == "coater" and data["score"] == 92 and data["reason"] == "pinyin"
    assert data["matched"] == {"lang": "zh", "text": "涂布机", "type": "preferred"}
    assert data["category"] == "electrode" and data["equipment"] is True and data["status"] == "draft"
    assert data["terms"]["zh"] == [{"text": "涂布机", "type": "preferred", "pos": "noun"},
                                   {"text": "涂覆机", "type": "admitted", "pos": "noun"}]
    assert data["terms"]["en"][0] == {"text": "coater", "type": "preferred", "pos": "noun"}
    assert set(data["terms"]) == {"zh", "ko", "ms", "fr", "en"}
    assert data["definitions"] == {"en": "Machine that coats foil."}
    assert json.dumps(data, ensure_ascii=False)  # serialisable as it is


def test_result_json_says_who_reviewed_each_language(small, empty_storage):
    empty_storage.write(glossary_store.set_reviewed, "coater", "fr", "tg:2")
    bare = concept("nip-roller", category="general", en="nip roller")
    bare = dataclasses.replace(bare, terms=[dataclasses.replace(t, pos=None) for t in bare.terms])
    _add(empty_storage, bare)
    data = small.search("coater")[0].to_json()
    at = empty_storage.read(lambda db: db.execute(
        "SELECT reviewed_at FROM concept_review WHERE concept_id = 'coater'").fetchone()[0])
    assert data["review"] == {"zh": {"state": "draft"}, "ko": {"state": "draft"}, "ms": {"state": "draft"},
                              "fr": {"state": "reviewed", "by": "tg:2", "at": at}, "en": {"state": "draft"}}
    assert small.search("calendring")[0].to_json()["score"] == 77.3  # 77.2727...: one decimal
    assert small.search("nip roller")[0].to_json()["terms"]["en"] == [{"text": "nip roller", "type": "preferred"}]


def test_search_bounds_and_filters_of_each_step(small):
    assert small.search(None) == [] and small.search(42) == []
    # A raw query up to 4 x MAX_QUERY_CHARS is normalised (spaces fold away); longer is refused.
    padded = " " * (4 * MAX_QUERY_CHARS - len("coater")) + "coater"
    assert best(small, padded) == ("coater", "exact") and small.search(" " + padded) == []
    assert best(small, "oat") == ("coater", "substring")  # three letters: the trigram step
    assert best(small, "e stop") == ("emergency-stop", "abbreviation")  # separators folded away
    assert best(small, "calendring", lang="en") == ("calendering", "fuzzy")  # typos honour the language
    assert small.search("calendring", lang="zh") == []
    assert [r.concept.id for r in small.search("c", limit=2)] == ["coater", "coating"]
    [coater] = small.search("coater")  # also the French admitted term: the preferred one is shown
    assert (coater.matched.lang, coater.matched.type, coater.score) == ("en", "preferred", 100)


def test_search_edges_of_each_step(small, empty_storage):
    """The edges the ranking rests on: a term of the longest length, a quote
    inside the FTS phrase, a substring at exactly the typo threshold, a page
    filled by prefix matches, the default page size."""
    assert MAX_TERM_CHARS == MAX_QUERY_CHARS  # so the longest term can be searched as it is
    longest = "x" * (MAX_TERM_CHARS - len(" roller")) + " roller"
    _add(empty_storage,
         concept("longest", category="general", en=longest),
         concept("wafer-12", category="general", en='12" wafer'),
         concept("a-roller", category="general", en="a roller"),
         concept("roler", category="general", fr="roler"),
         concept("grand-roller", category="general", fr="un grand roller"),
         concept("long-coating-1", category="general", en="coating roller " + "a" * 105),
         concept("long-coating-2", category="general", en="coating roller " + "b" * 105),
         concept("short-coating", category="general", en="a coating roller"))
    assert best(small, longest) == ("longest", "exact")  # exactly MAX_QUERY_CHARS long
    # The query's own quote is doubled inside the FTS phrase, not lost.
    assert best(small, '2" wafer') == ("wafer-12", "substring")
    # A substring at 70 (55 + 20 x 6/8) is good enough: no typo step, so
    # "roler" (one letter away) is not proposed beside it.
    assert [(r.concept.id, r.score) for r in small.search("roller", lang=None)
            if r.concept.id in ("a-roller", "roler")] == [("a-roller", 70)]
    # Below 70 (55 + 20 x 6/15 in French) the typo step does run.
    assert [r.concept.id for r in small.search("roller", lang="fr")] == ["roler", "grand-roller"]
    # Two prefix matches fill a page of two: substrings are not even looked
    # for, although "a coating roller" (72.5) would outrank both (72.3).
    assert [r.concept.id for r in small.search("coating roller", limit=2)] == [
        "long-coating-1", "long-coating-2"]
    assert [r.concept.id for r in small.search("coating roller", limit=3)] == [
        "short-coating", "long-coating-1", "long-coating-2"]
    # A Simplified query that matches once its spaces fold away is "normalized", not "traditional".
    assert best(small, "涂 布 机") == ("coater", "normalized")
    # The function's own default page is ten.
    _add(empty_storage, *[concept(f"press-{i:02}", category="general", en=f"press {i:02}") for i in range(12)])
    assert len(search(empty_storage.conn(), small.index(), "press")) == 10


def test_language_filter_applies_before_the_candidate_limit(small, empty_storage):
    """More than 200 shorter English terms start with the query: the French
    one is still found when the search is restricted to French."""
    _add(empty_storage, *[concept(f"valve-{i:03}", category="general", en=f"valve {i:03}") for i in range(201)],
         concept("valve-fr", category="general", fr="valve de régulation"))
    assert [r.concept.id for r in small.search("valve", lang="fr")] == ["valve-fr"]


def test_ties_show_the_better_term_and_keep_a_stable_order(small, empty_storage):
    """Equal scores: within a concept the preferred term beats an admitted one
    found later; between concepts the order is by concept id, not by which
    was stored first."""
    _add(empty_storage, concept("nip", category="general", en="nip roll", fr="rouleau pinceur|nip roll"),
         concept("b-guide", category="general", en="guide roll"),
         concept("a-guide", category="general", en="guide roll"))
    [nip] = small.search("nip roll")
    assert (nip.matched.lang, nip.matched.type, nip.score) == ("en", "preferred", 100)
    assert [r.concept.id for r in small.search("guide roll")] == ["a-guide", "b-guide"]


@pytest.mark.parametrize("spellings, shown", [("E stop|E-stop", "E stop"), ("E-stop|E stop", "E-stop")])
def test_a_tie_within_a_concept_shows_the_term_listed_first(empty_storage, spellings, shown):
    """Two admitted terms found at the same score: the one the concept lists
    first (the lower id) is shown, in either order of listing, not whichever
    SQLite happened to read first."""
    _add(empty_storage, concept("estop", category="general", en=f"emergency stop|{spellings}"))
    [hit] = Glossary(empty_storage.conn).search("e stop")
    assert (hit.matched.text, hit.matched.type, hit.score) == (shown, "admitted", 97)


def test_a_term_gone_between_the_reads_is_left_out(empty_storage):
    """The search reads the terms, then the concepts and the terms it chose:
    a term removed in between (an edit in the console) drops out of the
    answer instead of raising."""
    _add(empty_storage, concept("nip", category="general", en="nip roll"))
    found = _Proposals(None)
    found.add("nip", 10**9, "en", "preferred", 100, "exact")  # no such term (any more)
    assert _results(empty_storage.conn(), found, 10) == []

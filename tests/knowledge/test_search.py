"""Fix search (bot/knowledge/search.py) in detail: the query's codes, words
and tokens, each signal's points as the table at the top of the module
gives them, the ranking, cards, approval without an engine, statistics."""

from __future__ import annotations

import pytest

from bot.knowledge import fixes as fx
from bot.knowledge import search as ks
from glossary import store as glossary_store
from glossary.normalize import normalize
from tests.conftest import concept
from tests.translation.test_engine import make_engine
from tests.knowledge.test_fixes import (LEAD, OPERATOR, TRAINER, TRAINER2, approved, draft, flush,  # noqa: F401
                                        kb, st_)


# -- the query -----------------------------------------------------------------

def test_wilson():
    assert ks.wilson(0, 0) == 0.0
    assert ks.wilson(2, 0) == pytest.approx(0.342372, abs=1e-6)
    assert ks.wilson(40, 5) == pytest.approx(0.765006, abs=1e-6)
    assert ks.wilson(1, 1) == pytest.approx(0.094529, abs=1e-6)
    assert ks.wilson(0, 3) == pytest.approx(0.0, abs=1e-12)
    assert ks.wilson(5, 0, z=1.0) == pytest.approx(5 / 6)
    assert ks.wilson(2, 0) < ks.wilson(40, 5)  # two of two weigh less than 40 of 45


@pytest.mark.parametrize("query, codes", [
    ("E203", ["E203"]), ("e-203 E_203 e.203 e/203 E 203", ["E203"]), ("E203报警", ["E203"]),
    ("alarm x12, 4051", ["X12", "4051"]), ("then 4051", ["THEN4051"]), ("err.12 ab_7 e2034b", ["ERR12", "AB7", "E2034B"]),
    ("12 1234567 abcdef123 ab", []), ("203", ["203"]), ("a203b", ["A203B"]),
    ("abc203", ["ABC203"]), ("abcdef203", []), ("e1234567", ["E1234567"]), ("e123456", ["E123456"]),
])
def test_query_codes(query, codes):
    assert ks.query_codes(normalize(query)) == codes


def test_words_and_tokens():
    assert ks._words("e203报警 tension_roll") == ["e203", "报警", "tension", "roll"]
    assert ks._words("코터abc涂布") == ["코터", "abc", "涂布"]
    assert ks.fts_tokens(["ab", "abc", "涂布机张力", "报警", "abc", "x"]) == ["abc", "涂布机", "布机张", "机张力"]
    assert ks.fts_tokens([f"w{i:02d}" for i in range(20)]) == [f"w{i:02d}" for i in range(12)]
    assert ks.fts_tokens(["涂布机"]) == ["涂布机"]
    assert ks._quote('a"b') == '"a""b"' and ks._quote("OR") == '"OR"'


# -- points and reasons --------------------------------------------------------

@pytest.fixture
def three(st_):
    a = approved(st_)  # zh, coater, 涂布机张力报警, E-203
    b = approved(st_, equipment="slitter", symptom="分切机毛刺", codes=["X-1203"], cause="", steps=["换刀"])
    c = approved(st_, original_lang="fr", symptom="Le film se plisse à l'entrée du four", cause="Réglage",
                 steps=["Réduire"], codes=[])
    return a, b, c


@pytest.mark.parametrize("query, expected", [
    ("E203", [(0, 1000.0, ["code:E203"])]),
    ("203", [(0, 300.0, ["code-number:E203"])]),
    ("1203", [(1, 300.0, ["code-number:X1203"])]),
    ("x01203", [(1, 300.0, ["code-number:X1203"])]),
    ("E203 X1203", [(0, 1000.0, ["code:E203"]), (1, 1000.0, ["code:X1203"])]),
    ("enduiseuse", [(0, 60.0, ["equipment:coater"]), (2, 60.0, ["equipment:coater"])]),
    ("plisse", [(2, 40.0, ["text"])]),
    ("E203 enduiseuse alarme", [(0, 1085.0, ["code:E203", "equipment:coater", "mentions:alarm"]),
                                (2, 60.0, ["equipment:coater"])]),
    ("slitter E-203", [(0, 1000.0, ["code:E203"]), (1, 60.0, ["equipment:slitter"])]),
    ("涂布机", [(0, 85.0, ["equipment:coater", "mentions:coating"]), (2, 60.0, ["equipment:coater"])]),
])
def test_points_and_reasons(st_, kb, three, query, expected):
    got = [(r.id, r.score, r.reasons) for r in kb.search(query, "fr")]
    assert got == [(three[i], score, reasons) for i, score, reasons in expected]


def test_text_points_are_relative_to_the_best(st_, kb):
    strong = approved(st_, original_lang="fr", symptom="plisse plisse plisse", cause="", steps=["x"], codes=[])
    weak = approved(st_, original_lang="fr", symptom="Le film se plisse à l'entrée du four après un long arrêt",
                    cause="Réglage du rouleau de tension", steps=["Réduire la vitesse"], codes=[])
    results = kb.search("plisse", "fr")
    assert [r.id for r in results] == [strong, weak]
    assert results[0].score == 40.0 and 0 < results[1].score < 40.0


def test_limit(st_, kb):
    ids = [approved(st_, codes=["E-900"]) for _ in range(4)]
    assert [r.id for r in kb.search("E900", limit=2)] == ids[:2]
    assert [r.id for r in kb.search("E900", limit=4)] == ids
    assert kb.search("E900", limit=0) == [] and kb.search("E900", limit=-1) == []


@pytest.mark.parametrize("query", [None, 42, ["E203"], "", "   ", "\u200b"])
def test_nothing_to_search(st_, kb, query):
    approved(st_)
    assert kb.search(query) == []


def test_languages(st_, kb):
    fix_id = approved(st_)
    assert kb.search("E203", "xx") == [] and kb.search("E203", "ZH") == []
    any_lang = kb.search("E203")[0]
    assert (any_lang.lang, any_lang.in_reader_lang) == ("zh", True)
    assert kb.search("E203", "zh")[0].in_reader_lang
    st_.write(fx.add_machine_texts, fix_id, {"ko": fx.FixText("코터 장력 알람", "", ["정지"], [], "machine")}, LEAD)
    ko = kb.search("E203", "ko")[0]
    assert (ko.lang, ko.kind, ko.symptom, ko.in_reader_lang) == ("ko", "machine", "코터 장력 알람", True)


def test_to_json_rounds_the_score(st_, kb):
    approved(st_, original_lang="fr", symptom="plisse plisse plisse", cause="", steps=["x"], codes=[])
    approved(st_, original_lang="fr", symptom="Le film se plisse à l'entrée du four après un long arrêt",
             cause="", steps=["x"], codes=[])
    weak = kb.search("plisse", "fr")[1]
    data = weak.to_json()
    assert data["score"] == round(weak.score, 1) != weak.score
    assert {k: v for k, v in data.items() if k != "score"} == {
        k: v for k, v in vars(weak).items() if k != "score"}


def test_ranking_by_votes_only_breaks_ties(st_, kb):
    a, b, c = (approved(st_, codes=["E-500"]) for _ in range(3))
    st_.write(fx.feedback, c, OPERATOR, True)
    st_.write(fx.feedback, c, TRAINER, True)
    st_.write(fx.feedback, b, OPERATOR, True)
    st_.write(fx.feedback, b, TRAINER, False)
    assert [r.id for r in kb.search("E500")] == [c, b, a]
    assert [r.id for r in kb.search("E500", limit=1)] == [c]  # the cut still sees the votes
    assert (kb.search("E500")[0].worked, kb.search("E500")[0].failed) == (2, 0)


def test_search_is_logged_scrubbed_with_its_language_and_count(st_, kb):
    approved(st_)
    kb.search("  E203  ", "fr", user=OPERATOR)
    kb.search("nothing", None)
    kb.search("   ")  # nothing to log
    kb.search(None)
    flush(st_)
    rows = st_.conn().execute("SELECT query, norm, lang, results, user_id FROM fix_search ORDER BY id").fetchall()
    assert rows == [("E203", "e203", "fr", 1, f"tg:{OPERATOR}"), ("nothing", "nothing", None, 0, None)]


async def test_async_search_and_card(st_, kb):
    fix_id = approved(st_)
    assert [r.id for r in await kb.asearch("E203", "fr", user=OPERATOR)] == [fix_id]
    card = await kb.aget(fix_id, "fr")
    assert (card.id, card.lang, card.in_reader_lang) == (fix_id, "zh", False)
    assert await kb.aget(9999) is None
    flush(st_)
    assert st_.conn().execute("SELECT user_id FROM fix_search").fetchall() == [(f"tg:{OPERATOR}",)]


def test_a_failed_search_log_is_only_a_warning(caplog):
    from concurrent.futures import Future

    ok, bad = Future(), Future()
    ok.set_result(None)
    bad.set_exception(RuntimeError("disk full"))
    with caplog.at_level("WARNING", logger="bot.knowledge.search"):
        ks._log_failure(ok)
        assert caplog.records == []
        ks._log_failure(bad)
    assert [r.getMessage() for r in caplog.records] == ["could not log a fix search: disk full"]


def test_card_fields(st_, kb):
    fix_id = draft(st_, photos=[{"file_id": "AgAD", "caption": "roller"}])
    card = kb.get(fix_id)
    assert (card.status, card.author, card.sample, card.reject_reason, card.score, card.reasons) == (
        "draft", str(TRAINER), False, None, 0.0, [])
    assert card.photos == [fx.Photo("AgAD", None, "roller")] and card.versions == 1
    assert card.langs == {"zh": "original"} and card.in_reader_lang
    st_.write(fx.submit, fix_id, TRAINER)
    st_.write(fx.reject, fix_id, LEAD, "add the torque")
    assert kb.get(fix_id).reject_reason == "add the torque"


def test_approve_without_an_engine(st_, kb):
    fix_id = draft(st_)
    st_.write(fx.submit, fix_id, TRAINER)
    report = kb.approve(fix_id, LEAD)
    assert report == ks.ApproveReport(True, [], {lang: "no translation engine" for lang in ("ko", "ms", "fr", "en")})
    assert kb.approve(fix_id, LEAD) == ks.ApproveReport(False, [], {"ko": "no translation engine", "ms": "no translation engine", "fr": "no translation engine", "en": "no translation engine"})
    st_.write(fx.add_machine_texts, fix_id, {lang: fx.FixText("s", "", ["x"], [], "machine")
                                             for lang in ("ko", "ms", "fr", "en")}, LEAD)
    assert kb.approve(fix_id, LEAD) == ks.ApproveReport(False, [], {})  # nothing left to translate


async def test_async_approve_without_an_engine(st_, kb):
    fix_id = draft(st_)
    await st_.awrite(fx.submit, fix_id, TRAINER)
    report = await kb.aapprove(fix_id, LEAD)
    assert report.changed and report.translated == [] and sorted(report.missing) == ["en", "fr", "ko", "ms"]


def test_stats(st_, kb):
    a = approved(st_)
    b = approved(st_, equipment="slitter", symptom="分切机毛刺", codes=[], cause="", steps=["换刀"])
    draft(st_)
    st_.write(fx.feedback, a, OPERATOR, True)
    st_.write(fx.feedback, b, OPERATOR, True)
    st_.write(fx.feedback, b, TRAINER, True)
    st_.write(fx.feedback, b, LEAD, False)
    for q in ("E203", "e203", "E203", "zzz", "qqq", "qqq"):
        kb.search(q, "fr")
    flush(st_)
    s = kb.stats()
    assert s.by_status == {"draft": 1, "pending": 0, "approved": 2, "rejected": 0, "archived": 0}
    assert s.top_searches[:2] == [("e203", 3), ("qqq", 2)]  # one row per normalised query
    assert s.top_searches[2] == ("zzz", 1)
    assert s.unanswered == [("qqq", 2), ("zzz", 1)]
    slug = lambda i: st_.read(fx.load_fix, i).slug  # noqa: E731
    assert s.most_useful == [(b, slug(b), 2, 1), (a, slug(a), 1, 0)]
    assert s.equipment_gaps == []
    assert ks.stats(st_.conn(), limit=1).most_useful == [(b, slug(b), 2, 1)]
    st_.write(lambda db: db.execute("DELETE FROM term WHERE concept_id = 'slitter' AND lang IN ('ko', 'en')"))
    assert kb.stats().equipment_gaps == [("slitter", ["ko", "en"])]
    st_.write(lambda db: db.execute("DELETE FROM term WHERE concept_id = 'slitter'"))
    assert kb.stats().equipment_gaps == [("slitter", ["zh", "ko", "ms", "fr", "en"])]


def test_understand(kb):
    assert kb.understand("tubuji") == ({"coater"}, [])  # pinyin: through the glossary's search
    assert kb.understand("zhangli 12 ab xyz") == ({"web-tension"}, ["12", "ab", "xyz"])
    assert kb.understand("enduiseus") == ({"coater"}, [])  # a typo close enough (score 88)
    assert kb.understand("enduiseuses") == (set(), ["enduiseuses"])  # not close enough (77 < 80)
    assert kb.understand("涂布机 报警") == ({"coater", "coating", "alarm"}, [])
    words = " ".join(f"qq{i:02d}" for i in range(14))
    assert kb.understand(words)[1] == [f"qq{i:02d}" for i in range(12)]


def test_at_most_ten_codes_of_a_query(st_, kb):
    fix_id = approved(st_, codes=["E-10"])
    ten = " ".join(f"E{i}" for i in range(1, 11))
    assert [r.id for r in kb.search(ten)] == [fix_id]
    assert kb.search("E0 " + ten) == []  # E10 is the eleventh


def test_at_most_three_unknown_pairs(st_, kb):
    fix_id = approved(st_, original_lang="zh", symptom="注液后漏液", cause="", steps=["停机"], codes=[])
    assert [r.id for r in kb.search("甲乙 丙丁 戊己 漏液")] == []  # the fourth pair is not looked for
    assert [r.id for r in kb.search("甲乙 丙丁 漏液")] == [fix_id]
    assert kb.search("甲乙 丙丁 漏液")[0].score == 20.0 and kb.search("漏液")[0].reasons == ["text"]


def test_pairs_only_when_the_rest_found_too_little(st_, kb):
    a = approved(st_, original_lang="zh", symptom="注液后漏液", cause="", steps=["停机"], codes=["E-77"])
    b = approved(st_, original_lang="zh", symptom="漏液严重", cause="", steps=["停机"], codes=[])
    assert [r.id for r in kb.search("E77 漏液", limit=2)] == [a, b]
    assert [r.id for r in kb.search("E77 漏液", limit=1)] == [a]
    assert kb.search("E77 漏液", limit=1)[0].reasons == ["code:E77"]  # the scan was not needed


def test_the_cut_is_the_rounded_score_of_the_last_result_that_fits(st_):
    # Results 2 and 3 make a cut of two; the lowest id (1) scores least, so
    # a cut read in id order would be 10 and drop result 3.
    assert ks.FixBase._rank(st_.conn(), {1: 1.0, 2: 10.0, 3: 5.0}, 2) == [2, 3]
    # Same rounded score, no votes: the higher exact score first.
    assert ks.FixBase._rank(st_.conn(), {1: 5.2, 2: 5.4}, 2) == [2, 1]


async def test_ten_results_by_default_and_the_limit_asked_for(st_, kb):
    ids = [approved(st_, codes=["E-900"]) for _ in range(11)]
    assert [r.id for r in kb.search("E900")] == ids[:10]
    assert [r.id for r in await kb.asearch("E900")] == ids[:10]
    assert [r.id for r in await kb.asearch("E900", limit=11)] == ids
    assert [r.id for r in await kb.asearch("E900", "fr", 1)] == ids[:1]


def test_statistics_list_ten_of_each_by_default(st_, kb):
    for i in range(12):
        kb.search(f"zz{i:02d}", "fr")
    flush(st_)
    s = kb.stats()
    assert len(s.top_searches) == len(s.unanswered) == 10


def test_approval_translates_each_field_from_the_fix_s_own_language(st_, kb, tmp_path, packages):
    # A random English→French model: output differs from input, so each
    # field is seen to go through it. The step is French text inside an
    # English fix: translated as English all the same (a guess of its
    # language would take it for French and leave it as it is).
    engine = make_engine(tmp_path, kb.glossary, None, packages, kind="random", pairs=("en_fr",))
    with_engine = ks.FixBase(kb.storage, kb.glossary, engine=engine)
    fix_id = draft(st_, original_lang="en", symptom="Coater tension alarm", cause="Worn dancer roller",
                   steps=["Arrêter la machine"], safety=["Lock out first"], codes=[])
    st_.write(fx.submit, fix_id, TRAINER)
    empty_cause = draft(st_, original_lang="en", symptom="Slitter burr", cause="", steps=["Change the blade"],
                        safety=[], codes=[])
    st_.write(fx.submit, empty_cause, TRAINER)
    try:
        report = with_engine.approve(fix_id, LEAD)
        assert report.translated == ["fr"]
        assert report.missing == {lang: report.missing[lang] for lang in ("zh", "ko", "ms")}
        tr = lambda s: engine.translate(s, "fr", source="en").text  # noqa: E731
        fr = st_.read(fx.load_fix, fix_id).texts["fr"]
        assert fr == fx.FixText(tr("Coater tension alarm"), tr("Worn dancer roller"), [tr("Arrêter la machine")],
                                [tr("Lock out first")], "machine")
        assert fr.steps != ["Arrêter la machine"] and fr.cause
        assert with_engine.approve(empty_cause, LEAD).translated == ["fr"]
        fr = st_.read(fx.load_fix, empty_cause).texts["fr"]
        assert (fr.cause, fr.safety, fr.kind) == ("", [], "machine")
    finally:
        engine.close()


def test_two_common_concepts_are_checked_on_each_fix_found_once(st_, kb, monkeypatch):
    a = approved(st_, codes=["E-1"])  # 涂布机张力报警: mentions alarm and web-tension
    b = approved(st_, codes=["E-2"])
    monkeypatch.setattr(ks, "COMMON_MENTIONS", 1)  # both concepts are common now
    assert [(r.id, r.score, r.reasons) for r in kb.search("E1 E2 报警 张力", "fr")] == [
        (a, 1050.0, ["code:E1", "mentions:alarm", "mentions:web-tension"]),
        (b, 1050.0, ["code:E2", "mentions:alarm", "mentions:web-tension"])]


def test_a_concept_mentioned_exactly_common_mentions_times_is_not_common(st_, kb, monkeypatch):
    a, b = approved(st_), approved(st_)  # the only two fixes that mention web-tension
    c = approved(st_, codes=["E-3"], equipment="slitter", symptom="分切机报警", cause="", steps=["换刀"])
    monkeypatch.setattr(ks, "COMMON_MENTIONS", 2)
    # Not common: every fix that mentions it is found, not only those E3 found.
    assert [(r.id, r.reasons) for r in kb.search("E3 张力", "fr")] == [
        (c, ["code:E3"]), (a, ["mentions:web-tension"]), (b, ["mentions:web-tension"])]


def test_common_concepts_are_checked_on_more_than_500_fixes_found(st_, kb, monkeypatch):
    # The fixes found are checked 500 at a time (SQLite's bound on ?s):
    # every chunk counts, the last as much as the first. The 502 fixes are
    # written in one transaction (approved() would take three each).
    def many(db):
        ids = []
        for _ in range(502):
            fix_id = fx.create_draft(db, author=TRAINER, equipment="coater", original_lang="zh",
                                     symptom="涂布机张力报警", cause="", steps=["停机"], safety=[], codes=["E-1"])
            fx.submit(db, fix_id, TRAINER)
            fx.approve(db, fix_id, LEAD)
            ids.append(fix_id)
        return ids

    ids = st_.write(many)
    monkeypatch.setattr(ks, "COMMON_MENTIONS", 1)
    results = kb.search("E1 报警", "fr", limit=600)
    assert sorted(r.id for r in results) == ids
    assert {tuple(r.reasons) for r in results} == {("code:E1", "mentions:alarm")}


def test_at_most_twenty_concepts_of_a_query(st_):
    coater = approved(st_)
    found = []
    add = lambda fix_id, points, reason: found.append((fix_id, reason))  # noqa: E731
    nineteen = {f"a{i:02d}" for i in range(19)}  # sorted before "coater"
    ks.FixBase._match_concepts(st_.conn(), nineteen | {"coater"}, add)
    assert (coater, "equipment:coater") in found
    found.clear()
    ks.FixBase._match_concepts(st_.conn(), nineteen | {"a19", "coater"}, add)  # coater is the 21st
    assert found == []


def test_a_search_whose_log_fails_still_answers_and_warns(st_, kb, caplog):
    fix_id = approved(st_)
    st_.write(lambda db: db.execute("DROP TABLE fix_search"))
    with caplog.at_level("WARNING", logger="bot.knowledge.search"):
        assert [r.id for r in kb.search("E203", "fr")] == [fix_id]
        flush(st_)
    assert [r.getMessage() for r in caplog.records] == ["could not log a fix search: no such table: fix_search"]


def test_a_huge_query_is_cut_before_it_is_read(st_, kb):
    # At most 4 × MAX_QUERY characters are read, before normalising: zero-
    # width characters count, so what comes after them is not looked at.
    coater = approved(st_)  # E-203
    slitter = approved(st_, equipment="slitter", symptom="分切机毛刺", codes=["X-1203"], cause="", steps=["换刀"])
    padding = "\u200b" * (4 * fx.MAX_QUERY - 6)
    assert kb.search("\u200b" * 4 * fx.MAX_QUERY + "E203") == []
    assert [r.id for r in kb.search("X1203 " + padding + "涂布机")] == [slitter]
    assert [r.id for r in kb.search("X1203 涂布机")] == [slitter, coater]


def test_common_concepts_are_checked_on_the_best_scored_fixes(st_, kb, monkeypatch):
    coater = approved(st_, codes=["E-1"])  # mentions alarm
    slitter = approved(st_, codes=["E-3"], equipment="slitter", symptom="分切机报警", cause="", steps=["换刀"])
    monkeypatch.setattr(ks, "COMMON_MENTIONS", 1)
    monkeypatch.setattr(ks, "COMMON_CHECKED", 1)
    # The code scores 1000, the slitter 60: alarm is checked on the first only.
    assert [(r.id, r.score, r.reasons) for r in kb.search("E1 分切机 报警", "fr")] == [
        (coater, 1025.0, ["code:E1", "mentions:alarm"]), (slitter, 60.0, ["equipment:slitter"])]


def test_a_result_carries_the_fix_s_own_fields(st_, kb):
    fix_id = approved(st_)
    r = kb.search("E203", "fr")[0]
    assert (r.slug, r.equipment, r.codes, r.status, r.original_lang, r.lang, r.kind) == (
        st_.read(fx.load_fix, fix_id).slug, "coater", ["E-203"], "approved", "zh", "zh", "original")
    assert (r.symptom, r.cause, r.steps, r.safety) == ("涂布机张力报警", "浮动辊卡住", ["停机", "检查浮动辊"], ["先挂牌上锁"])
    st_.write(lambda db: db.execute("UPDATE fix SET sample = 1 WHERE id = ?", [fix_id]))
    assert kb.get(fix_id).sample is True


def test_which_words_are_looked_up_in_the_glossary(kb, st_):
    """A word the spotter missed is looked up when it has three letters or
    more, or any Chinese or Korean: « tbj » is typed for 涂布机 (pinyin
    initials, 85). One or two Latin letters and plain numbers never are,
    even where the glossary would find them by their start (« ag » for AGV,
    83; « 186 » for the 18650 cell, 82): they stay for full-text search. A
    word counts for its three best concepts at 80 or more."""
    st_.write(glossary_store.upsert_concepts, [
        concept("cell-18650", category="finishing", en="18650", fr="18650"),
        *(concept(f"pump-{x}", category="general", en=f"pump {x}", fr=f"pompe {x}") for x in "abcd")], "tests")
    assert kb.glossary.search("ag")[0].concept.id == "agv"
    assert [(h.concept.id, round(h.score)) for h in kb.glossary.search("186")] == [("cell-18650", 82)]
    assert kb.understand("tbj") == ({"coater"}, [])
    assert kb.understand("ag 186") == (set(), ["ag", "186"])
    assert kb.understand("pump") == ({"pump-a", "pump-b", "pump-c"}, [])  # 83 each: the first three
    assert {h.score for h in kb.glossary.search("pum")} == {80.0}  # exactly 80 counts
    assert kb.understand("pum") == ({"pump-a", "pump-b", "pump-c"}, [])


def test_understanding_after_the_spotted_terms(kb):
    # Spotted terms are blanked where they stand, whatever came before:
    # nothing of them is left over for full-text search.
    assert kb.understand("涂布机张力报警") == ({"coater", "coating", "web-tension", "alarm"}, [])
    assert kb.understand("xyz 涂布机 tension de bande") == ({"coater", "coating", "web-tension"}, ["xyz"])
    # One Chinese character is looked up (a glossary hit of 80 counts).
    assert kb.understand("辊") == ({"calendering"}, [])

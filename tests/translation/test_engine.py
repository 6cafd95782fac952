"""The translation engine, through real Argos-format packages built by the tests.

Two kinds of package (tests/argos_factory.py): a *copy* model whose output is
its input, which makes the placeholder path predictable, and a random-weight
model that emits nonsense, which is what "whatever the model emits around it"
means for term enforcement.
"""

import asyncio
import dataclasses
import re
import socket
import threading

import pytest

from bot.config import Settings
from bot.translation import memory as tm
from bot.translation.models import ModelStore
from bot.translation.engine import (MissingModelError, SegmentResult, Translation, TranslationEngine,
                                   TranslationError)
from glossary import store as glossary_store
from tests.conftest import concept, with_pos

EXTRA = [
    concept("slitter", en="slitter", fr="refendeuse|coupeuse*dep", zh="分切机", ko="슬리터",
            ms="mesin belah"),
    concept("reset", category="general", en="reset", fr="réarmer", zh="复位", ko="리셋", ms="set semula"),
]
# "reset" is a verb: verbs are not forced in (they inflect).
with_pos(EXTRA[1], "verb")


@pytest.fixture
def glossary(small, empty_storage):
    empty_storage.write(glossary_store.upsert_concepts, EXTRA, "tests")
    return small


@pytest.fixture
def memory(empty_storage):
    from bot.translation.memory import TranslationMemory

    return TranslationMemory(empty_storage.conn)


def make_engine(tmp_path, glossary, memory, packages, kind="copy", pairs=(), **kw):
    store = ModelStore(tmp_path / "models")
    if pairs:
        store.install([packages[kind][p] for p in pairs])
    engine = TranslationEngine(store, glossary, memory, **kw)
    return engine


def record_batches(engine) -> list[tuple[str, str, int]]:
    """Every model call the engine makes from now on, as (target language,
    thread name, number of sentences); the calls still run."""
    calls, original = [], engine._translate_batch

    def recording(model, texts, target):
        calls.append((target, threading.current_thread().name, len(texts)))
        return original(model, texts, target)

    engine._translate_batch = recording
    return calls


def approved_unit(storage, en: str, fr: str) -> int:
    return storage.write(tm.add_unit, {"en": en, "fr": fr}, status="approved", origin="manual", actor="tests")


@pytest.fixture
def engine(tmp_path, glossary, memory, packages):
    e = make_engine(tmp_path, glossary, memory, packages, pairs=("en_fr", "zh_en", "ko_en", "fr_en"))
    yield e
    e.close()


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test loudly."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_direct_translation_enforces_terms_and_keeps_codes(engine, no_network):
    result = engine.translate("The coater stopped with alarm E-203.", "fr", source="en")
    assert result.provenance == "machine"
    assert result.route == ("en", "fr")
    assert "enduiseuse" in result.text
    assert "E-203" in result.text
    assert "coater" not in result.text
    assert [(t.source, t.target) for t in result.terms] == [("coater", "enduiseuse")]
    assert no_network == []


def test_pivot_through_english_keeps_the_term(engine, no_network):
    result = engine.translate("涂布机停了，请检查极耳。", "fr", source="zh")
    assert result.route == ("zh", "en", "fr")
    assert result.route_text == "zh→en→fr"
    assert "enduiseuse" in result.text and "languette" in result.text
    assert {t.concept_id for t in result.terms} == {"coater", "tab"}
    assert engine.loaded_pairs() == ["zh_en", "en_fr"]


def test_detection_picks_the_source(engine):
    assert engine.translate("코터가 멈췄어요", "fr").source == "ko"
    assert engine.translate("涂布机停了", "fr").source == "zh"
    assert engine.translate("The coater stopped again today", "fr").source == "en"


@pytest.mark.parametrize("sentence, term", [
    ("The coater stopped again.", "enduiseuse"),
    ("Check the tab and the electrolyte please.", "languette"),
    ("The AGV is blocked near the calendering line.", "chariot autoguidé"),
    ("Press the emergency stop now.", "arrêt d'urgence"),
])
def test_random_model_still_outputs_the_approved_term(tmp_path, glossary, memory, packages, sentence, term):
    engine = make_engine(tmp_path, glossary, memory, packages, kind="random", pairs=("en_fr",))
    result = engine.translate(sentence, "fr", source="en")
    assert term in result.text, result.text
    engine.close()


@pytest.mark.parametrize("text", [
    "The coupeuse is broken.",  # spotted in the source: a placeholder, then the preferred term
    # Placeholder-like text: nothing protected, so the copy model writes the
    # deprecated term back; glued to a bracket it is tokenised differently
    # from the banned sequence and passes decoding: only the replacement
    # after the model (_replace_deprecated) takes it out.
    "The (coupeuse) [T1] is broken.",
    "Le «coupeuse» [T1] est cassé.",
])
def test_deprecated_target_terms_never_appear(engine, text):
    result = engine.translate(text, "fr", source="en")
    assert result.provenance == "machine"
    assert "coupeuse" not in result.text, result.text
    assert "refendeuse" in result.text


def test_a_deprecated_term_the_model_cannot_spell_does_not_break_translation(engine, empty_storage):
    """CTranslate2 refused the whole batch ("Token j is not in the vocabulary")
    when a deprecated target term held a token the model does not know: the
    seed review's deprecated Malay calques broke every translation into Malay."""
    from tests.conftest import concept

    empty_storage.write(glossary_store.upsert_concepts,
                        [concept("odd-thing", en="odd thing", fr="chose bizarre|ǯǯǯ qxj*dep")], "tests")
    result = engine.translate("The coater is stopped.", "fr", source="en")
    assert "enduiseuse" in result.text and result.provenance == "machine"


def test_verbs_are_not_forced(engine):
    result = engine.translate("Please reset the coater.", "fr", source="en")
    assert [t.concept_id for t in result.terms] == ["coater"]


def test_a_message_that_is_one_term_needs_no_model(tmp_path, glossary, memory, packages):
    engine = make_engine(tmp_path, glossary, memory, packages)  # nothing installed
    result = engine.translate("涂布机", "fr")
    assert (result.text, result.provenance) == ("enduiseuse", "glossary")
    assert engine.translate("OCV", "ko").text == "개방전압"
    engine.close()


def test_memory_comes_before_the_machine(engine, empty_storage, memory):
    approved_unit(empty_storage, "Stop the coater now.", "Arrêtez l'enduiseuse maintenant.")
    exact = engine.translate("Stop the coater now.", "fr", source="en")
    assert (exact.provenance, exact.match, exact.text) == ("memory", 100, "Arrêtez l'enduiseuse maintenant.")
    fuzzy = engine.translate("Stop the coater now!", "fr", source="en")
    assert fuzzy.provenance == "memory" and 85 <= fuzzy.match < 100
    mixed = engine.translate("Stop the coater now. The tab is torn.", "fr", source="en")
    assert mixed.provenance == "machine"
    assert [s.provenance for s in mixed.segments] == ["memory", "machine"]
    assert mixed.text.startswith("Arrêtez l'enduiseuse maintenant. ")


def test_missing_model_names_the_package_and_the_command(tmp_path, glossary, memory, packages):
    engine = make_engine(tmp_path, glossary, memory, packages, pairs=("zh_en",))
    with pytest.raises(MissingModelError) as info:
        engine.translate("涂布机停了，请检查。", "fr", source="zh")
    assert info.value.pairs == [("en", "fr")]
    assert "shopbot models download en fr" in str(info.value)
    assert [t.target for t in info.value.terms] == ["enduiseuse"]
    engine.close()


@pytest.mark.parametrize("text", ["", "   ", "🔥👍", "E-203", "12.5 mm", "OK"])
def test_nothing_to_translate_comes_back_unchanged(engine, text):
    result = engine.translate(text, "fr")
    assert result.text == text and result.provenance == "unchanged"


def test_limits_and_bad_arguments(tmp_path, glossary, memory, packages):
    engine = make_engine(tmp_path, glossary, memory, packages, pairs=("en_fr",), max_chars=50)
    with pytest.raises(TranslationError, match="limit is 50"):
        engine.translate("word " * 20, "fr", source="en")
    with pytest.raises(TranslationError, match="unknown target"):
        engine.translate("hello", "de")
    with pytest.raises(TranslationError, match="unknown source"):
        engine.translate("hello", "fr", source="xx")
    engine.close()


@pytest.mark.parametrize("text, terms", [
    ("<b>coater</b> & <i>tab</i>", ["enduiseuse", "languette"]),
    ("co\u200bater stopped\u200e today", ["enduiseuse"]),
    ('"AND NEAR( col:x coater', ["enduiseuse"]),
    # Text that looks like our placeholders: nothing is protected, and only
    # the final presence check puts the approved term in.
    ("The coater [T1] stopped [T2].", ["enduiseuse"]),
    ("The tab [T1] of the coater [T7] is torn.", ["languette", "enduiseuse"]),
    ("涂布机 stopped again, tolong check", ["enduiseuse"]),
    ("\u202ethe coater\u202c is down", ["enduiseuse"]),
])
def test_hostile_text(engine, text, terms):
    result = engine.translate(text, "fr", source="en")
    assert result.provenance == "machine", result
    for term in terms:  # every approved term is in the output, whatever the input
        assert term in result.text, result.text
    assert {t.target for t in result.terms} == set(terms)
    assert not re.search(r"\[\s*T\s*\d", result.text), result.text  # no placeholder leaks


def test_results_are_cached_and_models_bounded(tmp_path, glossary, memory, packages):
    engine = make_engine(tmp_path, glossary, memory, packages, pairs=("en_fr", "zh_en"), max_loaded=1)
    first = engine.translate("The tab is torn.", "fr", source="en")
    assert engine.translate("The tab is torn.", "fr", source="en") is first
    engine.translate("极耳断了。", "en", source="zh")
    assert engine.loaded_pairs() == ["zh_en"]
    engine.close()


async def test_concurrent_requests_are_batched(engine, no_network):
    calls = record_batches(engine)
    sentences = [f"The coater number {i} stopped." for i in range(12)]
    results = await asyncio.gather(*(engine.atranslate(s, "fr", source="en") for s in sentences))
    assert all("enduiseuse" in r.text for r in results)
    assert [r.text for r in results] == [engine.translate(s, "fr", source="en").text for s in sentences]
    assert sum(size for *_, size in calls) == 12 and len(calls) < 12  # several requests shared a call


async def burst(engine, n: int) -> None:
    """Four concurrent translations; returns once the model's queue ran dry
    and whatever it queued on the model thread (a trim) has run."""
    await asyncio.gather(*(engine.atranslate(f"The coater {n} {i} stopped.", "fr", source="en")
                           for i in range(4)))
    for _ in range(100_000):  # the drain ends just after the answers
        if not any(b.running for b in engine._batchers.values()):
            break
        await asyncio.sleep(0)
    await asyncio.wrap_future(engine._executor.submit(lambda: None))  # one thread, FIFO: the trim ran


async def test_freed_memory_is_given_back_when_a_model_goes_idle(engine, no_network, monkeypatch):
    """glibc kept what translation freed (1.0-1.2 GB for 560 MB of models):
    the engine trims on its model thread once a burst is done, at most once
    per TRIM_INTERVAL. (How much it gives back: bench_translate.py (c).)"""

    from bot.translation import engine as engine_module

    import types

    trims = []
    real = engine_module.release_free_memory
    monkeypatch.setattr(engine_module, "release_free_memory",
                        lambda: trims.append(threading.current_thread().name) or real())
    now = [100.0]  # the engine's clock, stopped: no wall-clock race with TRIM_INTERVAL
    monkeypatch.setattr(engine_module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))

    await burst(engine, 0)
    await burst(engine, 1)  # within the interval: no second trim
    assert trims == ["shopbot-translate_0"]
    now[0] += engine_module.TRIM_INTERVAL
    await burst(engine, 2)  # the interval passed: trimmed again
    assert trims == ["shopbot-translate_0"] * 2
    import ctypes

    try:
        ctypes.CDLL("libc.so.6")
        glibc = True
    except OSError:
        glibc = False
    assert real() is glibc  # it really trims where there is glibc (this machine and CI)


async def test_the_first_idle_model_trims_whatever_the_clock_s_origin(engine, no_network, monkeypatch):
    # The monotonic clock starts anywhere (0 at boot): the first burst trims.
    from bot.translation import engine as engine_module

    import types

    trims = []
    monkeypatch.setattr(engine_module, "release_free_memory", lambda: trims.append(1))
    monkeypatch.setattr(engine_module, "time", types.SimpleNamespace(monotonic=lambda: 0.0))
    await burst(engine, 0)
    assert trims == [1]


def test_without_glibc_nothing_is_trimmed_and_nothing_breaks(monkeypatch):
    """musl or macOS: no libc.so.6 (or no malloc_trim): False, every time."""
    import ctypes

    from bot.translation import engine as engine_module

    def no_libc(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(engine_module, "_TRIM", None)
    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    assert engine_module.release_free_memory() is False
    assert engine_module.release_free_memory() is False  # the second call too


def test_term_accuracy_on_a_test_set(tmp_path, glossary, memory, packages, capsys):
    """Share of expected target terms present in the output, through the copy
    model (placeholders kept) and a random model (placeholders lost)."""
    cases = [
        ("en", "The coater is stopped.", "enduiseuse"),
        ("en", "The calendering line needs a check.", "calandrage"),
        ("en", "Replace the tab on line 2.", "languette"),
        ("en", "Electrolyte on the floor, careful.", "électrolyte"),
        ("en", "Measure the OCV before packing.", "tension à vide"),
        ("en", "AGV blocked at station 4.", "chariot autoguidé"),
        ("en", "The HMI shows alarm E-17.", "interface homme-machine"),
        ("en", "Use the E-stop if the slitter jams.", "refendeuse"),
        ("en", "The positive tab is folded.", "languette positive"),
        ("en", "Coating weight is too low.", "enduction"),
        ("zh", "涂布机报警了。", "enduiseuse"),
        ("zh", "请检查极耳。", "languette"),
        ("zh", "电解液漏了。", "électrolyte"),
        ("zh", "正极耳折了。", "languette positive"),
        ("ko", "코터가 멈췄어요.", "enduiseuse"),
        ("ko", "전해액이 샜어요.", "électrolyte"),
        ("ko", "탭을 확인하세요.", "languette"),
    ]
    figures = {}
    for kind in ("copy", "random"):
        pairs = ("en_fr", "zh_en", "ko_en") if kind == "copy" else ("en_fr", "zh_en")
        engine = make_engine(tmp_path / kind, glossary, memory, packages, kind=kind, pairs=pairs)
        usable = [c for c in cases if engine.models.has(c[0], "en") or c[0] == "en"]
        hits = sum(term in engine.translate(text, "fr", source=src).text for src, text, term in usable)
        figures[kind] = (hits, len(usable))
        engine.close()
    with capsys.disabled():
        print("\nterm accuracy: " + ", ".join(f"{k} model {h}/{n}" for k, (h, n) in figures.items()))
    assert all(h == n for h, n in figures.values())


def test_numbers_and_codes_survive_a_model_that_mangles_everything(tmp_path, glossary, memory, packages):
    engine = make_engine(tmp_path, glossary, memory, packages, kind="random", pairs=("en_fr", "zh_en"))
    result = engine.translate("Line 3 stopped at 10:30 with alarm E-203, pressure 0.45 MPa.", "fr", source="en")
    for kept in ("3", "10:30", "E-203", "0.45"):
        assert kept in result.text, result.text
    pivot = engine.translate("3号线涂布机报警 E-17。", "en", source="zh")
    assert "E-17" in pivot.text and "3" in pivot.text and "coater" in pivot.text
    assert "[T" not in pivot.text and "[T" not in result.text
    engine.close()


def test_translation_json_and_missing_model_message(engine):
    data = engine.translate("The coater stopped.", "fr", source="en").to_json()
    assert set(data) == {"text", "source", "target", "route", "provenance", "match", "terms", "segments",
                         "ambiguous", "placeholders", "placeholders_lost"}
    assert data["ambiguous"] == []
    assert (data["source"], data["target"], data["route"], data["provenance"], data["match"]) == (
        "en", "fr", "en→fr", "machine", None)
    assert "enduiseuse" in data["text"]
    assert data["terms"] == [{"source": "coater", "target": "enduiseuse", "concept_id": "coater", "gender": None}]
    assert [s["provenance"] for s in data["segments"]] == ["machine"]
    error = MissingModelError([("zh", "en"), ("en", "ko")], [])
    assert str(error) == ("no translation model installed for zh→en, en→ko: install it with "
                          "`shopbot models download zh en; shopbot models download en ko` "
                          "(or every pair the five languages need: `shopbot models setup`)")


# -- what mutation testing found unchecked (issue 16) ---------------------------------------


def test_a_whole_term_answer_says_where_it_came_from(tmp_path, glossary, memory, packages):
    engine = make_engine(tmp_path, glossary, memory, packages)  # nothing installed
    result = engine.translate("涂布机", "fr", source="zh")
    assert (result.route, result.provenance, result.match) == (("zh", "fr"), "glossary", None)
    assert [(t.source, t.target, t.concept_id) for t in result.terms] == [("涂布机", "enduiseuse", "coater")]
    assert [(s.source, s.text, s.provenance) for s in result.segments] == [("涂布机", "enduiseuse", "glossary")]
    engine.close()


def test_sentences_all_served_by_memory_need_no_model(tmp_path, glossary, memory, packages, empty_storage):
    for en, fr in [("Stop the coater now.", "Arrêtez l'enduiseuse maintenant."),
                   ("Clean the die lip.", "Nettoyez la lèvre de filière.")]:
        approved_unit(empty_storage, en, fr)
    engine = make_engine(tmp_path, glossary, memory, packages)  # nothing installed
    result = engine.translate("Stop the coater now! Clean the die lip.", "fr", source="en")
    assert result.text == "Arrêtez l'enduiseuse maintenant. Nettoyez la lèvre de filière."
    assert [s.provenance for s in result.segments] == ["memory", "memory"]
    assert result.provenance == "memory" and result.route == ("en", "fr")
    assert result.match == min(s.match for s in result.segments) < 100
    engine.close()


def test_a_sentence_with_nothing_to_translate_is_kept_beside_a_translated_one(engine):
    result = engine.translate("The tab is torn. 12.5 mm", "fr", source="en")
    assert [s.provenance for s in result.segments] == ["machine", "unchanged"]
    assert result.segments[1].text == "12.5 mm" and result.text.endswith(" 12.5 mm")
    assert (result.provenance, result.match) == ("machine", None)


def test_placeholders_are_counted_and_those_a_model_drops_are_put_back(tmp_path, glossary, memory, packages):
    copy = make_engine(tmp_path / "copy", glossary, memory, packages, pairs=("en_fr",))
    kept = copy.translate("The coater stopped with alarm E-203.", "fr", source="en")
    assert (kept.placeholders, kept.placeholders_lost) == (2, 0)
    assert kept.to_json()["placeholders"] == 2
    copy.close()
    noisy = make_engine(tmp_path / "random", glossary, memory, packages, kind="random", pairs=("en_fr",))
    lost = noisy.translate("The coater stopped with alarm E-203.", "fr", source="en")
    assert lost.placeholders == 2 and 1 <= lost.placeholders_lost <= 2
    assert lost.to_json()["placeholders_lost"] == lost.placeholders_lost
    if lost.placeholders_lost == 2:  # what was dropped comes back at the end, in order
        assert re.search(r" enduiseuse E-203\W*$", lost.text), lost.text
    assert "enduiseuse" in lost.text and "E-203" in lost.text
    noisy.close()


def test_bad_arguments_name_what_is_allowed(tmp_path, glossary, memory, packages):
    engine = make_engine(tmp_path, glossary, memory, packages, pairs=("en_fr",))
    with pytest.raises(TranslationError, match=r"^unknown target language 'de' \(one of: zh, ko, ms, fr, en\)$"):
        engine.translate("hello", "de")
    with pytest.raises(TranslationError, match=r"^unknown source language 'xx' \(one of: zh, ko, ms, fr, en\)$"):
        engine.translate("hello", "fr", source="xx")
    with pytest.raises(TranslationError, match="^text must be a string$"):
        engine.translate(b"coater", "fr", source="en")
    with pytest.raises(TranslationError, match=r"^the message is 2001 characters long; the limit is 2000$"):
        engine.translate("a" * 2001, "fr", source="en")
    with pytest.raises(TranslationError, match="^cannot tell the language of this message; say which it is$"):
        engine.translate("これはペンです", "fr")
    engine.close()


def test_the_senders_language_decides_when_the_text_cannot(engine):
    assert engine.translate("OCV 3.6 OK coater", "en", prior="fr").source in ("en", "fr")
    assert engine.translate("tab", "fr", prior="en").source == "en"
    assert engine.translate("tab", "en", prior="fr").source == "fr"  # guessed "en" without it


def test_the_cache_is_bounded_and_keeps_the_most_recently_used(tmp_path, glossary, memory, packages):
    engine = make_engine(tmp_path, glossary, memory, packages, pairs=("en_fr",), cache_size=2)
    a = engine.translate("The tab is torn.", "fr", source="en")
    b = engine.translate("The coater stopped.", "fr", source="en")
    assert engine.translate("The tab is torn.", "fr", source="en") is a  # a used again: b is the oldest
    engine.translate("The slitter jams.", "fr", source="en")  # evicts b
    assert engine.translate("The tab is torn.", "fr", source="en") is a
    again = engine.translate("The coater stopped.", "fr", source="en")
    assert again is not b and again.text == b.text
    one = make_engine(tmp_path / "one", glossary, memory, packages, pairs=("en_fr",), cache_size=1)
    first = one.translate("The tab is torn.", "fr", source="en")
    assert one.translate("The tab is torn.", "fr", source="en") is first
    engine.close()
    one.close()


def test_a_glossary_or_memory_change_is_not_hidden_by_the_cache(engine, empty_storage):
    from tests.conftest import concept

    before = engine.translate("The dancer roll is loose.", "fr", source="en")
    assert "rouleau danseur" not in before.text
    empty_storage.write(glossary_store.upsert_concepts,
                        [concept("dancer", en="dancer roll", fr="rouleau danseur")], "tests")
    after = engine.translate("The dancer roll is loose.", "fr", source="en")
    assert "rouleau danseur" in after.text
    approved_unit(empty_storage, "The dancer roll is loose.", "Le danseur a du jeu.")
    served = engine.translate("The dancer roll is loose.", "fr", source="en")
    assert (served.text, served.provenance) == ("Le danseur a du jeu.", "memory")


@pytest.mark.parametrize("pairs, text, source, target, missing", [
    ((), "The tab is torn.", "en", "ko", [("en", "ko")]),
    ((), "极耳断了。", "zh", "fr", [("zh", "en"), ("en", "fr")]),
    (("en_fr",), "极耳断了。", "zh", "fr", [("zh", "en")]),
    (("en_fr",), "La languette est déchirée.", "fr", "en", [("fr", "en")]),
])
def test_missing_models_are_named_leg_by_leg(tmp_path, glossary, memory, packages, pairs, text, source, target,
                                             missing):
    engine = make_engine(tmp_path, glossary, memory, packages, pairs=pairs)
    with pytest.raises(MissingModelError) as info:
        engine.translate(text, target, source=source)
    assert info.value.pairs == missing
    engine.close()


def test_a_long_sentence_is_not_cut_short(engine):
    # about 120 tokens: decoding may run to 1.5 times that, within the model's 256 positions
    sentence = " ".join(f"Check roll {i} of the night shift," for i in range(4)) + " please."
    result = engine.translate(sentence, "fr", source="en")
    assert result.text == sentence, result.text


def test_deprecated_terms_are_banned_from_decoding_as_the_glossary_changes(engine, empty_storage):
    """Before any replacement afterwards: the model itself may not write a
    deprecated term, including one the glossary deprecated a moment ago."""
    from tests.conftest import concept

    model = engine._model("en", "fr")
    assert "coupeuse" not in engine._translate_batch(model, ["The coupeuse is broken."], "fr")[0]
    # (a word the model can spell: one it cannot comes back only as an unknown
    # token copied from the source, and is replaced after the model)
    assert "cellules" in engine._translate_batch(model, ["The cellules is broken."], "fr")[0]
    empty_storage.write(glossary_store.upsert_concepts,
                        [concept("cell2", en="cells", fr="cellules batterie|cellules*dep")], "tests")
    assert "cellules" not in engine._translate_batch(model, ["The cellules is broken."], "fr")[0]


def test_several_deprecated_terms_are_all_replaced(engine):
    fixed = engine._replace_deprecated("Le coupeuse et la coupeuse, vite.", "fr")
    assert fixed == "Le refendeuse et la refendeuse, vite."  # (no gender in this test glossary)
    assert engine._replace_deprecated("The coupeuse", "en") == "The coupeuse"  # not English's


async def test_async_through_english_and_from_the_glossary(engine, no_network):
    text = "涂布机停了，请检查极耳。"
    result = await engine.atranslate(text, "fr", source="zh")
    assert engine.translate(text, "fr", source="zh") is result  # cached like a sync one
    assert result.route == ("zh", "en", "fr") and "enduiseuse" in result.text and "[T" not in result.text
    whole = await engine.atranslate("涂布机", "fr", source="zh")
    assert (whole.text, whole.provenance) == ("enduiseuse", "glossary")


async def test_async_honours_the_source_and_the_senders_language(engine):
    # The async path hands source and prior to the planner as the sync one does.
    same = await engine.atranslate("The tab is torn.", "fr", source="fr")
    assert (same.text, same.source, same.route) == ("The tab is torn.", "fr", ())
    # A lone "tab" is guessed English; the sender's French decides.
    assert (await engine.atranslate("tab", "en", prior="fr")).source == "fr"
    assert (await engine.atranslate("tab", "en")).source == "en"


async def test_async_asks_each_leg_for_its_own_target_language(engine):
    # The target reaches the model call: it picks the deprecated terms to ban.
    # And the model runs on the engine's one model thread, never beside a trim.
    calls = record_batches(engine)
    await engine.atranslate("涂布机停了，请检查极耳。", "fr", source="zh")
    assert [(target, thread) for target, thread, _ in calls] == [
        ("en", "shopbot-translate_0"), ("fr", "shopbot-translate_0")]


async def test_a_failed_batch_does_not_strand_the_requests_queued_behind_it(engine):
    original = engine._translate_batch
    entered, release = threading.Event(), threading.Event()

    def first_fails(model, texts, target):
        if not entered.is_set():
            entered.set()
            release.wait(30)
            raise RuntimeError("model broke")
        return original(model, texts, target)

    engine._translate_batch = first_fails
    first = asyncio.ensure_future(engine.atranslate("The tab is torn.", "fr", source="en"))
    while not entered.is_set():  # the first batch is in the model
        await asyncio.sleep(0.001)
    second = asyncio.ensure_future(engine.atranslate("The coater stopped.", "fr", source="en"))
    batcher = next(iter(engine._batchers.values()))
    while not batcher.queue:  # queued behind the failing batch
        await asyncio.sleep(0.001)
    release.set()
    with pytest.raises(RuntimeError, match="model broke"):
        await first
    # A guard against a hang, not a timing: it answers in milliseconds.
    assert "enduiseuse" in (await asyncio.wait_for(second, 30)).text


async def test_async_pivot_text_equals_the_sync_one(tmp_path, glossary, memory, packages):
    a = make_engine(tmp_path / "a", glossary, memory, packages, pairs=("zh_en", "en_fr"))
    b = make_engine(tmp_path / "b", glossary, memory, packages, pairs=("zh_en", "en_fr"))
    text = "涂布机停了，请检查极耳和 E-17。"
    assert (await a.atranslate(text, "fr", source="zh")).text == b.translate(text, "fr", source="zh").text
    a.close()
    b.close()


async def test_async_after_a_model_was_evicted_and_loaded_again(tmp_path, glossary, memory, packages):
    engine = make_engine(tmp_path, glossary, memory, packages, pairs=("en_fr", "zh_en"), max_loaded=1)
    first = await engine.atranslate("The tab is torn.", "fr", source="en")
    await engine.atranslate("极耳断了。", "en", source="zh")  # evicts en_fr
    again = await engine.atranslate("The coater stopped.", "fr", source="en")  # loads it anew
    assert "languette" in first.text and "enduiseuse" in again.text
    assert engine.loaded_pairs() == ["en_fr"]
    engine.close()


async def test_a_model_failure_reaches_every_waiter_and_the_next_call_works(engine):
    original = engine._translate_batch
    failing = [True]

    def flaky(model, texts, target):
        if failing[0]:
            raise RuntimeError("model broke")
        return original(model, texts, target)

    engine._translate_batch = flaky
    results = await asyncio.gather(*(engine.atranslate(f"The tab {i} is torn.", "fr", source="en")
                                     for i in range(4)), return_exceptions=True)
    assert [str(r) for r in results] == ["model broke"] * 4
    failing[0] = False
    assert "languette" in (await engine.atranslate("The tab 9 is torn.", "fr", source="en")).text


def test_translation_json_lists_the_ambiguous_terms():
    from bot.translation.engine import AmbiguousTerm, Translation

    t = Translation(text="x", source="fr", target="en", route=("fr", "en"),
                    ambiguous=[AmbiguousTerm("tension", ("voltage", "web tension"), ("voltage", "web-tension"))])
    assert t.to_json()["ambiguous"] == [{"source": "tension", "options": ["voltage", "web tension"],
                                         "concept_ids": ["voltage", "web-tension"]}]


def test_a_deprecated_source_term_still_brings_the_approved_target(engine):
    result = engine.translate("La coupeuse est cassée.", "en", source="fr")
    assert [(t.source, t.target) for t in result.terms] == [("coupeuse", "slitter")]
    assert "slitter" in result.text


def test_tags_the_model_invented_are_dropped(engine):
    result = engine.translate("The coater [T1] stopped [T2].", "fr", source="en")
    assert result.text == "The coater  stopped . (enduiseuse)", result.text


def test_models_are_evicted_least_recently_used_first(tmp_path, glossary, memory, packages):
    engine = make_engine(tmp_path, glossary, memory, packages, pairs=("en_fr", "zh_en", "ko_en"), max_loaded=2)
    engine.translate("The tab is torn.", "fr", source="en")
    engine.translate("极耳断了。", "en", source="zh")
    engine.translate("The coater stopped.", "fr", source="en")  # en_fr used again: zh_en is the oldest
    engine.translate("탭을 확인하세요.", "en", source="ko")
    assert engine.loaded_pairs() == ["en_fr", "ko_en"]
    with pytest.raises(MissingModelError) as info:  # a package removed since the route was planned
        engine._model("en", "ko")
    assert (info.value.pairs, info.value.terms) == ([("en", "ko")], [])
    engine.close()


def test_a_character_the_model_does_not_know_is_copied_through(engine):
    result = engine.translate("The coater ☃ stopped.", "fr", source="en")
    assert "☃" in result.text and "⁇" not in result.text and "<unk>" not in result.text, result.text


def test_sync_asks_each_leg_for_its_own_target_language(engine):
    # The target reaches the model call on the synchronous path too: it
    # picks the deprecated terms the decoder must not produce.
    calls = record_batches(engine)
    engine.translate("涂布机停了，请检查极耳。", "fr", source="zh")
    assert [target for target, *_ in calls] == ["en", "fr"]


def test_the_decoding_ban_is_worked_out_once_per_glossary_revision(engine, glossary, empty_storage):
    model = engine._model("en", "fr")
    first = engine._banned(model, "fr")
    assert engine._banned(model, "fr") is first  # reused, not encoded again for every batch
    empty_storage.write(glossary_store.upsert_concepts, [concept("new-one", en="spreader", fr="étaleuse")], "tests")
    assert engine._banned(model, "fr") is not first  # the glossary changed: worked out again


def test_a_package_that_does_not_load_is_named_in_the_error(tmp_path, glossary, memory, packages):
    engine = make_engine(tmp_path, glossary, memory, packages, pairs=("en_fr",))
    (engine.models.get("en", "fr").path / "sentencepiece.model").unlink()
    with pytest.raises(TranslationError, match="^en_fr: only sentencepiece packages are supported$"):
        engine.translate("The tab is torn.", "fr", source="en")
    engine.close()


def test_results_that_need_no_model_are_whole(engine, empty_storage):
    # Compared whole: every field a caller reads (the web's provenance badge,
    # the bot's "from memory" line, shopbot eval's segments).
    assert engine.translate("42 / 7", "fr", source="en") == Translation(text="42 / 7", source="en", target="fr")
    assert engine.translate("The tab is torn.", "en", source="en") == Translation(
        text="The tab is torn.", source="en", target="en")
    approved_unit(empty_storage, "Stop the coater now.", "Arrêtez l'enduiseuse maintenant.")
    assert engine.translate("Stop the coater now.", "fr", source="en") == Translation(
        text="Arrêtez l'enduiseuse maintenant.", source="en", target="fr", route=("en", "fr"),
        provenance="memory", match=100.0,
        segments=[SegmentResult("Stop the coater now.", "Arrêtez l'enduiseuse maintenant.", "memory", 100.0)])
    mixed = engine.translate("Stop the coater now. 42 / 7", "fr", source="en")
    assert mixed.segments == [
        SegmentResult("Stop the coater now.", "Arrêtez l'enduiseuse maintenant.", "memory", 100.0),
        SegmentResult("42 / 7", "42 / 7", "unchanged")]
    assert (mixed.text, mixed.provenance, mixed.match) == ("Arrêtez l'enduiseuse maintenant. 42 / 7", "memory", 100.0)
    machine = engine.translate("Stop the coater now. The tab is torn.", "fr", source="en")
    assert [(s.source, s.provenance) for s in machine.segments] == [
        ("Stop the coater now.", "memory"), ("The tab is torn.", "machine")]


def test_a_message_of_exactly_the_limit_is_translated(tmp_path, glossary, memory, packages):
    engine = make_engine(tmp_path, glossary, memory, packages, pairs=("en_fr",), max_chars=20)
    assert engine.translate("The tab is torn now.", "fr", source="en").provenance == "machine"  # 20 characters
    engine.close()


def test_a_spelling_of_several_concepts_is_read_in_the_messages_language(engine, empty_storage):
    # "winder": preferred English for one concept, a deprecated English
    # spelling of another, Malay for a third. An English message means the
    # first; a Malay one the third. "spooler": only deprecated in English
    # (so that concept), and Malay for another.
    empty_storage.write(glossary_store.upsert_concepts, [
        concept("winder", en="winder", fr="bobineuse", zh="卷绕机", ko="와인더", ms="mesin gulung"),
        concept("rewinder", en="rewinder|winder*dep|spooler*dep", fr="rebobineuse"),
        concept("coil-roller", ms="winder", en="coil roller", fr="enrouleur"),
        concept("spool", ms="spooler", en="spool", fr="bobine"),
    ], "tests")
    assert [engine.translate("winder", "fr", source=s).text for s in ("en", "ms")] == ["bobineuse", "enrouleur"]
    assert [engine.translate("spooler", "fr", source=s).text for s in ("en", "ms")] == ["rebobineuse", "bobine"]
    in_a_sentence = engine.translate("Stop the winder now.", "fr", source="en")
    assert [(t.source, t.target) for t in in_a_sentence.terms] == [("winder", "bobineuse")]
    assert in_a_sentence.ambiguous == []


def test_a_deprecated_french_term_is_replaced_with_its_article(engine, empty_storage):
    # « le couteau » (masculine, deprecated) → « la lame » (feminine): the
    # article follows the approved term's gender; a term the glossary does
    # not deprecate before it (enduiseuse) does not stop the replacement.
    blade = concept("blade", en="blade", fr="lame|couteau*dep", zh="刀片", ko="블레이드", ms="bilah")
    blade.terms[:] = [dataclasses.replace(t, gender={"lame": "f", "couteau": "m"}.get(t.text)) for t in blade.terms]
    empty_storage.write(glossary_store.upsert_concepts, [blade], "tests")
    assert engine._replace_deprecated("Nettoyez l'enduiseuse et changez le couteau.", "fr") == (
        "Nettoyez l'enduiseuse et changez la lame.")


def test_what_a_model_dropped_is_put_back_at_the_end_after_trailing_space(engine):
    from bot.translation.engine import EnforcedTerm, _Protected

    protected = _Protected("[T1] stopped with [T2]", {1: "enduiseuse", 2: "E-203"}, [], "fr")
    assert engine._repair("  arrêtée  ", protected, last_leg=False) == "  arrêtée [T1] [T2]"
    assert protected.lost == {1, 2}
    term = EnforcedTerm("coater", "enduiseuse", "coater")
    bare = _Protected("The coater [T1] stopped.", {}, [term], "fr")  # placeholder-like text: nothing protected
    assert engine._repair(" Arrêtée.  ", bare, last_leg=True) == " Arrêtée. (enduiseuse)"


def test_decoding_stops_at_one_and_a_half_times_the_source_plus_ten(tmp_path, glossary, memory, packages):
    # The random model never ends a sentence by itself (uncapped, it runs to
    # its 256 positions), so its output shows the cap: int(1.5 n) + 10 tokens
    # for n source tokens (re-encoding the text may count one more).
    engine = make_engine(tmp_path, glossary, memory, packages, kind="random", pairs=("en_fr",))
    model = engine._model("en", "fr")
    for text in ("Hi.", "The tab is torn.", "Check roll 3 of the night shift, please."):
        cap = int(len(model.sp.encode(text, out_type=str)) * 1.5) + 10
        out = engine._translate_batch(model, [text], "fr")[0]
        assert cap <= len(model.sp.encode(out, out_type=str)) <= cap + 1, (text, out)
    engine.close()


async def test_each_request_of_a_shared_batch_gets_its_own_sentences(tmp_path, glossary, memory, packages):
    # A burst is one model call; the outputs are handed back by offset, and
    # the third request's offset is the first two's lengths added up.
    texts = ["The tab is torn.", "The coater stopped. Check roll 3.", "Clean the die lip.", "Call the lead."]
    alone = make_engine(tmp_path / "alone", glossary, memory, packages, pairs=("en_fr",))
    expected = [alone.translate(t, "fr", source="en").text for t in texts]
    alone.close()
    shared = make_engine(tmp_path / "shared", glossary, memory, packages, pairs=("en_fr",))
    calls = record_batches(shared)
    results = await asyncio.gather(*(shared.atranslate(t, "fr", source="en") for t in texts))
    assert [r.text for r in results] == expected
    assert sum(size for *_, size in calls) == 5 and len(calls) < 4  # requests shared a call
    shared.close()


def test_answers_without_a_model_are_cached_and_a_memory_unit_of_two_sentences_is_served_whole(
        engine, empty_storage):
    whole = engine.translate("涂布机", "fr", source="zh")
    assert whole == Translation(text="enduiseuse", source="zh", target="fr", route=("zh", "fr"),
                                provenance="glossary", terms=whole.terms,
                                segments=[SegmentResult("涂布机", "enduiseuse", "glossary")])
    assert engine.translate("涂布机", "fr", source="zh") is whole  # the cache's own answer
    two = "Stop the coater. Clean the die lip."
    approved_unit(empty_storage, two, "Arrêtez l'enduiseuse. Nettoyez la lèvre.")
    served = engine.translate(two, "fr", source="en")
    assert (served.text, served.provenance, served.match) == ("Arrêtez l'enduiseuse. Nettoyez la lèvre.", "memory", 100.0)
    assert engine.translate(two, "fr", source="en") is served


def test_a_code_touching_a_term_is_protected_too(engine):
    # Chinese has no spaces: a code glued to a term on either side is a
    # placeholder of its own, not taken for part of the term.
    assert engine._protect("E203涂布机报警", "zh", "en").restore == {1: "E203", 2: "coater"}
    assert engine._protect("涂布机E203报警", "zh", "en").restore == {1: "coater", 2: "E203"}


async def test_close_lets_a_running_batch_finish(engine):
    """At shutdown a batch already on the model thread is finished, not cut
    off: close() returns once it has run. (A close() that did not wait would
    be missed only if the batch ended within its half second first: timing
    can make this test miss that bug, never fail on a correct close.)"""
    started, finished = threading.Event(), threading.Event()
    original = engine._translate_batch

    def slow(model, texts, target):
        started.set()
        threading.Event().wait(0.5)  # a slow model, still at work when close() is called
        out = original(model, texts, target)
        finished.set()
        return out

    engine._translate_batch = slow
    task = asyncio.create_task(engine.atranslate("Check the slitter.", "fr", source="en"))
    await asyncio.get_running_loop().run_in_executor(None, started.wait)
    engine.close()
    assert finished.is_set()
    assert (await task).text == "Check the refendeuse."


def test_an_engine_built_without_options_has_the_bot_s_defaults(tmp_path, glossary, memory, packages):
    """``shopbot eval`` and the tests build engines without options: they
    must translate as the bot does with its default settings. The cache
    keeps the README's 2,048 translations, the least recently used dropped
    first."""
    engine = make_engine(tmp_path, glossary, memory, packages)
    fields = Settings.model_fields
    assert (engine.max_chars, engine.max_loaded, engine.beam_size, engine.threads) == (
        fields["max_message_chars"].default, fields["max_loaded_models"].default,
        fields["beam_size"].default, fields["translate_threads"].default)
    results = [Translation(text=str(n), source="en", target="fr") for n in range(2049)]
    for n, result in enumerate(results):
        engine._remember(("key", n), result)
    engine._remember(("key", 1), results[1])  # used again: now the most recent
    assert list(engine._cache) == [("key", n) for n in range(2, 2049)] + [("key", 1)]
    engine.close()


def test_the_models_run_on_one_thread(tmp_path, glossary, memory, packages):
    """One model thread: CTranslate2 spreads a batch over the cores itself,
    and a second thread would run a batch beside another, or beside a trim
    of freed memory. Work handed to it while it is busy waits: no second
    thread is started (a pool starts its threads as work arrives)."""
    engine = make_engine(tmp_path, glossary, memory, packages)
    before = set(threading.enumerate())
    busy = threading.Event()
    try:
        for _ in range(2):
            engine._executor.submit(busy.wait, 30)
        started = [t.name for t in set(threading.enumerate()) - before]
    finally:
        busy.set()
        engine.close()
    assert started == ["shopbot-translate_0"]

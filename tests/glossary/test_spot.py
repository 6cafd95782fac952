"""Term spotting in free-text chat messages."""

from hypothesis import given, strategies as st


def spots(glossary, text):
    return [(s.text, s.concept_ids[0]) for s in glossary.spot(text)]


def test_mixed_script_message(small):
    text = "涂布机 stopped again, tolong check the tab"
    found = small.spot(text)
    assert [(s.text, s.concept_ids) for s in found] == [("涂布机", ("coater",)), ("tab", ("tab",))]
    for s in found:
        assert text[s.start:s.end] == s.text


def test_latin_terms_need_word_boundaries(small):
    assert spots(small, "stable tab2 tabs xtab") == []
    assert spots(small, "tab, (tab) tab.") == [("tab", "tab")] * 3


def test_no_boundary_needed_for_cjk(small):
    assert spots(small, "코터가 멈췄어요") == [("코터", "coater")]
    assert spots(small, "涂布机tab坏了") == [("涂布机", "coater"), ("tab", "tab")]


def test_longest_match_wins(small):
    assert spots(small, "正极耳断了") == [("正极耳", "positive-tab")]
    assert spots(small, "涂布机") == [("涂布机", "coater")]
    assert spots(small, "the positive tab") == [("positive tab", "positive-tab")]


def test_offsets_survive_normalisation(small):
    text = "Ｌｅ  COATER\u200b est prêt: ÉLECTROLYTE"
    found = small.spot(text)
    assert [s.concept_ids[0] for s in found] == ["coater", "electrolyte"]
    assert [text[s.start:s.end] for s in found] == ["COATER", "ÉLECTROLYTE"]


def test_traditional_input(small):
    assert spots(small, "塗佈機停了") == [("塗佈機", "coater")]


def test_alarm_codes_and_empty(small):
    assert small.spot("") == []
    assert small.spot("E-203 !!! 🔥") == []


@given(st.text(max_size=300))
def test_spot_never_raises_and_offsets_are_sound(small, text):
    last_end = 0
    for s in small.spot(text):
        assert last_end <= s.start < s.end <= len(text)
        assert text[s.start:s.end] == s.text
        last_end = s.end


def test_index_follows_writes(small, empty_storage):
    from glossary import store
    from tests.conftest import concept

    assert small.spot("slitter down") == []
    empty_storage.write(store.upsert_concepts, [concept("slitter", en="slitter", fr="refendeuse",
                                                        zh="分切机", ko="슬리터", ms="mesin belah")], "t")
    assert spots(small, "slitter down") == [("slitter", "slitter")]
    assert small.search("refendeuse")[0].concept.id == "slitter"

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
    assert small.index() is small.index()  # built once, kept while the glossary is unchanged
    before = small.index()
    empty_storage.write(store.upsert_concepts, [concept("slitter", en="slitter", fr="refendeuse",
                                                        zh="分切机", ko="슬리터", ms="mesin belah")], "t")
    assert spots(small, "slitter down") == [("slitter", "slitter")]
    assert small.search("refendeuse")[0].concept.id == "slitter"
    assert small.index() is not before and small.index() is small.index()


def index_of(*terms, rev=0):
    """A TermIndex over (concept id, lang, text) preferred terms, in order."""
    from glossary.index import TermIndex
    from glossary.normalize import normalize

    return TermIndex(((i, cid, lang, "preferred", normalize(text)) for i, (cid, lang, text) in enumerate(terms)),
                     rev)


def test_a_term_glued_to_a_word_is_not_spotted_wherever_it_sits(small):
    # At the very start or end of the message too: "xtab" and "tabs" are other words.
    assert spots(small, "xtab") == [] and spots(small, "tabs") == [] and spots(small, "tabx") == []
    # A rejected hit does not end the search: the tab after it is still found.
    assert spots(small, "xtab tab") == [("tab", "tab")]
    assert spots(small, "tabs tab") == [("tab", "tab")]


def test_an_overlapped_hit_does_not_hide_the_terms_after_it(small):
    # 极耳 (inside 正极耳) loses to the longer term; 涂布, as long as 极耳, still counts.
    assert spots(small, "正极耳和涂布") == [("正极耳", "positive-tab"), ("涂布", "coating")]


def test_every_spelling_carries_its_language_and_type(small):
    [ocv] = small.spot("OCV 低")
    assert ocv.concept_ids == ("ocv",)
    assert sorted((m.lang, m.type) for m in ocv.matches) == [
        (lang, "abbreviation") for lang in ("en", "fr", "ko", "ms", "zh")]
    assert len({m.term_id for m in ocv.matches}) == 5


def test_an_empty_index_spots_nothing():
    empty = index_of()
    assert len(empty) == 0 and empty.spot("coater tab") == [] and empty.spot("") == []
    one = index_of(("tab", "en", "tab"))
    assert [s.text for s in one.spot("the tab")] == ["tab"] and one.spot("") == []


def test_typo_budget_grows_with_the_length_of_the_word():
    """One edit up to 5 letters, two up to 10, three beyond."""
    index = index_of(("anode", "en", "anode"), ("slurry", "en", "slurry"),
                     ("separators", "en", "separators"), ("electrolyte", "en", "electrolyte"))

    def found(query):
        return [(ref.concept_id, reason) for ref, _, reason in index.fuzzy(query)]

    assert found("anoda") == [("anode", "fuzzy")]
    assert found("anxda") == []  # 5 letters, 2 edits
    assert found("slorey") == [("slurry", "fuzzy")]  # 6 letters, 2 edits
    assert found("seperatoes") == [("separators", "fuzzy")]  # 10 letters, 2 edits
    assert found("zeperatoes") == []  # 10 letters, 3 edits
    assert found("elektrolita") == [("electrolyte", "fuzzy")]  # 11 letters, 3 edits
    assert found("alektrolita") == []  # 11 letters, 4 edits
    assert found("anode") == []  # exact: the database reports those
    [(ref, similarity, _)] = index.fuzzy("slorey")
    assert (ref.lang, ref.type, round(similarity, 1)) == ("en", "preferred", 66.7)


def test_nearest_compares_korean_letter_by_letter():
    """The Korean keys are jamo: a query compared with them as syllables is
    like none of them (and the first term, 전선, would come first)."""
    index = index_of(("cable", "ko", "전선"), ("coater", "ko", "코터"), ("electrolyte", "ko", "전해액"),
                     ("tab", "en", "tab"))
    assert index.nearest("전햬액")[0] == "electrolyte"
    assert index.nearest("코타")[0] == "coater"
    assert index.nearest("tap") == ["tab"]  # Latin keys only against Latin
    assert index.nearest("涂布机") == []


def test_nearest_gives_three_concepts_unless_asked_for_more():
    index = index_of(*[(f"c{i}", "en", f"coater{i}") for i in range(6)])
    assert len(index.nearest("coater")) == 3 and len(index.nearest("coater", limit=5)) == 5


def test_typo_search_keeps_its_edit_and_count_limits_and_the_language_filter():
    index = index_of(("anode", "en", "anode"), ("slurry", "en", "slurry"), ("separator", "en", "separator"),
                     ("separator", "fr", "séparateur"), *[(f"c{i}", "en", f"coater{i}") for i in range(6)],
                     ("coated", "en", "coated"), ("coater", "en", "coater"))

    def found(query, **kw):
        return [ref.concept_id for ref, _, _ in index.fuzzy(query, **kw)]

    assert found("anod") == ["anode"]  # one letter shorter: one edit
    # Its letter pairs all occur in "slurry", yet it is four edits away: no typo of it.
    assert found("urrysl") == []
    assert found("seperator", lang="fr") == [] and found("seperator", lang="en") == ["separator"]
    assert found("separateut", lang="fr") == ["separator"]
    # The exact spelling is left to the database; its neighbours still come.
    assert sorted(found("coater")) == ["c0", "c1", "c2", "c3", "c4", "c5", "coated"]
    assert len(found("coaterx", limit=2)) == 2 and len(found("coaterx")) == 8  # coated: two edits


def test_typo_search_skips_keys_too_short_or_too_long_and_caps_its_answer():
    long_term = "a" * 30 + "b" * 34  # 64 letters: the longest key searched
    index = index_of(("tab", "en", "tab"), ("long", "en", long_term), ("longer", "en", long_term + "cccc"),
                     *[(f"c{i}", "en", f"coater{i:02}") for i in range(31)])
    assert index.fuzzy("tap") == []  # three letters: nearly everything is one typo away
    assert [r.concept_id for r, _, _ in index.fuzzy("a" * 29 + "x" + "b" * 34)] == ["long"]
    assert index.fuzzy("a" * 29 + "x" + "b" * 34 + "c") == []  # 65 letters
    assert len(index.fuzzy("coater0x")) == 30  # 31 terms one edit away: 30 by default


def test_homonyms_are_all_found_whichever_row_comes_first():
    # The very first row of the index shares its spelling with a later one.
    index = index_of(("tab", "en", "tab"), ("tab-fr", "fr", "tab"), ("languette", "fr", "languette"))
    [spot] = index.spot("la tab")
    assert spot.concept_ids == ("tab", "tab-fr") and [m.lang for m in spot.matches] == ["en", "fr"]


def test_a_term_with_nothing_left_after_folding_does_not_hide_the_next_ones():
    index = index_of(("blank", "en", "\u200b"), ("tab", "en", "tab"), ("coater", "en", "coater"))
    assert [s.concept_ids for s in index.spot("tab coater \u200b")] == [("tab",), ("coater",)]
    assert [r.concept_id for r, _, _ in index.fuzzy("coatr")] == ["coater"]


def test_nearest_looks_past_the_spellings_of_one_concept():
    # Five spellings of "coater" are the five closest terms: the other
    # concepts still make the "did you mean" list.
    index = index_of(*[("coater", "en", t) for t in ("coater", "coatter", "coaterr", "ccoater", "coaterx")],
                     ("boater", "en", "boater"), ("coating", "en", "coating"))
    assert sorted(index.nearest("coaterz")) == ["boater", "coater", "coating"]


WORDS = ("anode", "tabs", "foil", "slurry", "binder", "mixer", "roller", "winder", "casing", "vent", "cell",
         "module", "pack", "welder", "cutter", "laser", "oven", "dryer", "press", "notch", "stack", "seal",
         "label", "scale", "pump", "valve", "motor", "sensor", "relay", "fuse")


def test_every_one_letter_typo_gets_through_the_bigram_filter():
    """Before scoring, terms are filtered on hashed letter pairs; the filter
    may let extra terms through but must never drop a real typo, whatever
    bits the pairs hash to (Python salts its string hashes per process)."""
    index = index_of(*[(w, "en", w) for w in WORDS])
    for word in WORDS:
        for i in range(len(word)):
            typo = word[:i] + ("q" if word[i] != "q" else "z") + word[i + 1:]
            assert word in [r.concept_id for r, _, _ in index.fuzzy(typo)], typo

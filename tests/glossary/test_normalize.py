import pytest
from hypothesis import given, strategies as st

from glossary.normalize import (flat, has_surrogate, is_han, is_hangul, is_latin, is_word_char, normalize,
                                normalize_map, pinyin_keys, pinyin_query, scrub, to_simplified,
                                script_of, to_jamo)


def test_case_accents_width():
    assert normalize("CALANDRAGE") == "calandrage"
    assert normalize("Électrolyte") == "electrolyte"
    assert normalize("ＯＣＶ") == "ocv"
    assert normalize("E\u0301lectrode") == "electrode"  # combining accent


def test_hangul_is_not_decomposed():
    assert normalize("전해액") == "전해액"
    assert normalize("Ｃ 코터") == "c 코터"


def test_traditional_to_simplified():
    assert normalize("塗佈機") == "涂布机"
    assert normalize("極耳") == "极耳"


def test_invisible_characters_and_spaces():
    assert normalize("\u200bco\u200date\u200er\ufeff") == "coater"
    assert normalize("  roll \t\n to   roll ") == "roll to roll"
    assert normalize("\u202eabc\u202c") == "abc"


def test_dashes_and_flat():
    assert normalize("E–stop") == "e-stop"
    assert flat(normalize("E-stop")) == flat(normalize("e stop")) == "estop"


def test_map_points_back_to_the_original():
    text = "  Ｔａｂ\u200b  e\u0301"
    norm, starts, ends = normalize_map(text)
    assert norm == "tab e"
    assert text[starts[0]:ends[2]] == "Ｔａｂ"
    assert text[starts[4]:ends[4]] == "e\u0301"


def test_scripts():
    assert script_of("涂布机") == "han"
    assert script_of("코터") == "hangul"
    assert script_of("coater") == "latin"
    assert script_of("涂布机 coater") == "mixed"
    assert script_of("123 !") == "other"


def test_pinyin():
    assert pinyin_keys("涂布机") == ("tubuji", "tbj")
    assert pinyin_keys("绿") == ("lu", "l")
    assert pinyin_query(normalize("tú bù jī")) == "tubuji"
    assert pinyin_query("tu2 bu4 ji1") == "tubuji"
    assert pinyin_query("coater!") is None


def test_jamo():
    assert to_jamo("전해액") != to_jamo("전해약")
    assert len(to_jamo("전해액")) == 8


@given(st.text(max_size=300))
def test_normalize_never_raises_and_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once
    norm, starts, ends = normalize_map(text)
    assert norm == once
    assert len(starts) == len(ends) == len(norm)
    assert all(0 <= s < e <= len(text) for s, e in zip(starts, ends))
    assert starts == sorted(starts)


def test_ascii_fast_path_collapses_spaces_too():
    """Printable ASCII takes a fast path: it must fold like the full one."""
    assert normalize("roll  to   roll") == "roll to roll"
    assert normalize(" OCV  check ") == "ocv check"
    assert normalize("E-Stop") == "e-stop"


@given(st.text(alphabet=st.sampled_from("aZ09 -.  "), max_size=30))
def test_ascii_fast_path_agrees_with_the_full_map(text):
    """The property test above seldom draws runs of spaces in plain ASCII:
    this one draws little else."""
    assert normalize(text) == normalize_map(text)[0]


# -- the edges (mutation testing found them untested) -------------------------------

@pytest.mark.parametrize("cp, han", [
    (0x4E00, True), (0x9FFF, True), (0x4DFF, False), (0xA000, False),
    (0x3400, True), (0x4DBF, True), (0x4DC0, False), (0x33FF, False),  # U+4DC0: a hexagram
    (0xF900, True), (0xFAFF, True), (0xF8FF, False), (0xFB00, False),
    (0x20000, True), (0x3134F, True), (0x1FFFF, False), (0x31350, False),
])
def test_han_ranges(cp, han):
    assert is_han(chr(cp)) is han


@pytest.mark.parametrize("cp, hangul", [
    (0xAC00, True), (0xD7A3, True), (0xABFF, False), (0xD7A4, False),
    (0x1100, True), (0x11FF, True), (0x10FF, False), (0x1200, False),
    (0x3130, True), (0x318F, True), (0x312F, False), (0x3190, False),
])
def test_hangul_ranges(cp, hangul):
    assert is_hangul(chr(cp)) is hangul


def test_latin_and_word_characters():
    assert [is_latin(c) for c in "aZé1 -Ωя涂"] == [True, True, True, False, False, False,
                                                   False, False, False]
    assert [is_word_char(c) for c in "a7é -涂"] == [True, True, True, False, False, False]


def test_surrogates_are_scrubbed():
    assert has_surrogate("a\ud800b") and not has_surrogate("a😀b")
    assert scrub("a\ud800b\udfff") == "a\ufffdb\ufffd" and scrub("plain") == "plain"


def test_traditional_conversion_and_scripts():
    assert to_simplified("塗佈機 OK") == "涂布机 OK"
    assert script_of("코터 coater") == "mixed" and script_of("Ωμέγα") == "other"
    assert script_of("e-203") == "latin" and script_of("") == "other"


def test_pinyin_keys_of_mixed_terms():
    assert pinyin_keys("ocv测试") == ("ocvceshi", "ocs")
    assert pinyin_keys("正极耳") == ("zhengjier", "zje")
    assert pinyin_keys("") == ("", "")
    assert pinyin_query("tu'bu ji") == "tubuji"
    assert pinyin_query("12") is None and pinyin_query("") is None


def test_map_spans_of_collapsed_spaces_and_dropped_characters():
    text = "a \t b\u200b"
    norm, starts, ends = normalize_map(text)
    assert norm == "a b"
    assert (starts[1], ends[1]) == (1, 4)  # the one space stands for " \t "
    assert text[starts[2]:ends[2]] == "b"
    norm, starts, ends = normalize_map(" \u0301x  ")
    assert norm == "x" and (starts, ends) == ([2], [3])


def test_spans_cover_combining_accents_and_collapsed_spaces():
    # The folded e covers its combining accent; the one space kept covers the
    # whole run it stands for (the spotter marks the original text with them).
    assert normalize_map("e\u0301x") == ("ex", [0, 2], [2, 3])
    assert normalize_map("ab  c") == ("ab c", [0, 1, 2, 4], [1, 2, 4, 5])
    # The one character that folds to a space *and* a letter (U+037A, Greek
    # ypogegrammeni: " ι"): after a space, its space joins that space and its letter stays.
    assert normalize_map("a \u037a") == ("a ι", [0, 1, 2], [1, 3, 3])

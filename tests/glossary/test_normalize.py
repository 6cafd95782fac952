from hypothesis import given, strategies as st

from glossary.normalize import (flat, normalize, normalize_map, pinyin_keys, pinyin_query,
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

"""handlers/render.py without a bot: every rendering of glossary and user text
is parsed by the fake server's Telegram HTML parser (tests/fake_telegram.py),
and what a person would read is compared with what was stored."""

from __future__ import annotations

import pytest
from aiogram.utils.i18n import I18n
from hypothesis import given, strategies as st

from bot.telegram.texts import DOMAIN, LOCALES, ensure_catalogs
from glossary import Concept, SearchResult, Term
from handlers.render import (LIMIT, MAX_ID, concept_card, concept_details, pack, parse_int,
                             q, quoted_pieces, split_plain)
from tests.fake_telegram import parse_html

HOSTILE = ["<b>coater</b>", "a & b", "x > y < z", "&amp;", "&lt;", '"quoted"', "<script>",
           "\u200bzero\u200dwidth", "涂布机 <i>", "</s>"]


@pytest.fixture(autouse=True, scope="module")
def english():
    ensure_catalogs()
    i18n = I18n(path=LOCALES, default_locale="en", domain=DOMAIN)
    with i18n.context(), i18n.use_locale("en"):
        yield


def hostile_concept(text: str, definition: str, deprecated: str) -> Concept:
    terms = [Term("en", text), Term("en", deprecated, "deprecated"), Term("fr", f"fr {text}"),
             Term("zh", "涂布机"), Term("ko", f"{text} 코터", "admitted"), Term("ms", "mesin")]
    return Concept(id="c-1", category="general", terms=terms,
                   definitions={"en": definition, "fr": f"déf {definition}"}, status="draft")


@pytest.mark.parametrize("text", HOSTILE)
def test_card_and_details_are_valid_html_showing_the_text_as_stored(text):
    concept = hostile_concept(text, f"Definition with {text}", f"old {text}")
    result = SearchResult(concept=concept, score=90, reason="exact", matched=concept.terms[1])
    card = parse_html(concept_card(concept, "en", result))  # raises on bad HTML
    assert card.splitlines()[0] == text  # the preferred term, as written
    assert f"«old {text}» is deprecated" in card and f"say «{text}»" in card
    assert f"Definition with {text}" in card and "(not yet reviewed)" in card
    assert "🇫🇷 fr " + text in card and "🇲🇾 mesin" in card and "🇰🇷 —" in card  # admitted only: no preferred
    details = parse_html(concept_details(concept, "en"))
    assert details.startswith("c-1 · general")
    assert f"old {text} (deprecated)" in details and f"{text} 코터 (admitted)" in details
    assert f"Definition with {text}" in details
    french = parse_html(concept_card(concept, "fr"))
    assert f"déf Definition with {text}" in french and "deprecated" not in french


def test_details_fall_back_to_english_and_mark_deprecated_terms_struck():
    concept = hostile_concept("coater", "Coats foil.", "coating machine")
    html = concept_details(concept, "ko")
    assert "<s>coating machine</s> (deprecated)" in html
    assert parse_html(html).endswith("\nCoats foil.")
    no_definition = Concept(id="c-2", terms=[Term("en", "tab")])
    assert parse_html(concept_details(no_definition, "en")).splitlines()[-1].startswith("🇬🇧 tab")
    reviewed = Concept(id="c-3", terms=[Term("en", "tab")], status="reviewed")
    assert "not yet reviewed" not in concept_card(reviewed, "en")
    assert parse_html(concept_card(Concept(id="c-4", terms=[Term("fr", "languette")]), "en")
                      ).splitlines()[0] == "c-4"  # no English term either: the id


@pytest.mark.parametrize("text, signed, expected", [
    ("42", False, 42), (" 7 ", False, 7), ("-3", True, -3), ("-3", False, None), ("", False, None),
    (None, False, None), ("²", False, None), ("٣", False, None), ("1" * 19, False, None),
    (str(MAX_ID), False, MAX_ID), (str(MAX_ID + 1), False, None), ("4x", False, None),
    ("-", True, None), ("+5", True, None),
])
def test_parse_int(text, signed, expected):
    assert parse_int(text, signed=signed) == expected


def test_parse_int_high():
    assert parse_int("10", high=10) == 10 and parse_int("11", high=10) is None
    assert parse_int("-10", signed=True, high=10) == -10 and parse_int("-11", signed=True, high=10) is None


@given(st.text(alphabet=st.sampled_from("abXY <>&.\n 。!"), max_size=400), st.integers(20, 120))
def test_split_and_quote_keep_every_character_under_the_limit(text, limit):
    pieces = split_plain(text, limit)
    assert all(len(p) <= limit for p in pieces)
    assert "".join(pieces).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")
    quoted = quoted_pieces(text, limit)
    assert all(len(q) <= limit for q in quoted)
    joined = "".join(parse_html(q) for q in quoted if q)
    assert joined.replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")


def test_split_prefers_lines_then_sentences_then_words():
    assert split_plain("a" * 30 + "\n" + "b" * 30, 40) == ["a" * 30, "b" * 30]
    assert split_plain("One two three. Four five six seven.", 20) == ["One two three.", "Four five six seven."]
    assert split_plain("aaaa bbbb cccc dddd", 12) == ["aaaa bbbb", "cccc dddd"]
    assert split_plain("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert split_plain("", 10) == [""] and split_plain("short", 10) == ["short"]


def test_quoting_that_grows_is_split_again():
    text = "&" * 30  # 30 characters, 150 once escaped
    quoted = quoted_pieces(text, 40)
    assert all(len(q) <= 40 for q in quoted) and "".join(parse_html(q) for q in quoted) == text


def test_pack_joins_blocks_under_the_limit():
    assert pack(["a", "b"]) == ["a\n\nb"]
    assert pack(["a" * 10, "b" * 10], limit=21) == ["a" * 10, "b" * 10]
    assert pack(["a" * 10, "b" * 9], limit=21) == ["a" * 10 + "\n\n" + "b" * 9]
    assert pack([]) == [] and pack(["x" * (LIMIT + 5)]) == ["x" * LIMIT]
    assert pack(["a" * 10, "b" * 30, "c"], limit=25) == ["a" * 10, "b" * 25, "c"]


def tab_concept(status: str = "reviewed") -> Concept:
    return Concept(id="tab", category="assembly", status=status, definitions={"en": "A strip."},
                   terms=[Term("en", "tab"), Term("en", "lug", "admitted"), Term("en", "TB", "abbreviation"),
                          Term("en", "ear", "deprecated"), Term("zh", "极耳"), Term("fr", "languette")])


def test_card_and_details_exactly_as_a_reader_gets_them():
    """The whole message, not fragments: a label, separator or blank line
    that changes shows here. Korean reader, no Korean term: the English one
    heads the card, the English definition closes it."""
    concept = tab_concept()
    assert concept_card(concept, "ko") == (
        "<b>tab</b>\n🇨🇳 极耳\n🇰🇷 —\n🇲🇾 —\n🇫🇷 languette\n🇬🇧 tab\n\n<i>A strip.</i>")
    warned = SearchResult(concept=concept, score=50, reason="exact", matched=concept.terms[3])
    assert concept_card(concept, "ko", warned).splitlines()[:2] == [
        "<b>tab</b>", "⚠️ «ear» is deprecated: say «tab»."]
    assert concept_details(concept, "ko") == (
        "<b>tab</b> · assembly\n🇨🇳 极耳\n🇰🇷 —\n🇲🇾 —\n🇫🇷 languette\n"
        "🇬🇧 tab · lug (admitted) · TB (abbreviation) · <s>ear</s> (deprecated)\n\n<i>A strip.</i>")
    assert concept_card(tab_concept("draft"), "zh").splitlines()[0] == "<b>极耳</b>"
    assert concept_card(tab_concept("draft"), "zh").endswith("<i>A strip.</i>\n(not yet reviewed)")


def test_a_language_reviewed_by_a_native_speaker_is_marked():
    """A ✓ after the languages whose terms a reviewer has checked, on the
    card and in the details; the others are drafts and carry none."""
    concept = tab_concept()
    concept.reviews = {"fr": ("lead", "2026-12-01"), "zh": ("lead", "2026-12-01")}
    assert concept_card(concept, "ko") == (
        "<b>tab</b>\n🇨🇳 极耳 ✓\n🇰🇷 —\n🇲🇾 —\n🇫🇷 languette ✓\n🇬🇧 tab\n\n<i>A strip.</i>")
    assert concept_details(concept, "ko").splitlines()[1:5] == ["🇨🇳 极耳 ✓", "🇰🇷 —", "🇲🇾 —", "🇫🇷 languette ✓"]


def test_missing_text_renders_as_nothing():
    assert q(None) == "" and q("") == "" and q("<&>") == "&lt;&amp;&gt;"


def test_a_full_stop_inside_a_number_at_the_limit_is_no_sentence_end():
    # The "." of 3.50 fell on the last character allowed: the cut split the
    # number ("… 3." then "50 euros") although a sentence ended earlier.
    text = "Version 2.0 is out. The price is 3.50 euros today"
    assert split_plain(text, 35) == ["Version 2.0 is out.", "The price is 3.50 euros today"]
    assert split_plain("a" * 30 + " " + "b" * 6 + " 3.14", 40) == ["a" * 30 + " " + "b" * 6, "3.14"]
    # A real sentence end on the last character allowed still cuts there.
    assert split_plain("a" * 30 + " " + "b" * 8 + ". cc", 40) == ["a" * 30 + " " + "b" * 8 + ".", "cc"]
    assert split_plain("a" * 30 + " " + "b" * 8 + "。cc", 40) == ["a" * 30 + " " + "b" * 8 + "。", "cc"]


def test_a_break_right_after_the_last_character_allowed_is_used():
    # "aaaa bbbb" fills the 9 characters: it was cut at the space before
    # (three messages where two do).
    assert split_plain("aaaa bbbb cccc dddd", 9) == ["aaaa bbbb", "cccc dddd"]
    assert split_plain("a" * 25 + " " + "b" * 14 + "\n" + "c" * 10, 40) == ["a" * 25 + " " + "b" * 14, "c" * 10]
    assert split_plain("ab cd", 5) == ["ab cd"]  # what fits is not cut
    assert split_plain("a" * 20 + "\n" + "b" * 30, 40) == ["a" * 20, "b" * 30]  # a line break at half: taken
    assert split_plain("a" * 19 + "\n" + "b" * 30, 40) == ["a" * 19 + "\n" + "b" * 20, "b" * 10]  # below: not
    assert split_plain("a" * 19 + " " + "b" * 30, 40) == ["a" * 19 + " " + "b" * 20, "b" * 10]


def test_quoting_splits_again_only_what_grew_past_the_limit():
    assert quoted_pieces("a&b", 7) == ["a&amp;b"]  # exactly 7 once escaped: one piece
    assert quoted_pieces("a&bc", 7) == ["a", "&amp;", "b", "c"]
    assert quoted_pieces("&&&", 9) == ["&amp;"] * 3  # a fifth of 9 is 1 character


def test_parse_int_is_unsigned_unless_asked_and_caps_the_number_of_digits():
    assert parse_int("-3") is None and parse_int("3") == 3
    assert parse_int("1" * 5000) is None  # int() itself refuses 4,300 digits and more: no ValueError
    # At most 19 digits (SQLite's integers), whatever the bound.
    assert parse_int("9" * 19, high=10**30) == int("9" * 19) and parse_int("1" * 20, high=10**30) is None


def test_a_deprecated_match_of_a_concept_without_any_preferred_term():
    """No preferred term in the reader's language nor in English: the card is
    headed by the id and the warning names no replacement (it must not raise)."""
    concept = Concept(id="c-9", terms=[Term("en", "ear", "deprecated"), Term("fr", "oreille", "admitted")],
                      status="reviewed")
    result = SearchResult(concept=concept, score=50, reason="exact", matched=concept.terms[0])
    assert concept_card(concept, "fr", result).splitlines()[:2] == ["<b>c-9</b>", "⚠️ «ear» is deprecated: say «»."]


def test_split_takes_the_best_break_within_the_limit():
    # The last line break past half the limit, not the first one.
    assert split_plain("a" * 22 + "\n" + "b" * 10 + "\n" + "c" * 20, 40) == ["a" * 22 + "\n" + "b" * 10, "c" * 20]
    assert split_plain("a" * 5 + "\n" + "b" * 25 + "\n" + "c" * 20, 40) == ["a" * 5 + "\n" + "b" * 25, "c" * 20]
    # A line break too early: the sentence end wins over a later space.
    text = "a" * 15 + "\n" + "b" * 13 + ". " + "c" * 4 + " " + "d" * 10
    assert split_plain(text, 40) == ["a" * 15 + "\n" + "b" * 13 + ".", "c" * 4 + " " + "d" * 10]
    # Half of an odd limit: a break at 20 of 41 is taken (line, then space).
    assert split_plain("a" * 20 + "\n" + "b" * 10 + " " + "c" * 15, 41) == ["a" * 20, "b" * 10 + " " + "c" * 15]
    assert split_plain("a" * 20 + " " + "b" * 30, 41) == ["a" * 20, "b" * 30]
    # A break one past the last character allowed is too far.
    assert split_plain("a" * 25 + " " + "b" * 15 + "\n" + "c" * 5, 40) == ["a" * 25, "b" * 15 + "\n" + "c" * 5]
    assert split_plain("a" * 25 + " " + "b" * 15 + " c", 40) == ["a" * 25, "b" * 15 + " c"]
    assert split_plain("a" * 3501) == ["a" * 3500, "a"]  # the default limit


def test_quoted_pieces_cut_at_the_limit_given():
    assert quoted_pieces("aaaa bbbb cccc dddd", 9) == ["aaaa bbbb", "cccc dddd"]
    assert quoted_pieces("&&&&", 10) == ["&amp;&amp;"] * 2  # split again at 2 characters: two pieces, not three


def test_a_sentence_ending_at_half_the_limit_beats_a_later_space():
    # It was looked for from half the limit on, so one ending exactly there was missed.
    assert split_plain("a" * 19 + ". " + "b" * 10 + " " + "c" * 15, 40) == ["a" * 19 + ".", "b" * 10 + " " + "c" * 15]


def test_only_line_breaks_and_spaces_are_dropped_at_a_cut():
    assert split_plain("a" * 20 + "\n\t" + "b" * 25, 40) == ["a" * 20, "\t" + "b" * 25]
    assert split_plain("a" * 20 + "\nXX" + "b" * 25, 40) == ["a" * 20, "XX" + "b" * 25]

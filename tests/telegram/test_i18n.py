"""The interface catalogues (bot/locales/*/LC_MESSAGES/shopbot.po).

They must cover every string the code marks for translation, keep what the
code and Telegram rely on (``{placeholders}``, HTML tags, ``/commands``), and
load through aiogram's I18n once compiled. Nothing here needs ``make``: the
strings are extracted from the sources and the catalogues compiled in memory
or into a temporary directory.
"""

from __future__ import annotations

import gettext
import io
import re
import string
from collections import Counter
from pathlib import Path

import pytest
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as aiogram_gettext
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "bot" / "locales"
DOMAIN = "shopbot"
TRANSLATED = ("fr", "zh", "ko", "ms")
ALL = TRANSLATED + ("en",)
# The same keywords as the pybabel command in the task: -k adds to Babel's defaults.
KEYWORDS = {**DEFAULT_KEYWORDS, "_": None, "__": None, "gettext": None, "N_": None}

TAG = re.compile(r"</?[A-Za-z][^<>]*>")
ENTITY = re.compile(r"&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);")
# A bot command as Telegram sees it: not glued to a letter, digit or "/" on
# either side (a CJK or Hangul character counts as a letter: "用/tr" or
# "/tr로" would not be a tappable command), not inside a closing tag.
COMMAND = re.compile(r"(?<![\w/<])/[A-Za-z][A-Za-z0-9_]*(?!\w)")
OPTIONS = re.compile(r"\[[^\[\]]*\]")  # literal argument choices: [auto|off]


def _msgid(message) -> str:
    return message[0] if isinstance(message, (tuple, list)) else message


def extracted_msgids() -> set[str]:
    ids = {_msgid(m) for _, _, m, _, _ in extract_from_dir(
        ROOT / "handlers", method_map=[("**.py", "python")], keywords=KEYWORDS)}
    ids |= {_msgid(m) for _, _, m, _, _ in extract_from_dir(
        ROOT / "bot" / "telegram", method_map=[("**.py", "python")], keywords=KEYWORDS)}
    ids.discard("")
    return ids


def load(lang: str) -> Catalog:
    with (LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as f:
        return read_po(f, locale=lang)


def compile_mo(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog)
    return buf.getvalue()


@pytest.fixture(scope="module")
def source_ids() -> set[str]:
    ids = extracted_msgids()
    assert len(ids) > 30, "the extractor found almost nothing: wrong paths or keywords?"
    return ids


@pytest.fixture(scope="module")
def catalogs() -> dict[str, Catalog]:
    return {lang: load(lang) for lang in ALL}


def pairs(catalog: Catalog):
    for message in catalog:
        if message.id:
            yield message.id, message.string


def fields(text: str) -> Counter:
    return Counter(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


# -- the catalogues are current ------------------------------------------------

def test_template_is_current(source_ids):
    with (LOCALES / f"{DOMAIN}.pot").open("rb") as f:
        template = {m.id for m in read_po(f) if m.id}
    assert source_ids - template == set(), "re-extract bot/locales/shopbot.pot"


@pytest.mark.parametrize("lang", ALL)
def test_every_source_string_is_in_the_catalogue(catalogs, source_ids, lang):
    catalog = catalogs[lang]
    missing = sorted(i for i in source_ids if i not in catalog)
    assert missing == [], f"pybabel update, then translate, for {lang}: {missing}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_source_string_is_translated(catalogs, source_ids, lang):
    catalog = catalogs[lang]
    empty = sorted(i for i in source_ids if i in catalog and not catalog[i].string)
    fuzzy = sorted(m.id for m in catalog if m.id and m.fuzzy)
    assert empty == [], f"untranslated in {lang}: {empty}"
    assert fuzzy == [], f"fuzzy in {lang}: {fuzzy}"


def test_english_falls_back_to_the_msgid(catalogs):
    assert [i for i, s in pairs(catalogs["en"]) if s] == []


def test_catalogue_headers(catalogs):
    for lang, catalog in catalogs.items():
        assert str(catalog.locale) == lang
        assert catalog.charset.lower() == "utf-8"


# -- what the code and Telegram rely on ----------------------------------------

@pytest.mark.parametrize("lang", TRANSLATED)
def test_placeholders_are_kept(catalogs, lang):
    for msgid, msgstr in pairs(catalogs[lang]):
        assert fields(msgstr) == fields(msgid), (lang, msgid, msgstr)
        # .format() with the msgid's names must work (no stray brace).
        msgstr.format(**{name: "x" for name in fields(msgid)})


@pytest.mark.parametrize("lang", TRANSLATED)
def test_html_is_kept_and_safe(catalogs, lang):
    for msgid, msgstr in pairs(catalogs[lang]):
        assert TAG.findall(msgstr) == TAG.findall(msgid), (lang, msgid, msgstr)
        # Replies use parse_mode=HTML: a stray < > or & would be rejected.
        bare = ENTITY.sub("", TAG.sub("", msgstr))
        assert not set("<>&") & set(bare), (lang, msgstr)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_commands_and_options_are_kept(catalogs, lang):
    for msgid, msgstr in pairs(catalogs[lang]):
        assert Counter(COMMAND.findall(msgstr)) == Counter(COMMAND.findall(msgid)), (lang, msgid, msgstr)
        assert Counter(OPTIONS.findall(msgstr)) == Counter(OPTIONS.findall(msgid)), (lang, msgid, msgstr)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_line_structure_is_kept(catalogs, lang):
    for msgid, msgstr in pairs(catalogs[lang]):
        assert msgstr.count("\n") == msgid.count("\n"), (lang, msgid)
        assert msgstr == msgstr.strip() or msgid != msgid.strip(), (lang, msgid)


# -- compiled, they translate --------------------------------------------------

KNOWN = {
    "fr": ("More", "En savoir plus"),
    "zh": ("More", "更多"),
    "ko": ("More", "더 보기"),
    "ms": ("More", "Lagi"),
}


@pytest.mark.parametrize("lang", TRANSLATED)
def test_compiled_catalogue_translates(catalogs, lang):
    translations = gettext.GNUTranslations(io.BytesIO(compile_mo(catalogs[lang])))
    msgid, expected = KNOWN[lang]
    assert translations.gettext(msgid) == expected
    for msgid in ("I can only read text messages.",
                  "Usage: /term WORD, e.g. /term coater",
                  "Welcome! Your role: {role}. Which language shall I speak?"):
        assert translations.gettext(msgid) not in ("", msgid), (lang, msgid)
    text = translations.gettext("Removed {id}.").format(id=4242)
    assert "4242" in text and text != "Removed 4242."
    # An unknown string comes back as it is.
    assert translations.gettext("no such message") == "no such message"


@pytest.fixture(scope="module")
def compiled_locales(tmp_path_factory, catalogs) -> Path:
    """A copy of bot/locales holding only compiled .mo files."""
    root = tmp_path_factory.mktemp("locales")
    for lang, catalog in catalogs.items():
        target = root / lang / "LC_MESSAGES"
        target.mkdir(parents=True)
        (target / f"{DOMAIN}.mo").write_bytes(compile_mo(catalog))
    return root


def test_aiogram_i18n_loads_the_catalogues(compiled_locales):
    i18n = I18n(path=compiled_locales, default_locale="en", domain=DOMAIN)
    assert set(i18n.available_locales) == set(ALL)
    assert i18n.gettext("I can only read text messages.", locale="fr") == \
        "Je ne peux lire que les messages texte."
    assert i18n.gettext("Choose my language:", locale="en") == "Choose my language:"
    assert i18n.gettext("Choose my language:", locale="de") == "Choose my language:"
    # The handlers' module-level gettext follows the middleware's locale.
    with i18n.context():
        for lang, (msgid, expected) in KNOWN.items():
            with i18n.use_locale(lang):
                assert aiogram_gettext(msgid) == expected
        with i18n.use_locale("en"):
            assert aiogram_gettext("More") == "More"

"""The web app's interface texts are in the bot's five catalogues (one source
of text): every string the templates and bot/web mark with ``_()`` or pass
to ``error_page`` is translated into fr, zh, ko and ms, placeholders kept."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "bot" / "web"
LOCALES = ROOT / "bot" / "locales"


def web_msgids() -> set[str]:
    ids: set[str] = set()
    for template in (WEB / "templates").glob("*.html"):
        text = template.read_text()
        ids |= set(re.findall(r'_\("((?:[^"\\]|\\.)*)"\)', text))
        ids |= set(re.findall(r"_\('((?:[^'\\]|\\.)*)'\)", text))
    for module in WEB.glob("*.py"):
        text = module.read_text()
        ids |= set(re.findall(r'error_page\(request, [^,]+, "((?:[^"\\]|\\.)*)"', text))
        ids |= set(re.findall(r'\bN_\("((?:[^"\\]|\\.)*)"\)', text))
        for block in re.findall(r"_(?:LINK|INVITE)_ERRORS = \{(.*?)\}", text, re.S):
            ids |= set(re.findall(r':\s*"((?:[^"\\]|\\.)*)"', block))
    return ids


def fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_the_extractor_finds_the_strings():
    ids = web_msgids()
    assert len(ids) > 50 and "Sign in" in ids and "This sign-in link is not valid." in ids


@pytest.mark.parametrize("lang", ["fr", "zh", "ko", "ms"])
def test_every_web_string_is_translated(lang):
    with (LOCALES / lang / "LC_MESSAGES" / "shopbot.po").open("rb") as f:
        catalog = read_po(f, locale=lang)
    missing = sorted(i for i in web_msgids() if i not in catalog or not catalog[i].string)
    assert missing == []
    for msgid in web_msgids():
        assert fields(catalog[msgid].string) == fields(msgid), msgid

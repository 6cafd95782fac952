"""One word per notion in the interface (issue 14): a fix, a lead, a trainer…
are called the same in every message of a language, so that an operator
learns one word for each. The approved word per language is set here; a
message whose English names the notion must use it (unless it is listed as
leaving the notion out), and no message may use a competing word."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

LOCALES = Path(__file__).resolve().parents[2] / "bot" / "locales"
LANGS = ("fr", "zh", "ko", "ms")

# notion: English pattern (on the msgid, /commands removed),
#         approved word per language, competing words per language,
#         msgids whose translation may leave the notion out.
NOTIONS = {
    "fix": (
        r"\bfix(es|\(es\))?\b",
        {"fr": r"\bsolutions?\b", "zh": "故障处理方法", "ko": "해결 방법", "ms": r"\bpenyelesaian\b"},
        {"fr": r"\bfiches?\b|\bcorrectifs?\b", "zh": r"解决方案|解决办法|(?<!处理)(?<!作业)方法",
         "ko": "해결책|솔루션", "ms": r"\bpembaikan\b"},
        {"That is the most photos a fix can have. /skip to continue.",
         "That is the most steps a fix can have. /done to continue."},
    ),
    "lead": (
        r"\bleads?\b|\blead's\b",
        {"fr": r"\bchefs? d'équipe\b", "zh": "班组长", "ko": "팀장", "ms": r"\bketua pasukan\b"},
        {"fr": r"\bresponsables?\b|\bcontremaîtres?\b", "zh": "负责人|组长(?<!班组长)|主管",
         "ko": "리더|반장", "ms": r"\bketua\b(?! pasukan)|\bpenyelia\b"},
        set(),
    ),
    "trainer": (
        r"\btrainers?\b|\btrainer\(s\)",
        {"fr": r"\bformateurs?\b|\bformateur\(s\)", "zh": "培训师", "ko": "트레이너", "ms": r"\bjurulatih\b"},
        {"fr": r"\binstructeurs?\b|\bmoniteurs?\b", "zh": "教练|讲师|培训员", "ko": "강사|교육 담당",
         "ms": r"\bpelatih\b|\bpengajar\b"},
        set(),
    ),
    "operator": (
        r"\boperators?\b",
        {"fr": r"\bopérateurs?\b", "zh": "操作员", "ko": "작업자", "ms": r"\boperator\b"},
        {"fr": r"\bconducteurs? de ligne\b", "zh": "操作工", "ko": "오퍼레이터|운전원", "ms": r"\bpengendali\b"},
        set(),
    ),
    "alarm code": (
        r"\balarm codes?\b",
        {"fr": r"\bcodes? d'alarme\b", "zh": "报警代码", "ko": "알람 코드", "ms": r"\bkod penggera\b"},
        {"fr": r"\bcodes? (?:de )?défaut\b|\bcodes? alarme\b", "zh": "告警代码|报警码|故障代码",
         "ko": "경보 코드|알람코드", "ms": r"\bkod (?:amaran|alarm)\b"},
        set(),
    ),
    "glossary": (
        r"\bglossary\b",
        {"fr": r"\bglossaire\b", "zh": "术语", "ko": "용어", "ms": r"\bglosari\b"},
        {"fr": r"\blexique\b", "zh": "词汇表|术语库", "ko": "용어 사전", "ms": r"\bkamus\b|\bdaftar istilah\b"},
        {"Only trainers, leads and admins can suggest glossary terms."},
    ),
    "term": (
        r"\bterms?\b|\bTERM\b",
        {"fr": r"\btermes?\b", "zh": "术语", "ko": "용어", "ms": r"\bistilah\b"},
        {"fr": r"\bvocables?\b", "zh": "词条", "ko": "낱말", "ms": r"\bperistilahan\b"},
        {"Glossary: {terms}", "«{term}» is deprecated: say «{preferred}».",
         "⚠ «{term}» can mean {options}: the translation did not choose, check which is meant."},
    ),
    "admin": (
        r"\badmins?\b",
        {"fr": r"\badministrateurs?\b", "zh": "管理员", "ko": "관리자", "ms": r"\bpentadbir\b"},
        {"fr": r"\badmins?\b", "zh": "管理者", "ko": "어드민|운영자", "ms": r"\badmin\b"},
        set(),
    ),
    "step": (
        r"\bsteps?\b",
        {"fr": r"\bétapes?\b", "zh": "步", "ko": "단계", "ms": r"\blangkah\b"},
        {"fr": r"\bphases?\b", "zh": "环节", "ko": "스텝", "ms": r"\bperingkat\b"},
        {"New fix. Which equipment? Type a word, e.g. coater. /cancel stops at any step."},
    ),
}

COMMAND = re.compile(r"(?<![\w/<])/[A-Za-z][A-Za-z0-9_]*")
ROLE_LIST = re.compile(r"\((?:operator|trainer|lead)(?:, (?:operator|trainer|lead))*\)")


FIELD = re.compile(r"\{\w*\}")


def _plain(text: str) -> str:
    """Commands, {fields} and the role keywords of /invite are not words of the language."""
    return ROLE_LIST.sub("", FIELD.sub("", COMMAND.sub("", text)))


@pytest.fixture(scope="module")
def catalogs():
    out = {}
    for lang in LANGS:
        with (LOCALES / lang / "LC_MESSAGES" / "shopbot.po").open("rb") as f:
            out[lang] = {m.id: m.string for m in read_po(f, locale=lang) if m.id and m.string}
    return out


@pytest.mark.parametrize("notion", NOTIONS)
@pytest.mark.parametrize("lang", LANGS)
def test_the_approved_word_is_used(catalogs, notion, lang):
    english, approved, _, exempt = NOTIONS[notion]
    wrong = [(msgid, msgstr) for msgid, msgstr in catalogs[lang].items()
             if re.search(english, _plain(msgid)) and msgid not in exempt
             and not re.search(approved[lang], _plain(msgstr), re.IGNORECASE)]
    assert wrong == [], f"{lang}: say {approved[lang]!r} for «{notion}» in: {wrong}"


@pytest.mark.parametrize("notion", NOTIONS)
@pytest.mark.parametrize("lang", LANGS)
def test_no_competing_word(catalogs, notion, lang):
    competing = NOTIONS[notion][2][lang]
    found = [msgstr for msgstr in catalogs[lang].values() if re.search(competing, _plain(msgstr), re.IGNORECASE)]
    assert found == [], f"{lang}: «{notion}» has one word, {NOTIONS[notion][1][lang]!r}: {found}"


def test_the_table_finds_something(catalogs):
    """Guards the patterns themselves: each notion is named in some message."""
    for notion, (english, *_rest) in NOTIONS.items():
        assert any(re.search(english, _plain(m)) for m in catalogs["fr"]), notion

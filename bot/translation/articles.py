"""French articles fitted to the noun that follows them.

When the engine puts an enforced term into model output, the model chose the
article for whatever it saw (a placeholder, or another word): « le [T1] »
becomes « le enduiseuse ». ``fit_article`` rewrites the article that ends the
text before the term so that it agrees with the term's gender and first sound:

    le/la/l'       du/de la/de l'      au/à la/à l'
    ce/cet/cette   un/une              de/d' (the preposition alone)
    (ces, les, des, aux: plural, unchanged)

Elision depends only on the first sound, so it is done even when the term's
gender is unknown; le ↔ la needs the gender, and is left alone without it.

*h aspiré*: a word starting with an h aspiré takes no elision (« la haute
tension », not « l'haute tension »). It is rare in this domain; the few such
words that can start a plant term are listed in ``H_ASPIRE``. Every other h is
mute (« l'humidité », « l'huile »).
"""

from __future__ import annotations

import re

#: Words starting with an h aspiré that can head a term here. Extend as needed.
H_ASPIRE = frozenset({
    "haut", "haute", "hauts", "hautes", "hauteur", "hors", "hotte", "housse", "hausse",
    "hachure", "hall", "hangar", "hublot", "heurt", "hache", "harnais", "hayon",
})

_VOWELS = set("aeiouàâäéèêëîïôöùûüœæAEIOUÀÂÄÉÈÊËÎÏÔÖÙÛÜŒÆ")

# The article that ends the text before the term. Longer forms first, so that
# « de la » is not read as « la ». Not after a letter: « cela » is no « la ».
_ARTICLE_RE = re.compile(
    r"(?<![\w'’])(de\s+la|de\s+l['’]|de\s+le|à\s+la|a\s+la|à\s+l['’]|a\s+l['’]|à\s+le|"
    r"du|au|la|le|l['’]|cette|cet|ce|une|un|de|d['’])(\s*)$",
    re.IGNORECASE,
)

# Family of each form: which article it is, whatever gender it was written for.
_FAMILY = {
    "le": "def", "la": "def", "l": "def",
    "du": "de", "de la": "de", "de l": "de", "de le": "de",
    "au": "a", "à la": "a", "a la": "a", "à l": "a", "a l": "a", "à le": "a",
    "ce": "dem", "cet": "dem", "cette": "dem",
    "un": "indef", "une": "indef",
    "de": "prep", "d": "prep",  # « pas de bande », « rouleau d'enduiseuse »
}

# (family, gender or None, elided) → form. None where the form cannot be known.
_FORMS = {
    ("prep", None, False): "de", ("prep", None, True): "d'",
    ("def", "m", False): "le", ("def", "f", False): "la", ("def", None, True): "l'",
    ("de", "m", False): "du", ("de", "f", False): "de la", ("de", None, True): "de l'",
    ("a", "m", False): "au", ("a", "f", False): "à la", ("a", None, True): "à l'",
    ("dem", "m", False): "ce", ("dem", "m", True): "cet", ("dem", "f", False): "cette",
    ("dem", "f", True): "cette",
    ("indef", "m", False): "un", ("indef", "f", False): "une",
    ("indef", "m", True): "un", ("indef", "f", True): "une",
}


def elides(word: str) -> bool:
    """Whether an article elides before ``word`` (starts with a vowel sound)."""
    word = word.lstrip("«“\"( ")
    if not word:
        return False
    if word[0] in _VOWELS:
        return True
    if word[0] in "hH":
        head = re.split(r"[\s'’-]", word, maxsplit=1)[0].lower()
        return head not in H_ASPIRE
    return False


def fit_article(before: str, term: str, gender: str | None) -> str:
    """``before`` with the French article that ends it fitted to ``term``.

    ``before`` is the output up to where ``term`` goes; text without an article
    at its end is returned unchanged, and so is an article whose right form
    cannot be told (le ↔ la with no gender, cet/ce of unknown gender)."""
    m = _ARTICLE_RE.search(before)
    if m is None:
        return before
    written, space = m.group(1), m.group(2)
    elided_written = written[-1] in "'’"
    if elided_written:
        space = ""  # « l'enduiseuse »: no space after an apostrophe
    key = re.sub(r"\s+", " ", written.lower()).rstrip("'’")
    family = _FAMILY.get(key)
    if family is None:
        return before
    elide = elides(term)
    if gender not in ("m", "f"):
        gender = None
    form = _FORMS.get((family, None, elide)) if family in ("def", "de", "a") and elide else None
    if family == "prep":  # the preposition alone: elision only, no gender
        form = _FORMS[(family, None, elide)]
    if form is None and gender is not None:
        form = _FORMS.get((family, gender, elide if family in ("dem", "indef") else False))
    if form is None:
        return before
    if form.endswith("'"):
        apostrophe = "’" if "’" in written else "'"
        form = form[:-1] + apostrophe
        space = ""
    elif elided_written or not space:
        space = " "
    if written[:1].isupper():
        form = form[0].upper() + form[1:]
    return before[:m.start(1)] + form + space

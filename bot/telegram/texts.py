"""The interface texts: where the catalogues live, how they are compiled,
and ``N_`` to mark a string for extraction without translating it yet.

Handlers import from here, never from the wiring (``bot.telegram.wiring``
imports ``handlers``; the other way round would be a circle). It imports no
aiogram, so the coming web app can share the same catalogue.
"""

from __future__ import annotations

from pathlib import Path

#: bot/locales/<lang>/LC_MESSAGES/shopbot.po, one catalogue for every front end.
LOCALES = Path(__file__).resolve().parents[1] / "locales"
DOMAIN = "shopbot"


def N_(message: str) -> str:
    """Mark a string for extraction into the catalogues; translated later."""
    return message


#: Shown under a translation for each source term that names several concepts
#: the sentence did not decide between (the engine left it to the model).
AMBIGUOUS_TERM = N_("⚠ «{term}» can mean {options}: the translation did not choose, check which is meant.")


def ensure_catalogs(locales: Path = LOCALES) -> None:
    """Compile any interface catalogue (.po) newer than its .mo.

    ``make`` compiles them at install; this covers a plain ``pip install`` and
    a .po edited since."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in locales.glob(f"*/LC_MESSAGES/{DOMAIN}.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f)
        tmp = mo.with_suffix(".mo.tmp")
        with tmp.open("wb") as f:
            write_mo(f, catalog)
        tmp.replace(mo)


#: Why a photo is refused (``bot.vision.prepare.ImageRefused.reason``), for
#: the bot and the web alike; anything else is "not a photo we read".
PHOTO_REFUSED = {
    "too-large": N_("This photo is too large (over 10 MB). Send a smaller one."),
    "too-many-pixels": N_("This image has too many pixels (over 40 megapixels). Send a smaller one."),
    "too-small": N_("This image is too small to read."),
    "empty": N_("This file is empty."),
}
PHOTO_UNREADABLE = N_("This is not a photo I can read (JPEG, PNG or WebP).")

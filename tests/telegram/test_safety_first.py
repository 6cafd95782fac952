"""Safety notes come first on every fix card, before step 1: in the bot's
card (every step page), in the full preview, and in ``shopbot fixes search``."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.test_fixes_cli import imported  # noqa: F401 - fixture


@pytest.fixture
def english():
    from aiogram.utils.i18n import I18n

    from bot.telegram.texts import LOCALES

    i18n = I18n(path=LOCALES, default_locale="en", domain="shopbot")
    with i18n.context(), i18n.use_locale("en"):
        yield


def card(**kw):
    fields = dict(id=1, symptom="Coater web tension alarm", cause="Dancer roll stuck",
                  steps=["Stop the line", "Free the dancer roll", "Restart"],
                  safety=["Lock out and tag out first", "Cut-resistant gloves"], codes=["E-203"],
                  sample=True, in_reader_lang=True, kind="original", lang="en", worked=0, failed=0)
    fields.update(kw)
    return SimpleNamespace(**fields)


@pytest.mark.parametrize("step", [1, 2, 3])
def test_every_step_page_shows_the_safety_notes_above_the_step(english, step):
    from handlers.fixes import card_text

    text = card_text(card(), step)
    lockout, gloves = text.index("Lock out and tag out first"), text.index("Cut-resistant gloves")
    assert lockout < gloves < text.index(f"Step {step} of 3")


def test_a_long_card_still_keeps_safety_before_the_step(english):
    from handlers.fixes import card_text

    text = card_text(card(steps=["x" * 3000], safety=["Lock out " + "y" * 2000]), 1)
    assert text.index("Lock out") < text.index("Step 1 of 1")


def test_the_full_preview_puts_safety_before_step_1(english):
    from handlers.fixes import full_blocks

    blocks = "\n".join(full_blocks("symptom", "cause", ["first step"], ["LOTO"], [], "coater"))
    assert blocks.index("LOTO") < blocks.index("first step")


def test_the_cli_prints_safety_before_the_steps(run, imported):  # noqa: F811
    result = run("fixes", "search", "ZQ 9001")
    assert result.exit_code == 0, result.output
    assert result.output.index("挂牌上锁") < result.output.index("停机")

"""The bot's side of the dashboard's counts (issue 12): lookups and
translations made through the real bot (fake Bot API server) are counted
per day and language, and reach the dashboard's figures."""

from __future__ import annotations

from bot.insight.dashboard import figures, parse_period

from .test_bot import GROUP, ADMIN, copy_packages, harness  # noqa: F401 - fixtures


def today_counts(app, series: str) -> dict[str, int]:
    app.usage.flush()  # written a second after the first count: now, here
    f = app.storage.read(figures, parse_period())
    return {lang: values[-1] for lang, values in getattr(f, series).groups.items() if values[-1]}


async def test_private_lookups_and_translations_are_counted(harness):
    async with harness.running():
        await harness.invite("operator", 80, language_code="ko")
        await harness.ask(80, 80, "coater", language_code="ko")  # found
        await harness.ask(80, 80, "/term zzqxvw", language_code="ko")  # not found: counted too
        await harness.ask(80, 80, "Stop the machine.", language_code="ko")  # memory, to ko
        await harness.ask(80, 80, "/to fr", language_code="ko")
        await harness.ask(80, 80, "The coater tab is torn near line 3, check it.", language_code="ko")
        await harness.ask(80, 80, "E-17 !", language_code="ko")  # nothing to translate: not counted
        await harness.settled()
        assert today_counts(harness.app, "lookups") == {"ko": 2}
        assert today_counts(harness.app, "translations") == {"ko": 1, "fr": 1}


async def test_group_translations_are_counted_per_target_language(harness):
    tg = harness.tg
    async with harness.running():
        tg.my_chat_member(GROUP, ADMIN)
        await tg.wait_for("sendMessage", predicate=lambda c: c.params.get("chat_id") == GROUP)
        await harness.ask(GROUP, ADMIN, "/setup fr zh en auto", chat_type="supergroup")
        before = len(tg.sent(GROUP))
        tg.message(GROUP, 60, "涂布机的极耳断了，请检查 E-17。", chat_type="supergroup")
        await harness.replies(GROUP, before)
        await harness.settled()
        # into French and English; not into Chinese, the message's own language
        assert today_counts(harness.app, "translations") == {"fr": 1, "en": 1}

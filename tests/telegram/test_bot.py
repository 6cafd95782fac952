"""The Telegram bot end to end: a real Dispatcher polls a fake Bot API server
(tests/fake_telegram.py) over real HTTP; the services are the real ones, with
tiny copy-model translation packages installed."""

from __future__ import annotations

import asyncio
import contextlib
import shutil

import pytest

from bot.app import App
from bot.config import Settings
from bot.translation.models import ModelStore
from bot.people.directory import People
from bot.telegram.wiring import build_bot, build_dispatcher
from tests.fake_telegram import FakeTelegram, polling

ADMIN = 1001
GROUP = -100555
PAIRS = ("en_fr", "zh_en", "en_zh", "ko_en", "en_ko", "fr_en", "ms_en", "en_ms")


@pytest.fixture(scope="module")
def copy_packages(tmp_path_factory):
    from tests.argos_factory import build_package

    root = tmp_path_factory.mktemp("bot-packages")
    return [build_package(root / pair, *pair.split("_"), copy=True) for pair in PAIRS]


class Harness:
    """One bot process: App + Dispatcher + Bot, polling the fake server."""

    def __init__(self, tg: FakeTelegram, db, models_dir):
        self.tg = tg
        self.settings = Settings(db=db, models_dir=models_dir)
        self.app = App(self.settings)
        self.dp = build_dispatcher(self.app)
        self.bot = build_bot(tg.token, tg.url)
        self.people: People = self.dp["people"]

    @contextlib.asynccontextmanager
    async def running(self):
        await self.people.ensure_admins([ADMIN])
        async with polling(self.tg, self.dp, self.bot):
            yield self

    async def ask(self, chat_id, user_id, text, *, count=1, timeout=10, **kw) -> list[str]:
        """Send a message; return the texts of the next ``count`` bot messages in that chat."""
        before = len(self.tg.sent(chat_id))
        self.tg.message(chat_id, user_id, text, **kw)
        return await self.replies(chat_id, before, count, timeout)

    async def replies(self, chat_id, before, count=1, timeout=10) -> list[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.tg.sent(chat_id)) < before + count:
            if loop.time() > deadline:
                raise AssertionError(f"no reply in chat {chat_id}; calls: {[c.method for c in self.tg.calls]}")
            await asyncio.sleep(0.02)
        return [p["text"] for p in self.tg.sent(chat_id)[before:before + count]]

    async def invite(self, role: str, user_id: int, language_code="en") -> None:
        [text] = await self.ask(ADMIN, ADMIN, f"/invite {role}")
        code = text.split("/start ", 1)[1].split("<", 1)[0].split()[0]
        await self.ask(user_id, user_id, f"/start {code}", language_code=language_code)

    async def settled(self, timeout: float = 10) -> None:
        """Every update sent so far was fetched, confirmed and fully handled:
        what has not been answered by now will not be (no sleep as proof)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        in_flight = self.dp["in_flight"]
        while self.tg.pending_updates or any(not t.done() for t in in_flight.tasks):
            if loop.time() > deadline:
                raise AssertionError(f"not settled: {self.tg.pending_updates} updates pending")
            await asyncio.sleep(0.02)

    def lift_flood_limit(self) -> None:
        """For a test that sends more than 20 updates in 30 s on purpose (the
        limit itself is tested in test_flood_limit_answers_once)."""
        from bot.telegram.wiring import FloodLimit

        [flood] = [m for m in self.dp.message.outer_middleware if isinstance(m, FloodLimit)]
        flood.rate = 1000

    def close(self):
        self.app.close()


@pytest.fixture
async def harness(tmp_path, seeded_template, copy_packages):
    db = tmp_path / "bot.db"
    shutil.copy(seeded_template, db)
    ModelStore(tmp_path / "models").install(copy_packages)
    async with FakeTelegram() as tg:
        h = Harness(tg, db, tmp_path / "models")
        yield h
        h.close()


# -- access --------------------------------------------------------------------

async def test_stranger_gets_one_polite_message_and_nothing_else(harness):
    tg = harness.tg
    async with harness.running():
        [text] = await harness.ask(7, 7, "coater", language_code="fr")
        assert "code" in text.lower() and "/start" in text
        assert "enduiseuse" not in text
        before = len(tg.sent(7))
        tg.message(7, 7, "The coater stopped, translate please", language_code="fr")
        tg.inline_query(7, "coater")
        [call] = await tg.wait_for("answerInlineQuery")
        await harness.settled()  # every update handled: what was not sent will not be
        assert len(tg.sent(7)) == before  # answered once, then quiet
        assert call.params["results"] in ([], "[]")


@pytest.mark.parametrize("first", ["/start", "/help", "/lang", "/fix coater", "/nonsense"])
async def test_a_strangers_command_gets_the_polite_message_once(harness, first):
    """/start and /help used to get no answer at all: the common router matched
    them and returned early, and aiogram stops at the first match."""
    tg = harness.tg
    async with harness.running():
        [text] = await harness.ask(8, 8, first, language_code="fr")
        assert "/start" in text and "code" in text.lower()
        assert "accès" in text.lower() or "invitation" in text.lower()  # in the stranger's language
        before = len(tg.sent(8))
        for again in ("/start", "/help", "coater"):
            tg.message(8, 8, again, language_code="fr")
        await harness.settled()
        assert len(tg.sent(8)) == before  # then quiet
        assert await harness.people.get(8) is None


FORGED = ["fxo:²", "fxo:٣", "fx:²:1", "fx:1:²", "fxv:²:1", "fxk:²:fr", "fxc:²:fr", "fxw:²",
          "rv:f:²:a", "rv:s:²:r", "more:²", "more:99999999999999999999", "fxo:-1", "lang:²", "fxq"]


async def test_odd_digits_surrogates_and_forged_buttons_never_crash_a_handler(harness, caplog):
    """str.isdigit() accepted '²' and int() then raised; a 20-digit id
    overflowed SQLite; a lone surrogate failed the missing-query log. Each
    crashed its handler with a traceback and no reply."""
    import logging

    tg = harness.tg
    caplog.set_level(logging.WARNING)
    async with harness.running():
        await harness.invite("trainer", 95)
        harness.lift_flood_limit()
        for data in FORGED:  # every button press gets its answer (the spinner stops)
            before = len(tg.calls)
            tg.callback_query(95, data)
            await tg.wait_for("answerCallbackQuery", predicate=lambda c: tg.calls.index(c) >= before)
        for text in ("/promote ² admin", "/editfix 99999999999999999999 symptom x", "/editfix ² symptom x",
                     "/fix \ud800", "\ud800", "coater \udfff", "/term a\ud800b", "/fix ²"):
            [reply] = await harness.ask(95, 95, text)
            assert reply
        [usage] = await harness.ask(ADMIN, ADMIN, "/promote ² admin")
        assert "Usage" in usage
        [usage] = await harness.ask(95, 95, "/editfix 99999999999999999999 symptom x")
        assert "Usage" in usage
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert not any("surrogates not allowed" in r.getMessage() for r in caplog.records)


async def test_buttons_and_inline_queries_have_a_flood_limit_too(harness):
    from bot.telegram.wiring import FloodLimit

    tg = harness.tg
    [flood] = [m for m in harness.dp.message.outer_middleware if isinstance(m, FloodLimit)]
    flood.clock = lambda: 1000.0  # time stands still: no refill however slow the machine
    async with harness.running():
        await harness.invite("operator", 96)
        await harness.invite("operator", 98)  # inline queries: a budget of their own to spend
        start = len(tg.calls)
        for _ in range(40):
            tg.callback_query(96, "more:1")
        await harness.settled()
        answers = [c for c in tg.calls[start:] if c.method.lower() == "answercallbackquery"]
        assert len(answers) <= 21
        assert sum("too fast" in str(c.params.get("text")) for c in answers) == 1
        start = len(tg.calls)
        for _ in range(40):
            tg.inline_query(98, "coater")
        await harness.settled()
        assert len([c for c in tg.calls[start:] if c.method.lower() == "answerinlinequery"]) <= 21


async def test_a_strangers_flood_writes_nothing(harness):
    """No processed-update row per message of a stranger (the deduplicator
    has nothing to protect: one polite message an hour whatever arrives)."""
    tg = harness.tg
    count = lambda: harness.app.storage.read(  # noqa: E731
        lambda db: db.execute("SELECT count(*) FROM processed_update").fetchone()[0])
    async with harness.running():
        before = count()
        for i in range(60):
            tg.message(97, 97, f"coater {i}")
        await harness.settled()
        assert count() == before
        assert len(tg.sent(97)) == 1


async def test_invites_wrong_and_used_codes(harness):
    async with harness.running():
        await harness.invite("trainer", 20, language_code="ko")
        person = await harness.people.get(20)
        assert person.role == "trainer" and person.lang == "ko"
        [wrong] = await harness.ask(21, 21, "/start NOTACODE123")
        assert "not valid" in wrong
        [text] = await harness.ask(ADMIN, ADMIN, "/invite operator")
        code = text.split("/start ", 1)[1].split("<", 1)[0].split()[0]
        await harness.ask(22, 22, f"/start {code}")
        [used] = await harness.ask(23, 23, f"/start {code}")
        assert "already been used" in used
        assert await harness.people.get(23) is None


async def test_operator_cannot_invite_or_manage(harness):
    async with harness.running():
        await harness.invite("operator", 30)
        [text] = await harness.ask(30, 30, "/invite lead")
        assert "/start" not in text and "/help" in text
        [text] = await harness.ask(30, 30, "/promote 30 admin")
        assert (await harness.people.get(30)).role == "operator"


# -- glossary and translation in a private chat ---------------------------------------

@pytest.mark.parametrize("lang, query, expected", [
    ("zh", "涂布机", "enduiseuse"),
    ("ko", "코터", "涂布机"),
    ("ms", "mesin penyalut", "코터"),
    ("fr", "enduiseuse", "coater"),
    ("en", "calandrage", "辊压"),
])
async def test_lookup_in_every_language(harness, lang, query, expected):
    async with harness.running():
        await harness.invite("operator", 40, language_code=lang)
        [card] = await harness.ask(40, 40, query, language_code=lang)
        assert expected in card
        markup = harness.tg.sent(40)[-1].get("reply_markup")
        assert markup and "more:" in str(markup)


async def test_no_match_logs_the_query_and_offers_nearest(harness):
    async with harness.running():
        await harness.invite("operator", 41)
        [text] = await harness.ask(41, 41, "enduseuz")
        assert "No concept" in text and "Nearest" in text
        rows = harness.app.storage.read(lambda db: db.execute("SELECT query FROM missing_query").fetchall())
        assert rows == [("enduseuz",)]


async def test_translation_with_enforced_term_and_memory(harness):
    async with harness.running():
        await harness.invite("operator", 50, language_code="fr")
        [text] = await harness.ask(50, 50, "The coater tab is torn near line 3, check it.", language_code="fr")
        assert "enduiseuse" in text and "3" in text
        assert "en→fr" in text and "traduction automatique" in text  # footer in French
        [memo] = await harness.ask(50, 50, "Stop the machine.", language_code="fr")
        assert "mémoire" in memo or "memory" in memo
        await harness.ask(50, 50, "/to zh", language_code="fr")
        [zh] = await harness.ask(50, 50, "The coater tab is torn near line 3, check it.", language_code="fr")
        assert "涂布机" in zh and "en→zh" in zh


async def test_reply_with_tr_translates_that_message(harness):
    async with harness.running():
        await harness.invite("operator", 51, language_code="en")
        reply_to = {"message_id": 999, "chat": {"id": 51, "type": "private"}, "date": 0,
                    "text": "涂布机的极耳断了，请检查。"}
        [text] = await harness.ask(51, 51, "/tr", reply_to=reply_to)
        assert "coater" in text and "zh→en" in text


# -- groups -----------------------------------------------------------------------------

async def test_group_registration_and_auto_translation(harness):
    tg = harness.tg
    async with harness.running():
        tg.my_chat_member(GROUP, ADMIN)
        await tg.wait_for("sendMessage", predicate=lambda c: c.params.get("chat_id") == GROUP)
        [ok] = await harness.ask(GROUP, ADMIN, "/setup fr zh auto", chat_type="supergroup")
        assert "fr zh" in ok
        before = len(tg.sent(GROUP))
        sent = tg.message(GROUP, 60, "涂布机的极耳断了，请检查 E-17。", chat_type="supergroup")
        [reply] = await harness.replies(GROUP, before)
        assert "🇫🇷" in reply and "enduiseuse" in reply and "E-17" in reply
        assert "🇨🇳" not in reply  # no translation into the message's own language
        assert (await harness.people.get(60)).role == "operator"  # member of a registered group

        tg.edited_message(GROUP, 60, "涂布机停了，请检查 E-18。", chat_type="supergroup",
                          message_id=sent["message"]["message_id"])
        [edit] = await tg.wait_for("editMessageText")
        assert "E-18" in edit.params["text"]


async def test_unregistered_group_is_left(harness):
    tg = harness.tg
    async with harness.running():
        tg.my_chat_member(-100777, 70)  # a stranger adds the bot
        [call] = await tg.wait_for("leaveChat")
        assert call.params["chat_id"] == -100777
        tg.message(-100888, 71, "hello", chat_type="group")
        await tg.wait_for("leaveChat", count=2)


async def test_group_bursts_are_merged_not_dropped(harness):
    tg = harness.tg
    async with harness.running():
        await harness.ask(GROUP, ADMIN, "/setup fr en auto", chat_type="supergroup")
        start = len(tg.sent(GROUP))
        for i in range(30):
            tg.message(GROUP, 200 + i, f"Line {i} coater tab is torn, check it.", chat_type="supergroup")
        # 30 messages at once: the first ones go out while the budget lasts,
        # the rest wait and leave merged in one message when it refills (3 s).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while loop.time() < deadline:
            joined = "\n".join(p["text"] for p in tg.sent(GROUP)[start:])
            if all(f"{i} " in joined for i in range(30)):
                break
            await asyncio.sleep(0.1)
        texts = [p["text"] for p in tg.sent(GROUP)[start:]]
        assert all(f"{i} " in "\n".join(texts) for i in range(30)), (len(texts), " ".join(__import__("re").findall(r"Line (\d+)", "\n".join(texts))))  # nothing dropped
        assert len(texts) <= 21  # within Telegram's 20 a minute (+1 refill)


# -- inline ----------------------------------------------------------------------------

async def test_inline_cards_and_translation(harness):
    tg = harness.tg
    async with harness.running():
        await harness.invite("operator", 80)
        tg.inline_query(80, "coater")
        [call] = await tg.wait_for("answerInlineQuery")
        assert "enduiseuse" in str(call.params["results"])
        tg.inline_query(80, "fr: The coater tab is torn.")
        calls = await tg.wait_for("answerInlineQuery", count=2)
        assert "enduiseuse" in str(calls[-1].params["results"])


# -- reliability ---------------------------------------------------------------------------

async def test_429_and_5xx_are_retried(harness):
    tg = harness.tg
    async with harness.running():
        await harness.invite("operator", 90)
        tg.fail_next("sendMessage", status=429, retry_after=1)
        tg.fail_next("sendMessage", status=502)
        [text] = await harness.ask(90, 90, "coater", timeout=15)
        assert "enduiseuse" in text
        statuses = [c.status for c in tg.calls if c.method == "sendMessage"]
        assert 429 in statuses and 502 in statuses


async def test_duplicate_update_id_gets_one_reply(harness):
    tg = harness.tg
    async with harness.running():
        await harness.invite("operator", 91)
        before = len(tg.sent(91))
        update = tg.message(91, 91, "coater")
        await harness.replies(91, before)
        tg.enqueue(update)  # Telegram delivers the same update again
        await harness.settled()
        cards = [p for p in tg.sent(91) if "enduiseuse" in p["text"]]
        assert len(cards) == 1


async def test_restart_mid_conversation(harness, tmp_path):
    tg = harness.tg
    async with harness.running():
        await harness.invite("operator", 92, language_code="fr")
        await harness.ask(92, 92, "/lang", language_code="fr")
    harness.close()
    second = Harness(tg, harness.settings.db, harness.settings.models_dir)
    async with second.running():
        tg.callback_query(92, "lang:ko")  # the button of the message sent before the restart
        await tg.wait_for("editMessageText")
        [text] = await second.ask(92, 92, "enduiseuse")
        assert "코터" in text
        assert (await second.people.get(92)).lang == "ko"
    second.close()


@pytest.mark.parametrize("text", [
    "<b>coater</b> & <script>x</script>",
    "co\u200bater\u200d stopped\u200e\u200f today, check the tab please",
    "\u202eThe coater stopped\u202c, please check the tab now",
    '"AND NEAR( col:x coater OR tab*',
    "The coater stopped. " * 500,
    "coater \ud800 stopped, tab \udfff",  # lone surrogates: JSON can carry them, UTF-8 cannot
])
async def test_hostile_text(harness, text):
    async with harness.running():
        await harness.invite("operator", 93)
        await harness.ask(93, 93, text, timeout=20)
        await harness.settled()
        for params in harness.tg.sent(93):
            assert len(params["text"]) <= 4096
            assert "<script>" not in params["text"] and "<b>coater</b>" not in params["text"]
    # The fake server parses the HTML as Telegram does: nothing was refused.
    assert [(c.method, c.params.get("text", "")[:80]) for c in harness.tg.calls if c.status == 400] == []


async def test_glossary_strings_are_escaped_in_cards_and_details(harness):
    """The fake server parses HTML as Telegram does and answers 400 to bad
    markup: a definition, a term or a deprecated term shown unescaped in the
    card or the "more" view would lose the reply."""
    from glossary import store as glossary_store
    from tests.conftest import concept

    hostile = concept("widget-h", category="general", en="<b>widget</b> & co|old <i>widget*dep",
                      fr="bidule <x> &amp;", zh="小部件", ko="위젯", ms="widget <ms>",
                      def_en="Use <script> & check a > b &lt; c")
    harness.app.storage.write(glossary_store.upsert_concepts, [hostile], "tests")
    tg = harness.tg
    async with harness.running():
        await harness.invite("operator", 95)
        [card] = await harness.ask(95, 95, "old <i>widget")
        assert "&lt;b&gt;widget&lt;/b&gt; &amp; co" in card  # the preferred term, escaped
        assert "old &lt;i&gt;widget" in card  # the deprecated term typed, named in the warning
        assert "Use &lt;script&gt; &amp; check a &gt; b &amp;lt; c" in card
        before = len(tg.sent(95))
        tg.callback_query(95, tg.sent(95)[-1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"])
        [details] = await harness.replies(95, before)
        assert "<s>old &lt;i&gt;widget</s>" in details
        assert "bidule &lt;x&gt; &amp;amp;" in details and "widget &lt;ms&gt;" in details
        assert "Use &lt;script&gt; &amp; check" in details
        await harness.settled()
    assert [c.method for c in tg.calls if c.status == 400] == []


async def test_requests_go_as_json_uploads_as_multipart():
    """bot.telegram.Session: JSON bodies (CJK, HTML, markup intact), a multipart
    form for a file, and the result parsed either way."""
    from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup

    async with FakeTelegram() as tg:
        bot = build_bot(tg.token, tg.url)
        try:
            markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="更多", callback_data="more:1")]])
            sent = await bot.send_message(7, "涂布机 &lt;b&gt; 코터", reply_markup=markup,
                                          disable_notification=False)
            photo = await bot.send_photo(7, BufferedInputFile(b"\xff\xd8jpeg", "roller.jpg"), caption="롤러")
        finally:
            await bot.session.close()
        text_call, photo_call = [c for c in tg.calls if c.method in ("sendMessage", "sendPhoto")]
        assert text_call.content_type == "application/json"
        assert text_call.params["text"] == "涂布机 &lt;b&gt; 코터" == sent.text
        assert text_call.params["parse_mode"] == "HTML"  # the bot's default, filled in
        assert text_call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "more:1"
        assert photo_call.content_type == "multipart/form-data"
        assert photo_call.params["photo"].data == b"\xff\xd8jpeg" and photo.caption == "롤러"


async def test_flood_limit_answers_once(harness):
    """The limiter's clock is stopped (FloodLimit takes ``clock``): no refill
    races the count, however slow the machine."""
    from bot.telegram.wiring import FloodLimit

    tg = harness.tg
    [flood] = [m for m in harness.dp.message.outer_middleware if isinstance(m, FloodLimit)]
    flood.clock = lambda: 1000.0
    async with harness.running():
        await harness.invite("operator", 94)  # 1 of the 20 (the /start code)
        start = len(tg.sent(94))
        for _ in range(30):
            tg.message(94, 94, "coater")
        await harness.settled()
        texts = [p["text"] for p in tg.sent(94)[start:]]
        assert sum("too fast" in t for t in texts) == 1
        assert sum("enduiseuse" in t for t in texts) == 19 and len(texts) == 20
        flood.clock = lambda: 1000.0 + 30 / 20  # 1.5 s later: one token back
        before = len(tg.sent(94))
        [again] = await harness.ask(94, 94, "coater")
        assert "enduiseuse" in again
        tg.message(94, 94, "coater")  # over again: a new warning
        await harness.settled()
        assert ["too fast" in p["text"] for p in tg.sent(94)[before + 1:]] == [True]


async def test_run_registers_menus_logs_username_never_token_and_stops_on_sigterm(
        tmp_path, seeded_template, caplog):
    import logging
    import os
    import signal

    from bot.telegram.wiring import run

    db = tmp_path / "run.db"
    shutil.copy(seeded_template, db)
    caplog.set_level(logging.INFO)
    async with FakeTelegram(token="4242:SECRETtokenVALUE") as tg:
        app = App(Settings(db=db, models_dir=tmp_path / "models"))
        task = asyncio.create_task(run(app, tg.token, tg.url, [ADMIN]))
        await tg.wait_for("getUpdates")
        menus = [c for c in tg.calls if c.method == "setMyCommands"]
        assert len(menus) == 5  # one menu per interface language
        assert {str(c.params.get("language_code")) for c in menus} >= {"fr", "zh", "ko", "ms"}
        assert app.engine.loaded_pairs() == []  # no model until first use
        logging.getLogger("aiogram.event").error("request to %s failed", f"{tg.url}/bot{tg.token}/getMe")
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(task, timeout=15)
        app.close()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "shopbot_test_bot" in text
    assert "SECRETtokenVALUE" not in text and "<token>" in text


async def test_shopbot_run_as_a_process_on_uvloop(tmp_path, seeded_template):
    """The real entry point, `shopbot run`, in its own process: it polls on
    uvloop, answers, and stops cleanly on SIGTERM, without the token in its log."""
    import os
    import signal
    import sys

    db = tmp_path / "proc.db"
    shutil.copy(seeded_template, db)
    async with FakeTelegram(token="4343:PROCESStokenSECRET") as tg:
        env = {**os.environ, "SHOPBOT_TOKEN": tg.token, "SHOPBOT_API_URL": tg.url, "SHOPBOT_DB": str(db),
               "SHOPBOT_WEB_PORT": "0",  # the web app beside the bot: any free port
               "SHOPBOT_ADMINS": str(ADMIN), "SHOPBOT_MODELS_DIR": str(tmp_path / "models")}
        env.pop("SHOPBOT_DEBUG", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from bot.cli import main; main()", "run", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            await tg.wait_for("getUpdates", timeout=60)
            tg.message(ADMIN, ADMIN, "coater")
            [reply] = await tg.wait_for("sendMessage", predicate=lambda c: c.params.get("chat_id") == ADMIN,
                                        timeout=30)
            assert "enduiseuse" in reply.params["text"]
            proc.send_signal(signal.SIGTERM)
            out = (await asyncio.wait_for(proc.communicate(), timeout=30))[0].decode()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, out
    assert "event loop uvloop" in out and "PROCESStokenSECRET" not in out


async def test_sigterm_lets_an_update_in_flight_finish(tmp_path, seeded_template):
    """SIGTERM while a reply waits out a 429: the reply still goes out, on
    the same session, before run() returns (bot.telegram.wiring.InFlight)."""
    import os
    import signal

    from bot.telegram.wiring import run

    db = tmp_path / "run.db"
    shutil.copy(seeded_template, db)
    async with FakeTelegram() as tg:
        app = App(Settings(db=db, models_dir=tmp_path / "models"))
        task = asyncio.create_task(run(app, tg.token, tg.url, [ADMIN]))
        try:
            await tg.wait_for("getUpdates")
            tg.fail_next("sendMessage", status=429, retry_after=2)
            tg.message(ADMIN, ADMIN, "coater")
            await tg.wait_for("sendMessage", predicate=lambda c: c.status == 429)
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(task, timeout=15)
        finally:
            app.close()
        assert any("coater" in params["text"].lower() for params in tg.sent(ADMIN))


async def test_an_update_queued_behind_another_is_already_in_flight(harness):
    """Two messages of one person: the second waits on aiogram's per-chat
    lock while the first waits out a 429. Shutdown (and settled()) must see
    both, so the tracker comes before the FSM middleware that holds the lock.
    (Before: the second was invisible, and a flood test stopped early on CI.)"""
    tg = harness.tg
    in_flight = harness.dp["in_flight"]
    async with harness.running():
        tg.fail_next("sendMessage", status=429, retry_after=3)
        tg.message(ADMIN, ADMIN, "coater")
        await tg.wait_for("sendMessage", predicate=lambda c: c.status == 429)
        tg.message(ADMIN, ADMIN, "tab")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while tg.pending_updates:  # confirmed: the bot has started handling it
            assert loop.time() < deadline
            await asyncio.sleep(0.01)
        assert len([t for t in in_flight.tasks if not t.done()]) == 2
        await harness.settled()
        assert len(tg.sent(ADMIN)) >= 2


async def test_polling_after_webhook_mode_removes_the_webhook(tmp_path, seeded_template):
    """Telegram refuses getUpdates while a webhook is set (the fake does too):
    a start in polling mode removes one left from webhook mode."""
    import os
    import signal

    from bot.telegram.wiring import run

    db = tmp_path / "run.db"
    shutil.copy(seeded_template, db)
    async with FakeTelegram() as tg:
        tg.webhook_url = "https://bot.example.org/telegram/webhook"
        app = App(Settings(db=db, models_dir=tmp_path / "models"))
        task = asyncio.create_task(run(app, tg.token, tg.url, [ADMIN]))
        try:
            tg.message(ADMIN, ADMIN, "coater")
            await tg.wait_for("sendMessage", timeout=30)
            assert tg.webhook_url is None
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(task, timeout=15)
        finally:
            app.close()
        assert any("coater" in params["text"].lower() for params in tg.sent(ADMIN))


def test_no_filter_is_left_to_a_thread(tmp_path, seeded_template):
    """aiogram runs a filter that is not awaitable in a worker thread; every
    synchronous check of ours goes through handlers.filters.on() instead.
    White-box: this reads aiogram's handler objects (``filters``,
    ``awaitable``, the router-level ``_handler``), so a new aiogram may need
    this test, not the bot, adapted."""
    db = tmp_path / "f.db"
    shutil.copy(seeded_template, db)
    app = App(Settings(db=db, models_dir=tmp_path / "models"))
    try:
        dp = build_dispatcher(app)
        threaded = []
        for router in dp.chain_tail:
            for name, observer in router.observers.items():
                handlers = [*observer.handlers, getattr(observer, "_handler", None)]
                for handler in filter(None, handlers):
                    threaded += [(router.name, name, repr(f.callback)) for f in handler.filters or []
                                 if not f.awaitable]
        assert threaded == []
    finally:
        app.close()


@pytest.mark.parametrize("lang, sentence, term, memory", [
    ("fr", "The coater tab is torn near line 3, check it.", "enduiseuse", "Arrêtez la machine"),
    ("zh", "The coater tab is torn near line 3, check it.", "涂布机", "停"),
    ("ko", "The coater tab is torn near line 3, check it.", "코터", "정지"),
    ("ms", "The coater tab is torn near line 3, check it.", "coater", "Hentikan"),
    ("en", "L'enduiseuse est arrêtée près de la ligne 3, vérifiez-la.", "coater", "Stop the machine"),
])
async def test_scenarios_in_every_language(harness, lang, sentence, term, memory):
    """Lookup, translation with an enforced term, memory hit and inline, for
    a person whose language is ``lang``."""
    tg = harness.tg
    async with harness.running():
        await harness.invite("operator", 300, language_code=lang)
        [card] = await harness.ask(300, 300, "AGV", language_code=lang)
        assert "AGV" in card
        [text] = await harness.ask(300, 300, sentence, language_code=lang)
        assert term in text and "3" in text
        source = "Arrêtez la machine." if lang == "en" else "Stop the machine."
        [memo] = await harness.ask(300, 300, source, language_code=lang)
        assert memory in memo and "%" in memo
        tg.inline_query(300, "coater", language_code=lang)
        [call] = await tg.wait_for("answerInlineQuery")
        assert term.split()[0] in str(call.params["results"])


async def test_group_in_five_languages(harness):
    tg = harness.tg
    async with harness.running():
        tg.my_chat_member(GROUP, ADMIN)
        await tg.wait_for("sendMessage", predicate=lambda c: c.params.get("chat_id") == GROUP)
        await harness.ask(GROUP, ADMIN, "/setup zh ko ms fr en auto", chat_type="supergroup")
        [reply] = await harness.ask(GROUP, 301, "The coater tab is torn, check it.", chat_type="supergroup")
        for flag, term in (("🇨🇳", "涂布机"), ("🇰🇷", "코터"), ("🇲🇾", "coater"), ("🇫🇷", "enduiseuse")):
            assert flag in reply and term in reply
        assert "🇬🇧" not in reply


async def test_a_long_group_message_in_four_languages_is_split_not_lost(harness):
    """An 800-character message into four languages came to 4,711 characters:
    Telegram refused the reply and the translation was lost (edits too)."""
    tg = harness.tg
    sentence = "The coater tab is torn near line 3 & the web tension alarm rings, check the rollers. "
    text = (sentence * 22)[:1900]
    async with harness.running():
        await harness.ask(GROUP, ADMIN, "/setup zh ko ms fr en auto", chat_type="supergroup")
        before = len(tg.sent(GROUP))
        sent = tg.message(GROUP, 302, text, chat_type="supergroup")
        await harness.replies(GROUP, before, count=2, timeout=30)
        await harness.settled(timeout=30)
        replies = [p["text"] for p in tg.sent(GROUP)[before:]]
        assert all(len(r) <= 4096 for r in replies) and len(replies) >= 2
        joined = "\n".join(replies)
        for flag in ("🇨🇳", "🇰🇷", "🇲🇾", "🇫🇷"):
            assert flag in joined
        assert not [c for c in tg.calls if c.status == 400]
        before = len(tg.sent(GROUP))
        tg.edited_message(GROUP, 302, text.replace("line 3", "line 4"), chat_type="supergroup",
                          message_id=sent["message"]["message_id"])
        await harness.replies(GROUP, before, count=2, timeout=30)
        assert "line 4" in "\n".join(p["text"] for p in tg.sent(GROUP)[before:])
        assert not [c for c in tg.calls if c.status == 400]


async def test_expired_invite_is_refused(harness):
    from datetime import datetime, timedelta, timezone

    from bot.people import directory as people_service

    async with harness.running():
        long_ago = datetime.now(timezone.utc) - timedelta(days=10)
        invite = harness.app.storage.write(people_service.create_invite, "operator", ADMIN,
                                           7 * 24 * 3600, now=long_ago)
        [text] = await harness.ask(310, 310, f"/start {invite.code}", language_code="fr")
        assert "expiré" in text
        assert await harness.people.get(310) is None


async def test_router_prefilters_let_commands_and_dialogue_steps_through():
    """handlers.filters.command / command_or_in: the router-level checks that
    let an ordinary message skip the command-and-dialogue routers."""
    from aiogram.types import Message

    from handlers.filters import command, command_or_in
    from handlers.newfix import NewFix

    def message(**fields):
        return Message.model_validate({"message_id": 1, "date": 0,
                                       "chat": {"id": 1, "type": "private"}, **fields})

    in_newfix = command_or_in(NewFix)
    assert await command(message(text="/fix coater")) and await command(message(caption="/newfix"))
    assert not await command(message(text="coater /fix")) and not await command(message())
    assert await in_newfix(message(text="/cancel"), raw_state=None)
    assert await in_newfix(message(photo=[{"file_id": "a", "file_unique_id": "b", "width": 1,
                                           "height": 1}]), raw_state=NewFix.photos.state)
    assert not await in_newfix(message(text="coater"), raw_state=None)
    assert not await in_newfix(message(text="coater"), raw_state="Correcting:text")


async def test_what_no_feature_takes_gets_a_short_answer(harness):
    """handlers/fallback.py: an unknown command, a command above the person's
    role, a photo outside any dialogue."""
    tg = harness.tg
    async with harness.running():
        await harness.invite("operator", 95, language_code="fr")
        [unknown] = await harness.ask(95, 95, "/frobnicate now")
        [above] = await harness.ask(95, 95, "/invite trainer")
        before = len(tg.sent(95))
        tg.photo_message(95, 95, caption="regarde")
        [photo] = await harness.replies(95, before)
        assert unknown == above and "/help" in unknown
        assert photo != unknown and photo
        assert await harness.people.get(95) is not None  # nothing else happened to them


async def test_a_dialogue_this_version_does_not_know_is_ended_not_a_trap(harness):
    """A state saved by an older version (a renamed dialogue): free text would
    match no handler and be dropped, forever. The fallback ends it."""
    from aiogram.fsm.storage.base import StorageKey

    from bot.telegram import fsm

    key = fsm.key_text(StorageKey(bot_id=int(harness.tg.token.split(":")[0]), chat_id=96, user_id=96))
    harness.app.storage.write(fsm._write_state, key, "OldFlow:step")
    async with harness.running():
        await harness.invite("operator", 96)
        [ended] = await harness.ask(96, 96, "coater")
        assert "ended" in ended
        [card] = await harness.ask(96, 96, "coater")
        assert "coater" in card.lower() and "ended" not in card

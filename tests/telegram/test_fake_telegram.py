"""The fake Telegram server (tests/fake_telegram.py), driven by a real aiogram Bot."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)

from tests.fake_telegram import FakeTelegram, Upload, polling

@pytest.fixture
async def tg():
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(tg):
    bot = tg.bot()
    yield bot
    await bot.session.close()


def echo_dispatcher(answers: list[Message]) -> Dispatcher:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        keyboard = InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text="OK", callback_data="ok")]])
        answers.append(await message.answer("Welcome", reply_markup=keyboard))

    @router.message(F.text)
    async def echo(message: Message) -> None:
        answers.append(await message.reply(message.text))

    @router.callback_query(F.data == "ok")
    async def pressed(query: CallbackQuery) -> None:
        await query.answer("Done")
        await query.message.edit_text("Welcome (confirmed)")

    dp = Dispatcher()
    dp.include_router(router)
    return dp


# --------------------------------------------------------------------------
# End to end: Dispatcher.start_polling over real HTTP


async def test_echo_bot_polls_and_replies(tg, bot):
    answers: list[Message] = []
    dp = echo_dispatcher(answers)
    update = tg.message(42, 42, "涂布机 hello")
    async with polling(tg, dp, bot):
        [call] = await tg.wait_for("sendMessage")
    assert call.params["chat_id"] == 42 and call.params["text"] == "涂布机 hello"
    assert tg.sent(42) == [call.params] and tg.sent(7) == []
    # the answer parsed as a real Message: from the bot, replying to the user's message
    [answer] = answers
    assert answer.from_user.username == "shopbot_test_bot"
    assert answer.reply_to_message.message_id == update["message"]["message_id"]
    assert answer.message_id == update["message"]["message_id"] + 1


async def test_command_keyboard_and_callback_query(tg, bot):
    answers: list[Message] = []
    dp = echo_dispatcher(answers)
    tg.message(42, 42, "/start")
    async with polling(tg, dp, bot):
        await tg.wait_for("sendMessage")
        tg.callback_query(42, "ok")  # on the bot's last message in chat 42
        [answered] = await tg.wait_for("answerCallbackQuery")
        [edit] = await tg.wait_for("editMessageText")
    assert answers[0].reply_markup.inline_keyboard[0][0].callback_data == "ok"
    assert answered.params["text"] == "Done"
    assert edit.params["message_id"] == answers[0].message_id
    assert tg.messages[(42, answers[0].message_id)]["text"] == "Welcome (confirmed)"
    # aiogram asked only for the update types its handlers use
    first_poll = next(c for c in tg.calls if c.method == "getUpdates")
    assert set(first_poll.params["allowed_updates"]) == {"message", "callback_query"}


# --------------------------------------------------------------------------
# getUpdates


async def test_get_updates_offset_confirms_only_what_was_handed_out(tg, bot):
    first, second, third = (tg.message(1, 1, text)["update_id"] for text in "abc")
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [first, second, third]
    # not confirmed yet: handed out again (what a restarted bot sees)
    assert len(await bot.get_updates(timeout=0, limit=2)) == 2
    assert [u.update_id for u in await bot.get_updates(offset=third, timeout=0)] == [third]
    assert await bot.get_updates(offset=third + 1, timeout=0) == []
    # a redelivery the test enqueues is delivered although its id is below the offset
    tg.message(1, 1, "d")
    redelivered = tg.enqueue({"update_id": first, "message": {
        "message_id": 99, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "again"}})
    updates = await bot.get_updates(offset=third + 1, timeout=0)
    assert [u.update_id for u in updates] == [third + 1, first]
    assert redelivered["update_id"] == first
    # the next id continues after the highest one seen
    assert tg.message(1, 1, "e")["update_id"] == third + 2


async def test_long_poll_waits_for_an_update_or_the_timeout(tg, bot):
    """No clock: the poll is seen waiting with nothing queued, the update
    queued meanwhile is what it answers; a poll whose timeout (0.3 s) is far
    below the guard (30 s) answers an empty list by itself."""
    poll = asyncio.create_task(bot.get_updates(timeout=60))
    [call] = await tg.wait_for("getUpdates")
    assert not poll.done() and tg.pending_updates == 0
    tg.message(5, 5, "late")
    [update] = await asyncio.wait_for(poll, 30)  # on arrival, not after its 60 s
    assert update.message.text == "late" and call.status == 200
    # the timeout, over a JSON body
    async with aiohttp.ClientSession() as http:
        request = http.post(f"{tg.url}/bot{tg.token}/getUpdates",
                            json={"offset": update.update_id + 1, "timeout": 0.3})
        async with await asyncio.wait_for(request, 30) as resp:
            assert await resp.json() == {"ok": True, "result": []}


async def test_allowed_updates_drops_other_types(tg, bot):
    tg.message(1, 1, "kept")
    tg.inline_query(1, "coater")
    updates = await bot.get_updates(timeout=0, allowed_updates=["message"])
    assert [u.event_type for u in updates] == ["message"]
    tg.inline_query(1, "again")  # the setting is remembered
    assert [u.event_type for u in await bot.get_updates(timeout=0)] == ["message"]


async def test_a_second_poller_makes_the_first_one_fail_with_409(tg, bot):
    waiting = asyncio.create_task(bot.get_updates(timeout=5))
    await tg.wait_for("getUpdates")
    assert await bot.get_updates(timeout=0) == []
    with pytest.raises(TelegramConflictError):
        await waiting


# --------------------------------------------------------------------------
# Errors and fault injection


async def test_429_raises_retry_after_then_the_retry_succeeds(tg, bot):
    tg.fail_next("sendMessage", status=429, retry_after=3)
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(42, "hello")
    assert error.value.retry_after == 3
    assert "Too Many Requests: retry after 3" in str(error.value)
    message = await bot.send_message(42, "hello")
    assert message.text == "hello"
    assert [c.status for c in tg.calls] == [429, 200]
    assert len(tg.sent(42)) == 1  # only what Telegram accepted


@pytest.mark.parametrize("status", [500, 502])
async def test_5xx_raises_server_error(tg, bot, status):
    tg.fail_next("sendMessage", status=status, times=2)
    for _ in range(2):
        with pytest.raises(TelegramServerError):
            await bot.send_message(42, "hello")
    await bot.send_message(42, "hello")
    assert [c.status for c in tg.calls] == [status, status, 200]


async def test_dropped_connection_raises_network_error(tg, bot):
    tg.fail_next("getMe", disconnect=True)
    with pytest.raises(TelegramNetworkError):
        await bot.get_me()
    assert (await bot.get_me()).username == "shopbot_test_bot"
    assert [c.status for c in tg.calls] == [0, 200]


async def test_wrong_token_is_unauthorized(tg):
    stranger = tg.bot("999:wrong")
    with pytest.raises(TelegramUnauthorizedError):
        await stranger.get_me()
    await stranger.session.close()
    assert tg.calls == []


async def test_unknown_methods_answer_true_and_are_recorded(tg, bot):
    assert await bot.set_my_short_description(short_description="Shop-floor help") is True
    assert await bot.set_my_commands([]) is True
    assert [c.method for c in tg.unknown_calls] == ["setMyShortDescription"]


async def test_wait_for_fails_with_the_calls_seen(tg, bot):
    await bot.get_me()
    with pytest.raises(AssertionError, match=r"getMe\(200\)"):
        await tg.wait_for("sendMessage", timeout=0.05)


# --------------------------------------------------------------------------
# Messages, files, chats


async def test_edit_and_delete_behave_like_telegram(tg, bot):
    message = await bot.send_message(42, "v1")
    assert (await bot.edit_message_text("v2", chat_id=42, message_id=message.message_id)).text == "v2"
    with pytest.raises(TelegramBadRequest, match="not modified"):
        await bot.edit_message_text("v2", chat_id=42, message_id=message.message_id)
    with pytest.raises(TelegramBadRequest, match="too long"):
        await bot.send_message(42, "x" * 4097)
    assert await bot.delete_message(42, message.message_id) is True
    with pytest.raises(TelegramBadRequest, match="not found"):
        await bot.delete_message(42, message.message_id)
    assert tg.message(42, 42, "next")["message"]["message_id"] == message.message_id + 1


async def test_text_fields_stay_text_and_numbers_become_numbers(tg, bot):
    await bot.send_message(42, "123", disable_notification=True)
    [params] = tg.sent(42)
    assert params["text"] == "123" and params["chat_id"] == 42
    assert params["disable_notification"] is True


async def test_multipart_upload_and_file_download(tg, bot):
    photo = BufferedInputFile(b"\x89PNG fake", filename="line3.png")
    message = await bot.send_photo(42, photo, caption="Line 3")
    [params] = tg.sent(42)
    assert params["photo"] == Upload("line3.png", "application/octet-stream", b"\x89PNG fake")
    assert params["caption"] == "Line 3" and message.caption == "Line 3"
    # a user's photo: getFile, then the download URL
    update = Update.model_validate(tg.photo_message(42, 42, data=b"jpeg bytes"))
    file = await bot.get_file(update.message.photo[-1].file_id)
    assert (await bot.download_file(file.file_path)).read() == b"jpeg bytes"


async def test_every_builder_makes_an_update_aiogram_parses(tg, bot):
    await bot.send_message(-100, "hi")  # something for a callback button to sit on
    command = tg.message(-100, 7, "/help@shopbot_test_bot now", chat_type="supergroup",
                         language_code="zh", first_name="李")
    updates = [
        command,
        tg.edited_message(-100, 7, "fixed", message_id=command["message"]["message_id"]),
        tg.callback_query(7, "lang:ko", chat_id=-100),
        tg.inline_query(7, "涂布"),
        tg.my_chat_member(-200, 7, "administrator"),
        tg.my_chat_member(-200, 7, "kicked", old_status="administrator"),
        tg.photo_message(7, 7, caption="NG part"),
        tg.document_message(7, 7, file_name="glossary.csv", data=b"a,b"),
    ]
    parsed = [Update.model_validate(u, context={"bot": bot}) for u in updates]
    assert [u.event_type for u in parsed] == [
        "message", "edited_message", "callback_query", "inline_query",
        "my_chat_member", "my_chat_member", "message", "message"]
    command = parsed[0].message
    assert command.entities[0].type == "bot_command"
    assert command.entities[0].length == len("/help@shopbot_test_bot")
    assert parsed[2].callback_query.message.text == "hi"
    assert parsed[4].my_chat_member.new_chat_member.user.id == bot.id
    ids = [u["update_id"] for u in updates]
    assert ids == sorted(set(ids))


@pytest.mark.parametrize("status", ["creator", "administrator", "member", "restricted",
                                    "left", "kicked"])
async def test_chat_members_parse(tg, bot, status):
    tg.message(-100, 7, "hi", chat_type="supergroup")
    tg.set_member(-100, 7, status)
    member = await bot.get_chat_member(-100, 7)
    assert member.status == status and member.user.id == 7
    admins = await bot.get_chat_administrators(-100)
    assert [a.user.id for a in admins] == ([7] if status in ("creator", "administrator") else [])


async def test_bot_membership_and_get_chat(tg, bot):
    tg.my_chat_member(-300, 7)
    assert (await bot.get_chat_member(-300, bot.id)).status == "member"
    assert (await bot.get_chat(-300)).title == "Test group -300"
    assert await bot.leave_chat(-300) is True
    assert (await bot.get_chat_member(-300, bot.id)).status == "left"


# -- validation as the real server does it -----------------------------------------

@pytest.mark.parametrize("html, plain", [
    ("plain text", "plain text"),
    ("<b>bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>n</ins> <s>s</s> "
     "<strike>k</strike> <del>d</del>", "bold s i e u n s k d"),
    ('<span class="tg-spoiler">x</span><tg-spoiler>y</tg-spoiler>', "xy"),
    ('<a href="https://example.com/?a=1&amp;b=2">link</a>', "link"),
    ('<pre><code class="language-python">x &lt; 1</code></pre>', "x < 1"),
    ("<blockquote expandable>q</blockquote><blockquote>r</blockquote>", "qr"),
    ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍"),
    ("&lt;b&gt; &amp; &quot; &#60; &#x3E; &#128293;", '<b> & " < > 🔥'),
    ("<B>case</B>", "case"),
    ("<b>\n涂布机 <i>코터</i>\n</b>", "\n涂布机 코터\n"),
])
def test_html_telegram_accepts(html, plain):
    from tests.fake_telegram import parse_html

    assert parse_html(html) == plain


@pytest.mark.parametrize("html, says", [
    ("<script>x</script>", 'Unsupported start tag "script" at byte offset 0'),
    ("涂布机 <p>", 'Unsupported start tag "p" at byte offset 10'),  # bytes, not characters
    ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
    ("x</b>", "Unexpected end tag at byte offset 1"),
    ("<b", "Unclosed start tag at byte offset 0"),
    ('<span class="red">x</span>', 'Tag "span" must have class "tg-spoiler"'),
    ("&nbsp;", 'Unsupported HTML entity "&nbsp;"'),
    ("AT&T", 'Unescaped "&" at byte offset 2'),
    ("a > b", 'Unescaped ">" at byte offset 2'),
    ("<>", "Unsupported start tag at byte offset 0"),
    ("&#0;", "Invalid HTML entity"),
])
def test_html_telegram_refuses(html, says):
    from tests.fake_telegram import ApiError, parse_html

    with pytest.raises(ApiError) as caught:
        parse_html(html)
    assert caught.value.status == 400
    assert caught.value.description.startswith("Bad Request: can't parse entities: ")
    assert says in caught.value.description


async def test_sent_html_is_parsed_and_limits_count_after_parsing(tg, bot):
    with pytest.raises(TelegramBadRequest, match='can\'t parse entities: Unsupported start tag "x"'):
        await bot.send_message(42, "a <x> b", parse_mode="HTML")
    sent = await bot.send_message(42, "a <x> b")  # no parse mode: plain text
    assert sent.text == "a <x> b"
    # 4,096 characters after parsing: 4,096 escaped "<" are 16,384 characters of HTML
    await bot.send_message(42, "&lt;" * 4096, parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(42, "&lt;" * 4097, parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="text is empty"):
        await bot.send_message(42, "<b> </b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.edit_message_text("<b>x", chat_id=42, message_id=sent.message_id, parse_mode="HTML")
    photo = BufferedInputFile(b"\xff\xd8jpeg", "p.jpg")
    await bot.send_photo(42, photo, caption="c" * 1024)
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_photo(42, photo, caption="<b>" + "c" * 1025 + "</b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_photo(42, photo, caption="1 < 2", parse_mode="HTML")
    assert [c.status for c in tg.calls] == [400, 200, 200, 400, 400, 400, 200, 400, 400]


async def test_callback_data_answers_and_inline_results_are_validated(tg, bot):
    from aiogram.types import InlineQueryResultArticle, InputTextMessageContent

    def keyboard(data: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="b", callback_data=data)]])

    await bot.send_message(42, "ok", reply_markup=keyboard("x" * 64))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(42, "too much", reply_markup=keyboard("涂" * 22))  # 66 bytes
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(42, "empty", reply_markup=keyboard(""))
    assert await bot.answer_callback_query("7", text="x" * 200) is True
    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await bot.answer_callback_query("7", text="x" * 201)

    def article(rid: str, text: str = "hello", **kw) -> InlineQueryResultArticle:
        return InlineQueryResultArticle(id=rid, title="t",
                                        input_message_content=InputTextMessageContent(message_text=text, **kw))

    assert await bot.answer_inline_query("9", [article(str(i)) for i in range(50)]) is True
    for results, says in [
        ([article(str(i)) for i in range(51)], "RESULTS_TOO_MUCH"),
        ([article("i" * 65)], "RESULT_ID_INVALID"),
        ([article("a"), article("a")], "RESULT_ID_DUPLICATE"),
        ([article("a", "<b>x", parse_mode="HTML")], "can't parse entities"),
        ([article("a", "x" * 4097)], "message is too long"),
    ]:
        with pytest.raises(TelegramBadRequest, match=says):
            await bot.answer_inline_query("9", results)

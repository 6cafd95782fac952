"""A photo in a private chat: the screen, alarm pop-up or label read offline
(bot.vision), each line with its translation into the reader's language,
the glossary concepts and alarm codes spotted as buttons to their cards and
fixes, and how sure the reading was.

In /newfix, a photo sent while the bot asks for the equipment (or the alarm
codes) proposes the machine and the codes it read; the trainer confirms
them with a button (the codes button is offered at the codes question).

A caption naming a language (zh, ko, ms, fr, en) says which language the
screen is in; otherwise every script is tried.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.knowledge import fixes
from bot.telegram.texts import PHOTO_REFUSED, PHOTO_UNREADABLE
from bot.vision.service import ImageRefused, PhotoBusy, PhotoReport
from glossary import LANGS

from .filters import known, on, outside_dialogue, private
from .fixes import clip, keyboard
from .newfix import NewFix, download_capped
from .render import FLAGS, pack, q

MAX_PHOTO_BYTES = 10 * 1024 * 1024
BUTTONS = 8


def refused_text(exc: ImageRefused) -> str:
    return _(PHOTO_REFUSED.get(exc.reason, PHOTO_UNREADABLE))


def busy_text(exc: PhotoBusy) -> str:
    if exc.reason == "yours":
        return _("I am still reading your previous photo: one at a time, please.")
    return _("Too many photos are being read right now. Send it again in a minute.")


def unsure_text() -> str:
    return _("Could not read this photo: hold the phone straight, fill the frame with the screen.")


async def read_message_photo(message: Message, bot: Bot, app, person) -> object | None:
    """Download the photo and read it; the reading, or None once the person
    was told why not."""
    service = app.vision
    if not service.available():
        await message.answer(_("Photo reading is not set up on this server (the OCR models are missing)."))
        return None
    best = message.photo[-1]  # the largest size Telegram made
    if best.file_size and best.file_size > MAX_PHOTO_BYTES:
        await message.answer(_("This photo is too large (over 10 MB). Send a smaller one."))
        return None
    caption = (message.caption or "").strip().lower()
    lang = caption if caption in LANGS else None
    # Progress: reading takes a second or two, more when others are waiting.
    await message.answer(_("Reading the photo…"))
    with tempfile.TemporaryDirectory(prefix="shopbot-photo-") as tmp:
        path = Path(tmp) / "photo"
        if not await download_capped(bot, best.file_id, path, MAX_PHOTO_BYTES):
            await message.answer(_("This photo is too large (over 10 MB). Send a smaller one."))
            return None
        data = path.read_bytes()
    try:
        return await service.aread(data, person.user_id, lang)
    except PhotoBusy as exc:
        await message.answer(busy_text(exc))
    except ImageRefused as exc:
        await message.answer(refused_text(exc))
    return None


def report_blocks(report: PhotoReport) -> list[str]:
    """The reading as HTML blocks (every string read or looked up escaped)."""
    if report.unsure:
        return [unsure_text()]
    blocks = ["📷 <b>" + _("Read from the photo:") + "</b>"]
    for item in report.lines:
        line = item.line
        # Clipped before escaping: a block stays well under Telegram's 4,096
        # characters even if every character escapes to five.
        text = f"{FLAGS.get(line.lang, '▫️')} {q(clip(line.text, 300))}"
        if item.translation is not None and item.provenance != "unchanged":
            text += f"\n→ {q(clip(item.translation, 400))}"
        elif item.translation is None and item.terms:
            text += "\n<i>" + _("Glossary: {terms}").format(
                terms=", ".join(f"{q(clip(s, 40))} → {q(clip(t, 40))}" for s, t in item.terms[:8])) + "</i>"
        blocks.append(text)
    if report.missing:
        blocks.append(_("No translation model for {pairs} is installed. An admin can install it "
                        "with: {command}").format(
            pairs=", ".join(f"{a}→{b}" for a, b in report.missing),
            command="<code>" + q("; ".join(f"shopbot models download {a} {b}" for a, b in report.missing))
            + "</code>"))
    if report.codes:
        lines = []
        for hit in report.codes[:10]:
            if hit.fixes:
                lines.append(_("Alarm {code}: {count} approved fix(es), below.").format(
                    code=f"<code>{q(hit.code)}</code>", count=len(hit.fixes)))
            else:
                lines.append(_("Alarm {code}: no approved fix yet. /fix {code} asks a trainer.").format(
                    code=f"<code>{q(hit.code)}</code>"))
        blocks.append("\n".join(lines))
    blocks.append("<i>" + _("How sure the reading is: {percent}%").format(percent=report.confidence) + "</i>")
    return blocks


def report_keyboard(report: PhotoReport):
    if report.unsure:
        return None
    rows = [[(clip(f"🔧 {hit.code}: {fix.symptom}", 60), f"fxo:{fix.id}")]
            for hit in report.codes for fix in hit.fixes][:BUTTONS]
    concepts = [(clip(f"📘 {c.label}", 30), f"more:{c.key}") for c in report.concepts if c.key is not None]
    rows += [concepts[i:i + 2] for i in range(0, min(len(concepts), BUTTONS), 2)]
    return keyboard(*rows) if rows else None


async def read_photo(message: Message, bot: Bot, app, person, lang: str):
    reading = await read_message_photo(message, bot, app, person)
    if reading is None:
        return
    report = await app.vision.areport(reading, lang, user=person.user_id)
    messages = pack(report_blocks(report))
    for text in messages[:-1]:
        await message.answer(text)
    await message.answer(messages[-1], reply_markup=report_keyboard(report))


async def newfix_photo(message: Message, bot: Bot, app, person, lang: str, state: FSMContext):
    """/newfix: the machine and the alarm codes read from the screen, as
    proposals; nothing is set until the trainer presses a button."""
    reading = await read_message_photo(message, bot, app, person)
    if reading is None:
        return
    report = await app.vision.areport(reading, lang, translate=False, user=person.user_id)
    if report.unsure:
        await message.answer(unsure_text())
        return
    codes = []
    for hit in report.codes:
        try:
            codes.append(fixes.clean_code(hit.code))
        except fixes.FixError:
            continue
    codes = list(dict.fromkeys(codes))[:fixes.MAX_CODES]
    if codes:
        await state.update_data(proposed_codes=codes)
    machines = [c for c in report.concepts if c.equipment and c.key is not None][:6]
    found = [_("Alarm codes read: {codes}").format(codes=q(", ".join(codes)) if codes else "—"),
             _("Machines read: {names}").format(names=q(", ".join(c.label for c in machines)) or "—")]
    current = await state.get_state()
    if current == NewFix.codes.state:
        if not codes:
            await message.answer("\n".join(found) + "\n" + _("Type the codes, or - for none."))
            return
        await message.answer("\n".join(found), reply_markup=keyboard(
            [(_("Use {codes}").format(codes=clip(", ".join(codes), 40)), "nf:pc")]))
        return
    if not machines:
        await message.answer("\n".join(found) + "\n" + _("Type a word for the equipment, e.g. coater."))
        return
    rows = [[(clip(c.label, 40), f"nf:eq:{c.key}")] for c in machines]
    await message.answer("\n".join(found) + "\n" + _("Which equipment is it? The codes will be proposed "
                                                     "when I ask for them."), reply_markup=keyboard(*rows))


def make_router() -> Router:
    """A new router with this module's handlers (one per Dispatcher).
    It comes before /newfix's router: a photo at the equipment or codes
    question is read here, not refused there as "not an answer"."""
    router = Router(name="photo")
    router.message.filter(private, known)
    router.message(on(NewFix.equipment, F.photo))(newfix_photo)
    router.message(on(NewFix.codes, F.photo))(newfix_photo)
    router.message(outside_dialogue, on(F.photo))(read_photo)
    return router

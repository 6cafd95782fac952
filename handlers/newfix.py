"""/newfix: a trainer writes a fix step by step; /cancel at any step.

Everything typed is kept in the FSM data (SQLite: a restart of the bot
resumes at the same step). Nothing is written to the fix tables until
« Submit », which creates the fix and submits it in ONE write, awaited before
the bot says it was received. So /cancel only has to clear the state and
delete the photos downloaded for this fix: no draft row ever exists.

Editing a draft, pending or rejected fix: ``/editfix ID FIELD TEXT``, one
field at a time (symptom, cause, codes, steps and safety one item per line,
"-" for none). A pending fix stays pending; a rejected one returns to draft.
Withdrawing is in /myfixes.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.knowledge import fixes
from bot.people.directory import can
from bot.translation.engine import TranslationError
from bot.translation.text import detect_language
from glossary.model import LANG_NAMES

from .filters import command_or_in, known, on, private
from .fixes import clip, full_blocks, keyboard, tell_new_fix, typed
from .render import pack, parse_int, q

MAX_PHOTO_BYTES = 10 * 1024 * 1024
EQUIPMENT_CHOICES = 6


class NewFix(StatesGroup):
    equipment = State()
    symptom = State()
    codes = State()
    cause = State()
    steps = State()
    photos = State()
    safety = State()
    preview = State()


def field_error(text: str | None, limit: int) -> str | None:
    """Why a typed field is refused (None: it is fine). Too long is refused,
    not truncated: a cut-off procedure step is worse than a question."""
    if text is None:
        return _("Please send text (or /cancel).")
    if not text.strip():
        return _("This is empty. Please send some text (or /cancel).")
    if len(text.strip()) > limit:
        return _("Too long: {length} characters, the limit is {limit}. Please shorten it.").format(
            length=len(text.strip()), limit=limit)
    return None


async def discard(state: FSMContext, photos_dir: Path) -> None:
    """Forget the flow in progress and the photo files it downloaded (its own:
    each download gets a file name of its own)."""
    for photo in (await state.get_data()).get("photos", []):
        if (path := fixes.photo_file(photos_dir, photo.get("local_path"))) is not None:
            path.unlink(missing_ok=True)
    await state.clear()


async def new_fix(message: Message, app, person, state: FSMContext):
    if not can(person.role, "trainer"):
        await message.answer(_("Only trainers, leads and admins can write fixes."))
        return
    await discard(state, app.settings.photos_path)
    await state.set_state(NewFix.equipment)
    await message.answer(_("New fix. Which equipment? Type a word, e.g. coater. /cancel stops at any step."))


async def cancel(message: Message, app, state: FSMContext):
    await discard(state, app.settings.photos_path)
    await message.answer(_("Cancelled. Nothing was saved."))


async def equipment_search(message: Message, app, lang: str):
    results = await app.storage.arun(app.glossary.search, message.text.strip()[:120], None, 20)
    # Equipment first, then any concept (a fix may be about a material or a process).
    results = sorted(results, key=lambda r: not r.concept.equipment)[:EQUIPMENT_CHOICES]
    if not results:
        await message.answer(_("No equipment found for «{query}». Try another word.").format(
            query=q(clip(message.text, 100))))
        return
    rows = []
    for r in results:
        term = r.concept.preferred(lang) or r.concept.preferred("en")
        key = await app.storage.arun(app.glossary.concept_key, r.concept.id)
        rows.append([(clip(term.text if term else r.concept.id, 40), f"nf:eq:{key}")])
    await message.answer(_("Which one?"), reply_markup=keyboard(*rows))


async def equipment_chosen(callback: CallbackQuery, app, lang: str, state: FSMContext):
    key = parse_int(callback.data.rsplit(":", 1)[1])
    concept = await app.storage.arun(app.glossary.concept_by_key, key) if key is not None else None
    await callback.answer()
    if concept is None:
        return
    term = concept.preferred(lang) or concept.preferred("en")
    await state.update_data(equipment=concept.id, equipment_label=term.text if term else concept.id)
    await state.set_state(NewFix.symptom)
    await callback.message.answer(_("Equipment: {name}. What is the symptom (what the operator sees)?").format(
        name=q(term.text if term else concept.id)))


async def symptom(message: Message, state: FSMContext):
    if error := field_error(message.text, fixes.MAX_SYMPTOM):
        await message.answer(error)
        return
    await state.update_data(symptom=message.text.strip())
    await state.set_state(NewFix.codes)
    # Codes read from a photo of the alarm screen (handlers/photo.py): offered, not set.
    proposed = (await state.get_data()).get("proposed_codes") or []
    await message.answer(_("Alarm codes, separated by commas (e.g. E-203), or - for none?"),
                         reply_markup=keyboard([(clip(", ".join(proposed), 40), "nf:pc")]) if proposed else None)


async def proposed_codes(callback: CallbackQuery, state: FSMContext):
    """The trainer confirms the codes read from the photo."""
    await callback.answer()
    codes = (await state.get_data()).get("proposed_codes") or []
    if not codes or callback.message is None:
        return
    await state.update_data(codes=codes, proposed_codes=[])
    await state.set_state(NewFix.cause)
    await callback.message.answer(_("Codes: {codes}. What causes it? (- if unknown)").format(codes=q(", ".join(codes))))


async def codes(message: Message, state: FSMContext):
    if error := field_error(message.text, 400):
        await message.answer(error)
        return
    raw = fixes.typed_codes(message.text)
    try:
        found = list(dict.fromkeys(fixes.clean_code(c) for c in raw))[:fixes.MAX_CODES]
    except fixes.FixError:
        await message.answer(_("These are not alarm codes (letters and digits, e.g. E-203). "
                               "Send them again, or - for none."))
        return
    await state.update_data(codes=found)
    await state.set_state(NewFix.cause)
    await message.answer(_("What causes it? (- if unknown)"))


async def cause(message: Message, state: FSMContext):
    if error := field_error(message.text, fixes.MAX_CAUSE):
        await message.answer(error)
        return
    await state.update_data(cause="" if message.text.strip() == "-" else message.text.strip(), steps=[])
    await state.set_state(NewFix.steps)
    await message.answer(_("Now the steps, one message per step. /done when finished."))


async def step(message: Message, state: FSMContext):
    if error := field_error(message.text, fixes.MAX_ITEM):
        await message.answer(error)
        return
    steps = (await state.get_data()).get("steps", []) + [message.text.strip()]
    if len(steps) > fixes.MAX_STEPS:
        await message.answer(_("That is the most steps a fix can have. /done to continue."))
        return
    await state.update_data(steps=steps)
    await message.answer(_("Step {n} saved. Send the next step, or /done.").format(n=len(steps)),
                         reply_markup=keyboard([(_("Done"), "nf:done")]))


async def steps_done(event: Message | CallbackQuery, state: FSMContext):
    message = event.message if isinstance(event, CallbackQuery) else event
    if isinstance(event, CallbackQuery):
        await event.answer()
    if not (await state.get_data()).get("steps"):
        await message.answer(_("A fix needs at least one step. Send it."))
        return
    await state.set_state(NewFix.photos)
    await message.answer(_("Photos? Send them one by one, or /skip."))


async def download_capped(bot: Bot, file_id: str, destination: Path, limit: int) -> bool:
    """Download a file to ``destination`` unless it is over ``limit`` bytes,
    counting the bytes actually read: ``file_size`` may be missing or false
    (a self-hosted Bot API server). False, and nothing left, when too large."""
    file = await bot.get_file(file_id)
    if file.file_size and file.file_size > limit:
        return False
    api = bot.session.api
    if api.is_local:  # a local Bot API server hands out paths on this machine
        chunks = _file_chunks(api.wrap_local_file.to_local(file.file_path))
    else:
        chunks = bot.session.stream_content(api.file_url(bot.token, file.file_path),
                                            timeout=60, chunk_size=65536)
    part = destination.with_name(destination.name + ".part")
    try:
        with part.open("wb") as out:
            async for chunk in chunks:
                if out.tell() + len(chunk) > limit:
                    return False
                out.write(chunk)
        part.replace(destination)
        return True
    finally:
        part.unlink(missing_ok=True)


async def _file_chunks(path, size: int = 65536):
    """A local file's content, read off the event loop."""
    with open(path, "rb") as source:
        while chunk := await asyncio.to_thread(source.read, size):
            yield chunk


async def photo(message: Message, bot: Bot, app, person, state: FSMContext):
    best = message.photo[-1]  # the largest size Telegram made
    too_large = _("This photo is too large (over 10 MB). Send a smaller one, or /skip.")
    if best.file_size and best.file_size > MAX_PHOTO_BYTES:
        await message.answer(too_large)
        return
    photos = (await state.get_data()).get("photos", [])
    if len(photos) >= fixes.MAX_PHOTOS:
        await message.answer(_("That is the most photos a fix can have. /skip to continue."))
        return
    # A name of its own per download: the same photo sent to two fixes is two
    # files, so cancelling one flow or withdrawing one fix leaves the other's.
    target = app.settings.photos_path / f"{person.user_id}-{best.file_unique_id}-{secrets.token_hex(4)}.jpg"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not await download_capped(bot, best.file_id, target, MAX_PHOTO_BYTES):
        await message.answer(too_large)
        return
    await state.update_data(photos=photos + [{"file_id": best.file_id, "local_path": str(target)}])
    await message.answer(_("Photo {n} saved. Send another, or /skip to go on.").format(n=len(photos) + 1))


async def not_a_photo(message: Message):
    await message.answer(_("That is a file, not a photo: send it as a photo (compressed), or /skip. "
                           "Nothing you entered is lost."))


async def photos_done(message: Message, state: FSMContext):
    await state.set_state(NewFix.safety)
    await message.answer(_("Safety notes, one per line (lockout, PPE...), or /skip."))


async def safety(message: Message, app, person, state: FSMContext):
    skip = message.text.strip() == "/skip"
    notes = [] if skip else fixes.typed_items(message.text)
    for note in notes:
        if error := field_error(note, fixes.MAX_ITEM):
            await message.answer(error)
            return
    if len(notes) > fixes.MAX_SAFETY:
        await message.answer(_("At most {limit} safety notes, please.").format(limit=fixes.MAX_SAFETY))
        return
    await state.update_data(safety=notes)
    await state.set_state(NewFix.preview)
    await show_preview(message, app, person, await state.get_data())


async def show_preview(message: Message, app, person, data: dict) -> None:
    lang = await original_language(data, person.lang)
    blocks = [_("Preview ({lang}):").format(lang=LANG_NAMES[lang])] + fix_blocks(data, data)
    if lang != "fr":
        blocks += [_("French preview (machine translation):")] + await french_blocks(app, data, lang)
    messages = pack(blocks)
    for text in messages[:-1]:
        await message.answer(text)
    await message.answer(messages[-1], reply_markup=keyboard([(_("Submit"), "nf:submit")]))


def fix_blocks(data: dict, text: dict) -> list[str]:
    return full_blocks(text["symptom"], text["cause"], text["steps"], text["safety"],
                       data.get("codes", []), data["equipment_label"])


async def original_language(data: dict, prior: str) -> str:
    sample = "\n".join([data["symptom"], data["cause"], *data["steps"]])
    return (await asyncio.to_thread(detect_language, sample, prior)).lang or prior


async def french_blocks(app, data: dict, source: str) -> list[str]:
    async def tr(text: str) -> str:
        return (await app.engine.atranslate(text, "fr", source=source)).text if text else ""

    try:
        text = {"symptom": await tr(data["symptom"]), "cause": await tr(data["cause"]),
                "steps": [await tr(s) for s in data["steps"]], "safety": [await tr(s) for s in data["safety"]]}
    except TranslationError:
        return [_("The French preview is unavailable (no translation model installed).")]
    return fix_blocks(data, text)


async def submit(callback: CallbackQuery, bot: Bot, app, people, person, state: FSMContext):
    data = await state.get_data()
    await callback.answer()
    lang = await original_language(data, person.lang)
    try:
        fix_id = await app.storage.awrite(
            fixes.create_and_submit, author=person.user_id, equipment=data["equipment"], original_lang=lang,
            symptom=data["symptom"], cause=data["cause"], steps=data["steps"], safety=data["safety"],
            codes=data["codes"], photos=data.get("photos", []))
    except fixes.FixError as exc:
        await callback.message.answer(q(str(exc)))
        return
    await state.clear()  # the photo files now belong to the fix: not discarded
    # The reviewers first: when the author reads "received", the leads know.
    await tell_new_fix(bot, people, fix_id, person, data["symptom"])
    await callback.message.answer(_("Received: fix #{id} waits for a lead's review.").format(id=fix_id))


async def unexpected(message: Message):
    await message.answer(_("That does not answer my last question. Answer it, or /cancel."))


EDITABLE = ("symptom", "cause", "codes", "steps", "safety")


def edit_value(field: str, text: str):
    """The service's value for a field typed in a chat message."""
    if field in ("symptom", "cause"):
        return text.strip()
    return fixes.typed_codes(text) if field == "codes" else fixes.typed_items(text)


async def edit_fix(message: Message, app, person):
    parts = (message.text or "").split(maxsplit=3)
    if len(parts) < 4 or parse_int(parts[1]) is None or parts[2].lower() not in EDITABLE:
        await message.answer(_("Usage: /editfix ID FIELD TEXT, FIELD one of: {fields}. "
                               "Steps and safety notes: one per line; - for none.").format(
            fields=", ".join(EDITABLE)))
        return
    fix_id, field, text = parse_int(parts[1]), parts[2].lower(), parts[3]
    try:
        version = await app.storage.awrite(fixes.update_draft, fix_id, person.user_id, role=person.role,
                                           **{field: edit_value(field, text)})
    except fixes.FixError as exc:
        await message.answer(q(str(exc)))
        return
    await message.answer(_("Fix {id} updated (version {version}).").format(id=fix_id, version=version))


def make_router() -> Router:
    """A new router with this module's handlers (one per Dispatcher)."""
    router = Router(name="newfix")
    router.message.filter(command_or_in(NewFix), private, known)
    router.callback_query.filter(known)
    text = typed
    router.message(Command("newfix"))(new_fix)
    router.message(Command("cancel"))(cancel)
    router.message(Command("editfix"))(edit_fix)
    router.message(on(NewFix.equipment, text))(equipment_search)
    router.callback_query(on(NewFix.equipment, F.data.startswith("nf:eq:")))(equipment_chosen)
    router.message(on(NewFix.symptom, text))(symptom)
    router.message(on(NewFix.codes, text))(codes)
    router.callback_query(on(NewFix.codes, F.data == "nf:pc"))(proposed_codes)
    router.message(on(NewFix.cause, text))(cause)
    router.message(on(NewFix.steps), Command("done"))(steps_done)
    router.callback_query(on(NewFix.steps, F.data == "nf:done"))(steps_done)
    router.message(on(NewFix.steps, text))(step)
    router.message(on(NewFix.photos, F.photo))(photo)
    router.message(on(NewFix.photos, F.document))(not_a_photo)
    router.message(on(NewFix.photos), Command("skip", "done"))(photos_done)
    router.message(on(NewFix.safety), Command("skip"))(safety)
    router.message(on(NewFix.safety, text))(safety)
    router.callback_query(on(NewFix.preview, F.data == "nf:submit"))(submit)
    router.message(StateFilter(NewFix), on(lambda m: not (m.text or "").startswith("/")))(unexpected)
    return router

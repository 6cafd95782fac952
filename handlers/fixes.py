"""The troubleshooting knowledge base, reading and reviewing side.

/fix QUERY (anyone known): ranked approved fixes as a short list; a result
opens as a step-by-step card with photos, ◀ ▶, and feedback buttons. Nothing
found: « Ask a trainer » forwards the question. /review, /stats (leads): the
queue of pending fixes and glossary suggestions, approve / reject with a
reason. /suggest TERM = PROPOSAL, /myfixes (trainers). Speakers verify or
correct a machine translation from the card (« Correct » takes the whole
text as lines: symptom, cause, then one line per step; safety notes are kept).

The guided /newfix flow is in handlers/newfix.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, FSInputFile, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext
from aiogram.utils.i18n import gettext as _

from bot.knowledge import fixes, review, suggestions
from bot.knowledge.fixes import FixError
from bot.knowledge.search import FixBase
from bot.people.directory import MAX_ID, can
from bot.telegram.texts import N_
from glossary.model import LANG_NAMES

from .filters import command_or_in, is_command, known, on, private
from .render import LIMIT, pack, parse_int, q, split_plain

log = logging.getLogger(__name__)

CAPTION_CHARS = 200  # photo captions: Telegram allows 1024, a label is enough


class Correcting(StatesGroup):
    text = State()  # data: fix_id, lang


class Reviewing(StatesGroup):
    reason = State()  # data: kind, item_id


def knowledge(app) -> FixBase:
    # The engine is built lazily by App and loads no model until a translation runs.
    return FixBase(app.storage, app.glossary, app.engine)


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=text, callback_data=data) for text, data in row] for row in rows if row])


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def args_of(callback: CallbackQuery) -> list[str]:
    """The parts after the prefix; ids checked by the caller with ``parse_int``."""
    return callback.data.split(":")[1:]


def typed(message: Message) -> bool:
    """Text that is not a command: commands keep working in the middle of a dialogue."""
    return bool(message.text) and not is_command(message.text)


# -- rendering ----------------------------------------------------------------

def text_blocks(label: str, text: str) -> list[str]:
    """A labelled field as HTML blocks, each under the message limit even when
    escaping grows it (700 plain characters are at most 3500 escaped)."""
    pieces = split_plain(text, 700)
    return [f"<b>{q(label)}</b> {q(pieces[0])}"] + [q(p) for p in pieces[1:]]


def full_blocks(symptom: str, cause: str, steps: list[str], safety: list[str],
                codes: list[str], equipment: str) -> list[str]:
    """A whole fix (preview, review): every field, every step."""
    blocks = text_blocks(_("Equipment:"), equipment) + text_blocks(_("Symptom:"), symptom)
    if codes:
        blocks += text_blocks(_("Codes:"), ", ".join(codes))
    if cause:
        blocks += text_blocks(_("Cause:"), cause)
    for note in safety:
        blocks += text_blocks("⚠️", note)
    for n, step in enumerate(steps, 1):
        blocks += text_blocks(_("Step {n}:").format(n=n), step)
    return blocks


def card_text(card, step: int, budget: int = 600) -> str:
    """Symptom, cause, safety, then step N of M. Fields are clipped to
    ``budget``; halved until the escaped card fits one message."""
    lines = [f"🔧 <b>{q(clip(card.symptom, budget))}</b>"]
    if card.sample:  # written by us as an example: never passed off as the plant's procedure
        lines.append("⚠️ <b>" + _("Example, not validated on this line: check it with your lead "
                                 "before you follow it.") + "</b>")
    if card.codes:
        lines.append("<code>" + q(", ".join(card.codes)) + "</code>")
    if not card.in_reader_lang:
        lines.append("<i>" + _("Not translated into your language yet: the original ({lang}).").format(
            lang=LANG_NAMES.get(card.lang, card.lang)) + "</i>")
    elif card.kind == "machine":
        lines.append("<i>" + _("Machine translation, not checked by a speaker yet.") + "</i>")
    if card.cause:
        lines.append(f"<b>{_('Cause:')}</b> {q(clip(card.cause, budget))}")
    lines += [f"⚠️ {q(clip(note, budget // 2))}" for note in card.safety]
    lines.append("")
    lines.append("<b>" + _("Step {n} of {m}:").format(n=step, m=len(card.steps)) + "</b> "
                 + q(clip(card.steps[step - 1], 2 * budget)))
    lines.append(f"✅ {card.worked} · ❌ {card.failed}")
    text = "\n".join(lines)
    return text if len(text) <= LIMIT or budget < 50 else card_text(card, step, budget // 2)


def card_keyboard(card, step: int, person, reader_lang: str) -> InlineKeyboardMarkup:
    nav = [("◀", f"fx:{card.id}:{step - 1}")] if step > 1 else []
    nav += [("▶", f"fx:{card.id}:{step + 1}")] if step < len(card.steps) else []
    vote = [(_("✅ It worked"), f"fxv:{card.id}:1"), (_("❌ It didn't"), f"fxv:{card.id}:0")]
    speaker = []
    if can(person.role, "trainer") and card.kind == "machine" and card.lang == reader_lang:
        name = LANG_NAMES.get(reader_lang, reader_lang)
        speaker = [(_("Verify {lang}").format(lang=name), f"fxk:{card.id}:{reader_lang}"),
                   (_("Correct {lang}").format(lang=name), f"fxc:{card.id}:{reader_lang}")]
    adopt = [(_("Validate for this site"), f"fxs:{card.id}")] if card.sample and can(person.role, "lead") else []
    return keyboard(nav, vote, speaker, adopt)


async def adopt(callback: CallbackQuery, app, person):
    """A lead validates a sample fix for this site (the banner goes)."""
    fix_id = parse_int(args_of(callback)[0])
    try:
        adopted = await app.storage.awrite(fixes.adopt_sample, fix_id, person.user_id, role=person.role)
    except FixError as exc:
        await callback.answer(clip(str(exc), 190))
        return
    await callback.answer(_("Fix #{id} is now this site's procedure.").format(id=fix_id) if adopted
                          else _("Fix #{id} is not an example.").format(id=fix_id))


async def visible_card(app, person, fix_id: int | None, lang: str):
    """The card, if this person may read it: approved, or any status for leads."""
    card = await knowledge(app).aget(fix_id, lang) if fix_id is not None else None
    if card is None or (card.status != "approved" and not can(person.role, "lead")):
        return None
    return card


async def send_photos(message: Message, card, photos_dir: Path) -> None:
    caption = q(clip(card.symptom, CAPTION_CHARS))
    for photo in card.photos:
        if photo.file_id:
            source = photo.file_id
        elif (path := fixes.photo_file(photos_dir, photo.local_path)) is not None and path.is_file():
            source = FSInputFile(path)
        else:  # no file, or one outside the photos folder (a planted path): never sent
            continue
        try:
            await message.answer_photo(source, caption=caption)
        except TelegramAPIError as exc:  # a file id of another bot, a file gone: the card still goes
            log.warning("fix %s: photo not sent: %s", card.id, exc)


async def notify(bot: Bot, people, user_id: int, msgid: str, **values) -> bool:
    """A message to someone in their own interface language (values already
    escaped); whether it went out. People of the web only (ids from MAX_ID
    up) have no Telegram chat: skipped."""
    if not 0 < user_id < MAX_ID:
        return False
    person = await people.get(user_id)
    text = gettext(msgid, locale=person.lang if person else "en").format(**values)
    try:
        await bot.send_message(user_id, text)
    except TelegramAPIError as exc:  # blocked the bot, never started it: the decision stands
        log.warning("could not notify %s: %s", user_id, exc)
        return False
    return True


async def tell_reviewers(bot: Bot, people, author: int, msgid: str, **values) -> None:
    """Tell every lead and admin but the author that something waits in /review:
    a submission should not wait for somebody to think of looking."""
    for reviewer in await people.list():
        if reviewer.can("lead") and reviewer.user_id != author:
            await notify(bot, people, reviewer.user_id, msgid, **values)


# -- operators: search, card, feedback, ask a trainer -------------------------

async def fix_command(message: Message, command: CommandObject, app, person, lang: str, state: FSMContext):
    query = (command.args or "").strip()[:fixes.MAX_QUERY]
    if not query:
        await message.answer(_("Usage: /fix WORDS or an alarm code, e.g. /fix E-203"))
        return
    results = await knowledge(app).asearch(query, lang, 5, user=person.user_id)
    if not results:
        # Kept for the « Ask a trainer » button: callback data is too small for the question.
        await state.update_data(ask_query=query)
        await message.answer(_("No fix found for «{query}». The leads will see the question.").format(
            query=q(query)), reply_markup=keyboard([(_("Ask a trainer"), "fxq")]))
        return
    lines = [_("Fixes for «{query}»:").format(query=q(query))]
    lines += [f"{n}. {q(clip(r.symptom, 120))}" for n, r in enumerate(results, 1)]
    await message.answer("\n".join(lines), reply_markup=keyboard(
        [(str(n), f"fxo:{r.id}") for n, r in enumerate(results, 1)]))


async def open_card(callback: CallbackQuery, app, person, lang: str):
    card = await visible_card(app, person, parse_int(args_of(callback)[0]), lang)
    await callback.answer()
    if card is None or not callback.message:
        return
    await send_photos(callback.message, card, app.settings.photos_path)
    await callback.message.answer(card_text(card, 1), reply_markup=card_keyboard(card, 1, person, lang))


async def turn_step(callback: CallbackQuery, app, person, lang: str):
    parts = args_of(callback)
    card = await visible_card(app, person, parse_int(parts[0]), lang)
    step = parse_int(parts[1]) if len(parts) > 1 else None
    await callback.answer()
    if card is None or step is None or not 1 <= step <= len(card.steps) or not callback.message:
        return
    await callback.message.edit_text(card_text(card, step), reply_markup=card_keyboard(card, step, person, lang))


async def vote(callback: CallbackQuery, app, person):
    parts = args_of(callback)
    fix_id = parse_int(parts[0])
    try:
        worked, failed = await app.storage.awrite(fixes.feedback, fix_id, person.user_id, parts[-1] == "1")
    except FixError:
        await callback.answer(_("This fix is no longer available."))
        return
    await callback.answer(_("Thank you! It worked for {worked}, not for {failed}.").format(
        worked=worked, failed=failed))


async def ask_trainer(callback: CallbackQuery, bot: Bot, app, people, person, state: FSMContext):
    query = (await state.get_data()).get("ask_query")
    if not query:
        await callback.answer(_("Send /fix with your question again."))
        return
    await state.update_data(ask_query=None)  # one question, sent once
    concepts, _words = await app.storage.arun(knowledge(app).understand, query)
    experts = await app.storage.aread(review.equipment_authors, sorted(concepts))
    trainers = [p for p in await people.list()
                if p.role in ("trainer", "lead") and p.user_id != person.user_id
                and p.user_id < MAX_ID]  # people of the web only cannot get the question
    chosen = [p for p in trainers if p.user_id in experts] or trainers
    for trainer in chosen:
        await notify(bot, people, trainer.user_id, N_("Question from {name} (/fix found nothing): «{query}»"),
                     name=q(person.label), query=q(query))
    await callback.answer()
    if callback.message:
        await callback.message.answer(_("Your question went to {count} trainer(s).").format(count=len(chosen)))


# -- speakers: verify or correct a machine translation --------------------------

async def verify(callback: CallbackQuery, app, person):
    parts = args_of(callback)
    if len(parts) < 2:  # a malformed or forged button
        await callback.answer()
        return
    try:
        changed = await app.storage.awrite(fixes.verify_text, parse_int(parts[0]), parts[1], person.user_id)
    except FixError as exc:
        await callback.answer(clip(str(exc), 190))
        return
    await callback.answer(_("Marked as verified. Thank you!") if changed else _("Already verified."))


async def start_correction(callback: CallbackQuery, app, person, lang: str, state: FSMContext):
    parts = args_of(callback)
    if len(parts) < 2 or not can(person.role, "trainer"):
        # Only speakers with a trainer role correct; a forged button opens nothing.
        await callback.answer(_("Only a trainer or a lead can correct translations."))
        return
    card = await visible_card(app, person, parse_int(parts[0]), parts[1])
    await callback.answer()
    if card is None or card.lang != parts[1] or card.kind == "original" or not callback.message:
        return
    await state.set_state(Correcting.text)
    await state.update_data(fix_id=card.id, lang=card.lang)
    current = "\n".join([card.symptom, card.cause or "-", *card.steps])
    await callback.message.answer(
        _("Send the corrected text in one message: first line the symptom, second line the cause "
          "(- for none), then one line per step. /cancel to stop. The current text:") + "\n"
        + "<code>" + q(clip(current, 3000)) + "</code>")


async def finish_correction(message: Message, app, person, state: FSMContext):
    data = await state.get_data()
    lines = [line.strip() for line in message.text.splitlines() if line.strip()]
    if len(lines) < 3:
        await message.answer(_("I need at least three lines: symptom, cause (or -), and one step."))
        return
    card = await knowledge(app).aget(data["fix_id"], data["lang"])
    cause = "" if lines[1] == "-" else lines[1]
    try:
        units = await app.storage.awrite(fixes.correct_text, data["fix_id"], data["lang"], lines[0], cause,
                                         lines[2:], card.safety if card else [], person.user_id)
    except FixError as exc:
        await state.set_state(None)  # refused for good: do not leave the person in this dialogue
        await message.answer(q(str(exc)))
        return
    await state.set_state(None)
    await message.answer(_("Correction saved; {count} sentence(s) added to the translation memory.").format(
        count=len(units)))


# -- leads: the review queue ------------------------------------------------------

async def show_item(message: Message, app, lang: str, item: review.QueueItem | None) -> None:
    if item is None:
        await message.answer(_("Nothing to review."))
        return
    buttons = keyboard([(_("Approve"), f"rv:{item.kind[0]}:{item.id}:a"),
                        (_("Reject"), f"rv:{item.kind[0]}:{item.id}:r")])
    if item.kind == "suggestion":
        s = await app.storage.aread(suggestions.get, item.id)
        await message.answer(_("Glossary suggestion #{id} by {author}:").format(id=s.id, author=s.author)
                             + f"\n<b>{q(s.term)}</b> = {q(s.proposal)}", reply_markup=buttons)
        return
    card = await knowledge(app).aget(item.id)  # the original text
    concept = await app.storage.arun(app.glossary.concept, card.equipment)
    term = concept and (concept.preferred(lang) or concept.preferred("en"))
    head = _("Fix #{id} by {author}, in {lang}:").format(id=card.id, author=q(card.author),
                                                         lang=LANG_NAMES.get(card.lang, card.lang))
    blocks = [head] + full_blocks(card.symptom, card.cause, card.steps, card.safety, card.codes,
                                  term.text if term else card.equipment)
    messages = pack(blocks)
    for text in messages[:-1]:
        await message.answer(text)
    await send_photos(message, card, app.settings.photos_path)
    await message.answer(messages[-1], reply_markup=buttons)


async def review_command(message: Message, app, person, lang: str):
    if not can(person.role, "lead"):
        await message.answer(_("Only leads and admins can review fixes."))
        return
    await show_item(message, app, lang, await app.storage.aread(review.next_pending))


async def decide(callback: CallbackQuery, bot: Bot, app, people, person, lang: str, state: FSMContext):
    kind, raw_id, action = (args_of(callback) + ["", "", ""])[:3]
    item_id = parse_int(raw_id)
    if not can(person.role, "lead") or item_id is None or kind not in ("f", "s"):
        await callback.answer(_("Only leads and admins can review fixes."))
        return
    if action == "r":
        await state.set_state(Reviewing.reason)
        await state.update_data(kind=kind, item_id=item_id)
        await callback.answer()
        if callback.message:
            await callback.message.answer(_("Why is it rejected? Your next message goes to the author."))
        return
    try:
        changed = await approve_item(bot, app, people, person, kind, item_id)
    except (FixError, suggestions.SuggestionError) as exc:
        await callback.answer(clip(str(exc), 190))
        return
    # Only the tap that changed something notifies: a double tap approves once.
    await callback.answer(_("Approved.") if changed else _("Already approved."))
    if changed and callback.message:
        after = review.QueueItem("fix" if kind == "f" else "suggestion", item_id)
        await show_item(callback.message, app, lang, await app.storage.aread(review.next_pending, after))


async def approve_item(bot: Bot, app, people, person, kind: str, item_id: int) -> bool:
    decision = await review.approve(knowledge(app), "suggestion" if kind == "s" else "fix", item_id,
                                    person.user_id)
    await tell_author(bot, people, decision, approved=True)
    return decision.changed


async def tell_author(bot: Bot, people, decision: review.Decision, approved: bool, reason: str = "") -> bool:
    """The author learns the decision in their language; only the decision
    that changed something tells (a double tap approves, and tells, once).
    Whether a message went out."""
    if not decision.changed or not decision.author:
        return False
    if approved and decision.kind == "suggestion":
        return await notify(bot, people, decision.author, N_("Your glossary suggestion «{term}» was approved."),
                            term=q(decision.title))
    elif approved:
        return await notify(bot, people, decision.author, N_("Your fix #{id} was approved: «{symptom}»."),
                            id=decision.id, symptom=q(clip(decision.title, 200)))
    else:
        return await notify(bot, people, decision.author,
                            N_("Your submission #{id} was not approved. The reason: {reason}"),
                            id=decision.id, reason=q(clip(reason, 2000)))


class Announcer:
    """What the web app (``App.announce``) uses to tell people in the bot:
    the author of a decision, the reviewers of a new fix; in their language."""

    def __init__(self, bot: Bot, people, i18n):
        self.bot, self.people, self.i18n = bot, people, i18n

    # Outside an update no middleware set the catalogues: each call does.
    async def tell_author(self, decision: review.Decision, approved: bool, reason: str = "") -> bool:
        with self.i18n.context():
            return await tell_author(self.bot, self.people, decision, approved, reason)

    async def tell_reviewers(self, fix_id: int, person, symptom: str) -> None:
        with self.i18n.context():
            await tell_new_fix(self.bot, self.people, fix_id, person, symptom)


async def tell_new_fix(bot: Bot, people, fix_id: int, person, symptom: str) -> None:
    await tell_reviewers(bot, people, person.user_id,
                         N_("New fix #{id} to review, from {name}: «{symptom}». /review"),
                         id=fix_id, name=q(person.label), symptom=q(clip(symptom, 200)))


async def reject_reason(message: Message, bot: Bot, app, people, person, lang: str, state: FSMContext):
    data = await state.get_data()
    reason = message.text.strip()
    kind = "suggestion" if data["kind"] == "s" else "fix"
    try:
        decision = await review.reject(knowledge(app), kind, data["item_id"], person.user_id, reason)
    except (FixError, suggestions.SuggestionError) as exc:
        await message.answer(q(str(exc)))
        return
    await state.set_state(None)
    await tell_author(bot, people, decision, approved=False, reason=reason)
    await message.answer(_("Rejected; the author has been told why.") if decision.changed
                         else _("Already rejected."))
    after = review.QueueItem(kind, data["item_id"])
    await show_item(message, app, lang, await app.storage.aread(review.next_pending, after))


async def stats_command(message: Message, app, person):
    if not can(person.role, "lead"):
        await message.answer(_("Only leads and admins can see the statistics."))
        return
    st = await app.storage.arun(knowledge(app).stats)
    pending = await app.storage.aread(review.pending_counts)
    listing = lambda rows: "\n".join(f"{n} × {q(clip(text, 80))}" for text, n in rows) or "—"  # noqa: E731
    blocks = [
        _("Pending: {fixes} fix(es), {suggestions} suggestion(s).").format(
            fixes=pending["fix"], suggestions=pending["suggestion"]),
        "<b>" + _("Top searches") + "</b>\n" + listing(st.top_searches),
        "<b>" + _("Searches with no answer") + "</b>\n" + listing(st.unanswered),
        "<b>" + _("Most useful fixes") + "</b>\n" + ("\n".join(
            f"#{i} {q(slug)}: ✅ {w} ❌ {f}" for i, slug, w, f in st.most_useful) or "—"),
        "<b>" + _("Glossary gaps") + "</b>\n" + ("\n".join(
            f"{q(cid)}: {', '.join(langs)}" for cid, langs in st.equipment_gaps[:20]) or "—"),
    ]
    for text in pack(blocks):
        await message.answer(text)


# -- trainers: suggestions, their own fixes ---------------------------------------

async def suggest_command(message: Message, bot: Bot, app, people, person):
    if not can(person.role, "trainer"):
        await message.answer(_("Only trainers, leads and admins can suggest glossary terms."))
        return
    term, sep, proposal = (message.text.partition(" ")[2]).partition("=")
    if not sep or not term.strip() or not proposal.strip():
        await message.answer(_("Usage: /suggest TERM = PROPOSAL, e.g. /suggest coater = enduiseuse"))
        return
    try:
        sid = await app.storage.awrite(suggestions.add, term, proposal, person.user_id)
    except suggestions.SuggestionError as exc:
        await message.answer(q(str(exc)))
        return
    await tell_reviewers(bot, people, person.user_id,
                         N_("New glossary suggestion #{id} from {name}: «{term}» = «{proposal}». /review"),
                         id=sid, name=q(person.label), term=q(clip(term.strip(), 200)),
                         proposal=q(clip(proposal.strip(), 200)))
    await message.answer(_("Suggestion #{id} received; a lead will review it.").format(id=sid))


async def my_fixes(message: Message, app, person):
    rows = await app.storage.aread(review.my_fixes, person.user_id)
    if not rows:
        await message.answer(_("You have no fixes yet. /newfix writes one."))
        return
    lines = [f"#{i} {q(slug)} · {q(status)}" for i, slug, status in rows]
    buttons = [[(_("Withdraw #{id}").format(id=i), f"fxw:{i}")] for i, _s, status in rows
               if status in ("draft", "pending")]
    await message.answer("\n".join(lines), reply_markup=keyboard(*buttons) if buttons else None)


async def withdraw(callback: CallbackQuery, app, person):
    fix_id = parse_int(args_of(callback)[0])
    try:
        unused = await app.storage.awrite(fixes.withdraw, fix_id, person.user_id)
    except FixError as exc:
        await callback.answer(clip(str(exc), 190))
        return
    for local_path in unused:  # files no other fix names; never one outside the photos folder
        if (path := fixes.photo_file(app.settings.photos_path, local_path)) is not None:
            path.unlink(missing_ok=True)
    await callback.answer(_("Fix #{id} withdrawn.").format(id=fix_id))


def make_router() -> Router:
    """A new router with this module's handlers (one per Dispatcher)."""
    router = Router(name="fixes")
    router.message.filter(command_or_in(Correcting, Reviewing), private, known)
    router.callback_query.filter(known)
    router.message(Command("fix"))(fix_command)
    router.message(Command("review"))(review_command)
    router.message(Command("stats"))(stats_command)
    router.message(Command("suggest"))(suggest_command)
    router.message(Command("myfixes"))(my_fixes)
    router.message(on(Correcting.text, typed))(finish_correction)
    router.message(on(Reviewing.reason, typed))(reject_reason)
    router.callback_query(on(F.data.startswith("fxo:")))(open_card)
    router.callback_query(on(F.data.startswith("fx:")))(turn_step)
    router.callback_query(on(F.data.startswith("fxv:")))(vote)
    router.callback_query(on(F.data == "fxq"))(ask_trainer)
    router.callback_query(on(F.data.startswith("fxk:")))(verify)
    router.callback_query(on(F.data.startswith("fxc:")))(start_correction)
    router.callback_query(on(F.data.startswith("fxw:")))(withdraw)
    router.callback_query(on(F.data.startswith("fxs:")))(adopt)
    router.callback_query(on(F.data.startswith("rv:")))(decide)
    return router

"""The ``shopbot`` command line.

Every command opens the same storage and services the bot uses, so what the
CLI shows is what the bot answers. Errors are one line and a non-zero exit,
never a traceback (set SHOPBOT_DEBUG=1 to see one).
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from glossary import CATEGORIES, LANGS, GlossaryError, SearchResult
from glossary import exchange
from glossary import store as glossary_store

from .app import App
from .config import SECRETS, get_settings, redact
from .storage import StorageError
from .translation import memory as tm
from .translation.engine import MissingModelError
from .translation.models import DEFAULT_INDEX_URL, SETUP_PAIRS, OfflineError, offline_route

#: Exit codes: 1 for a refused operation (bad input, not found), 2 for usage
#: and configuration problems, as click does.
EXIT_FAILED = 1

console = Console(highlight=False, soft_wrap=False)
err_console = Console(stderr=True, highlight=False)


class _OneLineErrors(click.Group):
    """Turn every expected failure into ``Error: ...`` on stderr and exit 1.
    With SHOPBOT_DEBUG set, the traceback instead; either way redacted."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place that reports them
            if os.environ.get("SHOPBOT_DEBUG"):
                import traceback

                click.echo(redact(traceback.format_exc()), err=True, nl=False)
                ctx.exit(EXIT_FAILED)
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if len(message) > 1000:  # an error line, not a dump of the input
                message = message[:1000] + "…"
            if not isinstance(exc, (GlossaryError, StorageError, ValueError, OSError)):
                message = f"internal error ({type(exc).__name__}): {message}"
            click.echo(redact(f"Error: {message}"), err=True)
            ctx.exit(EXIT_FAILED)


def _app(ctx: click.Context) -> App:
    """The application for this command, opened once and closed when it ends."""
    obj = ctx.ensure_object(dict)
    if "app" not in obj:
        obj["app"] = ctx.with_resource(App(get_settings(db=obj.get("db"))))
    return obj["app"]


def _actor() -> str:
    """Who the audit trail names for a command-line change."""
    return f"cli:{getpass.getuser()}"


def with_app(fn):
    """Pass the App as the command's first argument."""

    @functools.wraps(fn)
    @click.pass_context
    def wrapper(ctx, *args, **kwargs):
        return fn(_app(ctx), *args, **kwargs)

    return wrapper


@click.group(cls=_OneLineErrors)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              help="Database file (default: $SHOPBOT_DB, else ./shopbot.db).")
@click.version_option(package_name="shopbot")
@click.pass_context
def cli(ctx: click.Context, db: Path | None) -> None:
    """shopbot: multilingual shop-floor assistant (zh, ko, ms, fr, en)."""
    ctx.ensure_object(dict)["db"] = db


@cli.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Start the web app and, with SHOPBOT_TOKEN, the Telegram bot beside it, until SIGTERM or Ctrl-C."""
    _serve(ctx, telegram=True)


@cli.group(invoke_without_command=True)
@click.pass_context
def web(ctx: click.Context) -> None:
    """The web app alone (`shopbot web`); `shopbot web link` makes a sign-in link."""
    if ctx.invoked_subcommand is None:
        _serve(ctx, telegram=False)


def _serve(ctx: click.Context, telegram: bool) -> None:
    """The web app, and the bot when there is a token. A polling bot runs on
    this process's event loop and the web app in a process of its own
    (bot/web/process.py), unless SHOPBOT_WEB_PROCESS=0: then one process and
    one event loop serve both. Webhook mode is always one process (the web
    server takes Telegram's updates). `shopbot web` with a token tells people
    in the bot by sending only (bot.telegram.wiring.announcing)."""
    import asyncio

    settings = get_settings(db=ctx.obj.get("db"))
    token = settings.token.get_secret_value().strip() if settings.token is not None else ""
    if token:
        SECRETS.add(token)
    from .telegram.wiring import set_up_logging

    set_up_logging(debug=bool(os.environ.get("SHOPBOT_DEBUG")))
    try:  # uvloop where it installs (not on Windows): less CPU per update
        from uvloop import new_event_loop as loop_factory
    except ImportError:
        loop_factory = None
    with App(settings) as app, asyncio.Runner(loop_factory=loop_factory) as runner:
        if telegram and token and not settings.webhook_url and settings.web_process:
            runner.run(_serve_beside(app, settings, token))
        else:
            runner.run(_serve_async(app, settings, token, telegram))


def _child_logging() -> None:
    """The web app's process logs as `shopbot run` does (bot/web/process.py)."""
    from .telegram.wiring import set_up_logging

    set_up_logging(debug=bool(os.environ.get("SHOPBOT_DEBUG")))


def _sending_announcer(app: App, token: str, api_url: str | None):
    """The web app without the bot on its loop (its own process,
    bot/web/process.py, or `shopbot web`) tells people in the bot; a
    module-level function, so that ``spawn`` can pickle a partial of it."""
    from .telegram.wiring import announcing

    SECRETS.add(token)
    return announcing(app, token, api_url)


async def _announce(app: App, settings, url: str, telegram: bool, token: str) -> None:
    """What a start logs once the web app serves: its address, the first
    start's sign-in link, and how to turn Telegram on (or where /web's links lead)."""
    import logging

    from .web import site as web_site

    log = logging.getLogger("shopbot")
    if settings.admins:  # before the first link: it goes to the first of them
        from .people.directory import ensure_admins

        await app.storage.awrite(ensure_admins, settings.admins)
    link = await web_site.first_link(app, web_site.base_url(settings, url))
    if link:
        log.info("first start: sign in as the first admin with %s (works once, within 10 minutes; "
                 "`shopbot web link` makes another)", link)
    if telegram and not token:
        log.info("Telegram is off: SHOPBOT_TOKEN is not set. To turn it on, create a bot with "
                 "@BotFather in Telegram (/newbot) and set SHOPBOT_TOKEN=<its token> in the "
                 "environment or .env; the web app serves meanwhile.")
    if token and not settings.web_url:
        log.info("SHOPBOT_WEB_URL is not set: the links /web sends start with %s, "
                 "which only this machine can open", url)


async def _serve_async(app: App, settings, token: str, telegram: bool) -> None:
    """One process: the web app, and the bot on the same event loop when
    ``telegram`` and a token; `shopbot web` (not ``telegram``) with a token
    sends the web app's announcements in the bot without polling."""
    import asyncio
    import logging
    import signal

    from .web import server as web_server, site as web_site

    log = logging.getLogger("shopbot")
    status = web_server.Status()
    web_runner, url = await web_site.start(app, status, settings.web_host, settings.web_port)
    try:
        log.info("web app: %s", url)
        await _announce(app, settings, url, telegram, token if telegram else "")
        if not (telegram and token):
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            from contextlib import nullcontext

            async with _sending_announcer(app, token, settings.api_url) if token else nullcontext():
                await stop.wait()
            return
        from .telegram.wiring import Webhook, run as run_bot, webhook_secret

        hook = None
        if settings.webhook_url:
            secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
            hook = Webhook(settings.webhook_url, webhook_secret(token, secret),
                           lambda handler: web_site.set_webhook_handler(web_runner, handler))
            SECRETS.add(hook.secret)
        await run_bot(app, token, settings.api_url, settings.admins, status=status, webhook=hook)
    finally:
        await web_runner.cleanup()


async def _serve_beside(app: App, settings, token: str) -> None:
    """`shopbot run` with a token and long polling: the bot on this process's
    event loop, the web app in a child process on the same database."""
    import asyncio
    import logging
    import signal

    from .storage import set_bot_state
    from .telegram.wiring import run as run_bot
    from .web import process as web_process

    log = logging.getLogger("shopbot")
    # Before the web app's /healthz can be asked: not a previous run's state.
    await app.storage.awrite(set_bot_state, "starting", os.getpid())
    status = web_process.BotStatus(app.storage)
    web = web_process.WebProcess(settings, setup=_child_logging,
                                 announcer=functools.partial(_sending_announcer, token=token, api_url=settings.api_url))
    status.url = await web.start()
    try:
        log.info("web app: %s (its own process, pid %s)", status.url, web.pid)
        await _announce(app, settings, status.url, True, token)
        bot = asyncio.ensure_future(run_bot(app, token, settings.api_url, settings.admins, status=status))

        def fatal(_message: str) -> None:
            # The bot stops as on SIGTERM (in-flight updates finish) once its
            # own signal handlers are in place; before that, it is cancelled.
            if status.telegram == "polling":
                signal.raise_signal(signal.SIGTERM)
            else:
                bot.cancel()

        web.on_fatal = fatal
        try:
            await bot
        except asyncio.CancelledError:
            if web.fatal is None:
                raise
    finally:
        await web.stop()
    if web.fatal is not None:
        raise web_process.WebStartError(web.fatal)


@web.command("link")
@click.option("--user", "user_id", type=int, help="The person's id (a Telegram user id for people from Telegram).")
@click.option("--role", type=click.Choice(["operator", "trainer", "lead", "admin", "kiosk"]),
              help="A new person without Telegram with this role; kiosk: the shared kiosk account.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_app
def web_link(app: App, user_id: int | None, role: str | None, as_json: bool) -> None:
    """Print a one-time sign-in link (valid 10 minutes); default: for the first admin."""
    from .people import signin

    if user_id is not None and role is not None:
        raise click.UsageError("give --user or --role, not both")

    def make(db):
        if user_id is not None:
            person = signin.person_by_id(db, user_id)
            if person is None:
                raise ValueError(f"no person with id {user_id}")
        elif role == "kiosk":
            person = signin.kiosk(db)
        elif role is not None:
            person = signin.create_web_person(db, role, actor=_actor())
        else:
            person = signin.first_admin(db)
        return signin.create_link(db, person.user_id, _actor())

    link = app.storage.write(make)
    s = app.settings
    base = s.web_url or f"http://{s.web_host}:{s.web_port or 8080}"
    if as_json:
        click.echo(json.dumps(link.to_json(base), indent=2))
        return
    click.echo(link.url(base))
    who = "the kiosk" if link.kind == "kiosk" else f"person {link.person.user_id} ({link.person.role})"
    err_console.print(f"One-time sign-in link for {who}, valid until "
                      f"{link.expires_at:%H:%M} UTC.")


# -- glossary lookups -------------------------------------------------------

_TYPE_STYLE = {"preferred": "bold", "admitted": "", "abbreviation": "cyan", "deprecated": "strike dim"}


def _render_result(result: SearchResult) -> Table:
    concept = result.concept
    title = Text()
    title.append(concept.id, style="bold")
    title.append(f"  {concept.category}{' · equipment' if concept.equipment else ''} · {concept.status}")
    title.append(f"  [{result.reason}: {result.matched.text}]", style="green")
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 1))
    table.add_column(style="dim", no_wrap=True)
    table.add_column()
    for lang in LANGS:
        cell = Text()
        for i, term in enumerate(concept.terms_in(lang)):
            if i:
                cell.append(" · ")
            cell.append(term.text, style=_TYPE_STYLE[term.type])
            if term.type != "preferred":
                cell.append(f" ({term.type})", style="dim")
        table.add_row(lang + (" ✓" if lang in concept.reviews else ""), cell if cell else Text("—", style="red"))
    definition = concept.definition("en")
    if definition:
        table.add_row("def", Text(definition[1]))
    return table


class _LookupByDefault(click.Group):
    """``shopbot term QUERY`` stays a lookup now that ``term`` has
    subcommands: anything that is not one of them is the lookup's QUERY
    (``shopbot term lookup edit`` looks up the word "edit" itself)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        first = next((a for a in args if not a.startswith("-")), None)
        if args and args[0] not in ("--help", "-h") and first not in self.commands:
            args = ["lookup", *args]
        return super().parse_args(ctx, args)


@cli.group(cls=_LookupByDefault)
def term() -> None:
    """Look up a term (`shopbot term QUERY`), or edit and review a concept."""


@term.command("lookup")
@click.argument("query")
@click.option("--lang", type=click.Choice(LANGS), help="Match only terms in this language.")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of results, best first.")
@with_app
def term_lookup(app: App, query: str, lang: str | None, limit: int, as_json: bool) -> None:
    """Look up QUERY in the glossary, in any language or script."""
    results = app.glossary.search(query, lang=lang, limit=limit)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in results], ensure_ascii=False, indent=2))
        return
    if not results:
        err_console.print(Text(f"No concept found for {query[:80]!r}."))
        sys.exit(EXIT_FAILED)
    for result in results:
        console.print(_render_result(result))
        console.print()


# -- glossary import / export / stats ---------------------------------------

@cli.group()
def glossary() -> None:
    """Import, export and count the glossary."""


@glossary.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", "source", metavar="NAME",
              help="Where a TBX file comes from (default: its file name). Its concept ids "
                   "belong to that source: importing the same source again updates its own "
                   "concepts, another file's 'c1' is another concept.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_app
def glossary_import(app: App, file: Path, source: str | None, as_json: bool) -> None:
    """Merge FILE (.csv or .tbx, any TBX dialect) into the glossary.

    What cannot be imported (entries without a term in our languages...) is
    skipped and counted, by reason, with line numbers."""
    reading = exchange.read_glossary(file, source=source)
    if not as_json:
        for warning in reading.report.warnings():
            err_console.print(Text(f"Warning: {warning}"))
    actor = _actor()
    concepts = reading.concepts
    with Progress(console=err_console, transient=True,
                  disable=len(concepts) < 2000 or not err_console.is_terminal) as progress:
        task = progress.add_task("importing", total=len(concepts))
        # In batches of 500, each its own short transaction (a running bot
        # keeps writing), all or nothing: a failure undoes what was written.
        report = glossary_store.import_in_batches(app.storage.write, concepts, actor,
                                                  lambda n: progress.advance(task, n),
                                                  external=reading.external)
    read = reading.report
    if as_json:
        click.echo(json.dumps({"file": file.name, **read.as_dict(), "added": report.added,
                               "updated": report.updated, "unchanged": report.unchanged,
                               "warnings": read.warnings()}, ensure_ascii=False, indent=2))
    else:
        ids = "its own ids (a shopbot export or CSV)" if read.native else f"source {read.source!r}"
        console.print(f"{file.name}: {read.held} {read.kind} held, {read.imported} imported, "
                      f"{read.skipped_count} skipped; {report} ({ids})")
    _respot_fixes(app, quiet=as_json)


def _respot_fixes(app: App, quiet: bool = False) -> None:
    """New terms may be in old fixes: spot the fixes' concepts again (only
    when the glossary changed since they were spotted)."""
    from .knowledge.fixes import reindex_concepts

    done = reindex_concepts(app.storage.write, app.storage.read)
    if done and not quiet:
        console.print(f"glossary concepts spotted again in {done} fixes")


@glossary.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(exchange.EXPORT_FORMATS),
              help="Default: from the file's extension (.tbx: TBX-Basic v3). "
                   "tbx2008: TBX 2008 (martif), what translate-toolkit, Weblate and "
                   "many CAT tools read.")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@with_app
def glossary_export(app: App, file: Path, fmt: str | None, force: bool) -> None:
    """Write the whole glossary to FILE (CSV, TBX-Basic or TBX 2008)."""
    concepts = app.storage.read(glossary_store.all_concepts)
    fmt = exchange.format_of(file, fmt)
    _write_safely(file, force, lambda: exchange.file_bytes(concepts, file, fmt=fmt))
    console.print(f"{len(concepts)} concepts written to {file}")


def _write_safely(file: Path, force: bool, content) -> None:
    """Write ``content()`` (bytes) beside the target, then rename: an
    interrupted export never leaves half a file where a good one was, and
    nothing is overwritten unless asked.

    The temporary file is created new (O_EXCL, a random name) and written
    through the descriptor that created it: a name known in advance let a
    symlink planted there redirect the write to any file we may write.
    The rename replaces a symlink at the target itself, never what it
    points to."""
    import secrets

    if file.exists() and not force:
        raise click.ClickException(f"{file} exists; use --force to overwrite it")
    data = content()
    tmp = file.with_name(f".{file.name}.{secrets.token_hex(8)}.tmp")
    # O_EXCL: a new file or an error, never one that exists (a planted
    # symlink included); 0o666 less the umask, as a plain open() gives.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)


@glossary.command("stats")
@click.option("--json", "as_json", is_flag=True)
@with_app
def glossary_stats(app: App, as_json: bool) -> None:
    """Counts: concepts, terms per language, gaps, categories."""
    s = app.glossary.stats()
    if as_json:
        click.echo(json.dumps(s.__dict__, ensure_ascii=False, indent=2))
        return
    console.print(f"{s.concepts} concepts ({s.equipment} equipment, {s.reviewed} reviewed)")
    table = Table("lang", "terms", "concepts without a preferred term")
    for lang in LANGS:
        table.add_row(lang, str(s.terms_by_lang[lang]), str(s.missing_by_lang[lang]))
    console.print(table)
    console.print(", ".join(f"{cat} {n}" for cat, n in s.by_category.items()))


@glossary.command("missing")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 1000))
@with_app
def glossary_missing(app: App, limit: int) -> None:
    """Lookups that found nothing, most asked first: what the glossary lacks."""
    rows = app.storage.read(glossary_store.missing_queries, limit)
    if not rows:
        console.print("No missing lookup recorded.")
        return
    table = Table("query", "times", "last asked")
    for query, times, last in rows:
        table.add_row(Text(query), str(times), last)
    console.print(table)


# -- database -----------------------------------------------------------------

@cli.group()
def db() -> None:
    """Back up and check the database."""


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_app
def db_backup(app: App, path: Path) -> None:
    """Copy the live database to PATH (safe while the bot runs)."""
    app.storage.backup(path)
    console.print(f"backup written to {path}")


@db.command("check")
@with_app
def db_check(app: App) -> None:
    """Run SQLite's integrity and foreign-key checks."""
    problems = app.storage.check()
    if problems:
        for problem in problems[:20]:
            err_console.print(Text(problem))
        raise click.ClickException(f"{len(problems)} problem(s) found in {app.storage.path}")
    console.print(f"{app.storage.path}: ok")


# -- translation --------------------------------------------------------------

def _translation_footer(result) -> Text:
    line = Text(style="dim")
    if result.route:
        line.append(result.route_text + " · ")
    line.append(result.provenance)
    if result.match is not None:
        line.append(f" {result.match:.0f}%")
    if result.terms:
        line.append(" · " + ", ".join(f"{t.source} → {t.target}" for t in result.terms))
    for item in result.ambiguous:
        line.append(f"\nambiguous: «{item.source}» can mean " + " / ".join(f"«{o}»" for o in item.options)
                    + " (left to the model)", style="yellow")
    return line


@cli.command()
@click.argument("text")
@click.option("--to", "target", type=click.Choice(LANGS), required=True)
@click.option("--from", "source", type=click.Choice(LANGS), help="Default: detected.")
@click.option("--json", "as_json", is_flag=True)
@with_app
def translate(app: App, text: str, target: str, source: str | None, as_json: bool) -> None:
    """Translate TEXT offline, with the glossary's terms and the translation memory."""
    try:
        result = app.engine.translate(text, target, source=source)
    except MissingModelError as exc:
        # The glossary still answers without a model: show what it knows.
        for term in exc.terms:
            err_console.print(Text(f"glossary: {term.source} → {term.target}"))
        raise
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    console.print(Text(result.text))
    console.print(_translation_footer(result))


@cli.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--to", "target", type=click.Choice(LANGS), required=True)
@click.option("--from", "source", type=click.Choice(LANGS), help="Only this source language.")
@click.option("--json", "as_json", is_flag=True)
@with_app
def eval_(app: App, file: Path, target: str, source: str | None, as_json: bool) -> None:
    """Score translation into --to against the references of a TMX file.

    Each other-language variant of a unit is translated (glossary enforced,
    translation memory off) and compared with the unit's --to variant: chrF,
    the share of enforced terms present, the share of placeholders lost,
    per language pair."""
    from .translation.engine import TranslationEngine
    from .translation.evaluate import evaluate, segment_pairs

    units, _skipped = tm.read_tmx_report(file)
    total = sum(len(p) for p in segment_pairs(units, target, source).values())
    if total == 0:
        raise click.ClickException(f"{file.name}: no unit has both a {target} reference and another language"
                                   + (f" ({source})" if source else ""))
    s = app.settings
    engine = TranslationEngine(app.models, app.glossary, None, max_chars=s.max_message_chars,
                               max_loaded=s.max_loaded_models, beam_size=s.beam_size,
                               threads=s.translate_threads)
    try:
        with Progress(console=err_console, transient=True) as progress:
            tasks: dict[str, int] = {}

            def step(pair: str, done: int, count: int) -> None:
                if pair not in tasks:
                    tasks[pair] = progress.add_task(pair.replace("_", "→"), total=count)
                progress.update(tasks[pair], completed=done)

            scores = evaluate(engine, units, target, source, progress=step)
    finally:
        engine.close()
    if as_json:
        click.echo(json.dumps({"file": str(file), "target": target,
                               "pairs": [sc.to_json() for sc in scores]}, ensure_ascii=False, indent=2))
    else:
        def pct(share):
            return "-" if share is None else f"{100 * share:.1f}%"

        table = Table("pair", "segments", "chrF", "terms present", "placeholders lost", "no model needed")
        for sc in scores:
            if sc.error:
                table.add_row(sc.pair.replace("_", "→"), "-", Text("no model", style="red"), "-", "-", "-")
                continue
            table.add_row(sc.pair.replace("_", "→"), str(sc.segments),
                          "-" if sc.chrf is None else f"{sc.chrf:.1f}",
                          f"{pct(sc.terms_share)} ({sc.terms_present}/{sc.terms})",
                          f"{pct(sc.placeholders_lost_share)} ({sc.placeholders_lost}/{sc.placeholders})",
                          str(sc.shortcuts))
        console.print(table)
        for sc in scores:
            if sc.error:
                err_console.print(Text(f"{sc.pair.replace('_', '→')}: {sc.error}", style="red"), soft_wrap=True)
    if any(sc.error for sc in scores):
        sys.exit(EXIT_FAILED)


@cli.group()
def models() -> None:
    """Install, list, remove and download translation packages."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_app
def models_list(app: App, as_json: bool) -> None:
    """Installed packages: pair, version, size, loaded."""
    packages = app.models.list()
    loaded = set(app.engine.loaded_pairs()) if "engine" in app.__dict__ else set()
    if as_json:
        click.echo(json.dumps([{"pair": p.pair, "version": p.version, "size_bytes": p.size_bytes,
                                "loaded": p.pair in loaded, "path": str(p.path)} for p in packages],
                              indent=2))
        return
    if not packages:
        console.print(f"No package installed in {app.models.models_dir}. "
                      "Install one with `shopbot models install FILE` or `shopbot models download FROM TO`.")
        return
    table = Table("pair", "version", "size", "loaded")
    for p in packages:
        table.add_row(p.pair.replace("_", "→"), p.version, f"{p.size_bytes / 2**20:.1f} MB",
                      "yes" if p.pair in loaded else "no")
    console.print(table)


@models.command("install")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--upgrade", is_flag=True, help="Replace an installed package of the same pair.")
@with_app
def models_install(app: App, paths: tuple[Path, ...], upgrade: bool) -> None:
    """Install .argosmodel files or unpacked package folders (all or nothing)."""
    for p in app.models.install(list(paths), upgrade=upgrade):
        console.print(f"installed {p.pair.replace('_', '→')} {p.version}")


@models.command("remove")
@click.argument("pair")
@with_app
def models_remove(app: App, pair: str) -> None:
    """Remove an installed pair, e.g. `en_fr` or `en-fr`."""
    app.models.remove(pair)
    console.print(f"removed {pair}")


@models.command("download")
@click.argument("from_code", type=click.Choice(LANGS))
@click.argument("to_code", type=click.Choice(LANGS))
@click.option("--sha256", help="Expected SHA-256 of the package file.")
@click.option("--index-url", default=DEFAULT_INDEX_URL, show_default=True)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds without data before giving up.")
@click.option("--deadline", default=3600.0, show_default=True, help="Seconds the whole download may take.")
@click.option("--upgrade", is_flag=True)
@with_app
def models_download(app: App, from_code: str, to_code: str, sha256: str | None,
                    index_url: str, timeout: float, deadline: float, upgrade: bool) -> None:
    """Download a package from the Argos index (needs a network) and install it."""
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task(f"{from_code}→{to_code}", total=None)
        package = app.models.download(
            from_code, to_code, index_url=index_url, expected_sha256=sha256, timeout=timeout,
            deadline=deadline, upgrade=upgrade, progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    console.print(f"installed {package.pair.replace('_', '→')} {package.version}")


@models.command("setup")
@click.option("--index-url", default=DEFAULT_INDEX_URL, show_default=True)
@click.option("--timeout", default=60.0, show_default=True, help="Seconds without data before giving up.")
@click.option("--deadline", default=3600.0, show_default=True, help="Seconds each download may take.")
@click.option("--json", "as_json", is_flag=True)
@with_app
def models_setup(app: App, index_url: str, timeout: float, deadline: float, as_json: bool) -> None:
    """Install every package the five languages need (each to and from English).

    Packages already installed are kept; a download cut off is continued on
    the next run. Without a network: `shopbot models install FILE.argosmodel`."""
    from rich.progress import (BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=as_json) as progress:
        def bar(pair: str):
            task = progress.add_task(pair.replace("_", "→"), total=None)
            return lambda done, total: progress.update(task, completed=done, total=total)

        try:
            results = app.models.setup(SETUP_PAIRS, index_url=index_url, timeout=timeout,
                                       deadline=deadline, progress=bar)
        except OfflineError as exc:
            if as_json:
                click.echo(json.dumps({"error": str(exc), "offline": True}, indent=2))
            raise
    failed = [r for r in results if r.status == "failed"]
    if as_json:
        click.echo(json.dumps([r.to_json() for r in results], ensure_ascii=False, indent=2))
    else:
        table = Table("pair", "status", "version")
        for r in results:
            style = {"installed": "green", "failed": "red"}.get(r.status, "")
            table.add_row(r.pair.replace("_", "→"), Text(r.status, style=style), r.version or "")
        console.print(table)
        for r in failed:
            err_console.print(Text(f"{r.pair.replace('_', '→')}: {r.error}", style="red"), soft_wrap=True)
        if failed:
            err_console.print(Text(offline_route([tuple(r.pair.split("_")) for r in failed])), soft_wrap=True)
    if failed:
        sys.exit(EXIT_FAILED)


@cli.group()
def memory() -> None:
    """Import and export the translation memory (TMX)."""


@memory.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_app
def memory_import(app: App, file: Path, as_json: bool) -> None:
    """Merge a TMX file into the translation memory.

    Units that cannot be imported (fewer than two of our languages...) are
    skipped and counted by reason; a second translation of a source already
    held is kept as an alternative, the newer one preferred."""
    units, read = tm.read_tmx_report(file)
    if not as_json:
        for warning in read.warnings():
            err_console.print(Text(f"Warning: {warning}"))
    report = app.storage.write(tm.import_units, units, _actor())
    if as_json:
        click.echo(json.dumps({"file": file.name, **read.as_dict(), "added": report.added,
                               "updated": report.updated, "unchanged": report.unchanged,
                               "alternatives": report.alternatives, "warnings": read.warnings()},
                              ensure_ascii=False, indent=2))
    else:
        console.print(f"{file.name}: {read.held} units held, {read.imported} imported, "
                      f"{read.skipped_count} skipped; {report}")


@memory.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@with_app
def memory_export(app: App, file: Path, force: bool) -> None:
    """Write the whole translation memory to a TMX file."""
    units = app.storage.read(tm.all_units)
    _write_safely(file, force, lambda: tm.tmx_bytes(units))
    console.print(f"{len(units)} units written to {file}")



# -- fixes (the troubleshooting knowledge base) ------------------------------

@cli.group()
def fixes() -> None:
    """Import, export and search the fixes."""


@fixes.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_app
def fixes_import(app: App, file: Path) -> None:
    """Merge FILE (.yaml, .yml or .json) into the fixes by slug (all or nothing)."""
    from .knowledge.files import read_fixes
    from .knowledge.fixes import import_fixes

    items, where = read_fixes(file)
    report = app.storage.write(import_fixes, items, _actor(), where, photos_dir=app.settings.photos_path)
    console.print(f"{file.name}: {report}")


@fixes.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@with_app
def fixes_export(app: App, file: Path, force: bool) -> None:
    """Write every fix (all statuses) to FILE: YAML or JSON, from the extension."""
    from .knowledge.files import fixes_bytes
    from .knowledge.fixes import all_fixes

    if file.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise click.ClickException(f"{file.name}: use a .yaml, .yml or .json file")
    items = app.storage.read(all_fixes)
    fmt = "json" if file.suffix.lower() == ".json" else "yaml"
    _write_safely(file, force, lambda: fixes_bytes(items, fmt))
    console.print(f"{len(items)} fixes written to {file}")


@fixes.command("reindex")
@with_app
def fixes_reindex(app: App) -> None:
    """Spot the glossary concepts in every fix again, if the glossary changed
    since (`glossary import` does it too; this is for a run that was cut short)."""
    _respot_fixes(app)
    console.print("the fixes' glossary concepts are up to date")


@fixes.command("remove")
@click.option("--samples", is_flag=True, required=True,
              help="Remove the sample fixes no lead has validated for this site.")
@click.option("--json", "as_json", is_flag=True)
@with_app
def fixes_remove(app: App, samples: bool, as_json: bool) -> None:
    """Remove the shipped sample fixes that were not validated for this site
    (a lead validates one from its card); their content stays in the audit."""
    from .knowledge.fixes import remove_samples

    removed = app.storage.write(remove_samples, _actor())
    if as_json:
        click.echo(json.dumps({"removed": removed}))
        return
    console.print(f"{removed} sample fixes removed")


@fixes.command("search")
@click.argument("query")
@click.option("--lang", type=click.Choice(LANGS), help="Show texts in this language when there is one.")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of results, best first.")
@with_app
def fixes_search(app: App, query: str, lang: str | None, limit: int, as_json: bool) -> None:
    """Search the approved fixes: alarm codes, machine words in any language, symptoms."""
    from .knowledge.search import FixBase

    results = FixBase(app.storage, app.glossary).search(query, lang, limit, user=_actor())
    if as_json:
        click.echo(json.dumps([r.to_json() for r in results], ensure_ascii=False, indent=2))
        return
    if not results:
        err_console.print(Text(f"No fix found for {query[:80]!r}."))
        sys.exit(EXIT_FAILED)
    for r in results:
        head = Text()
        head.append(f"#{r.id} {r.slug}", style="bold")
        head.append(f"  {r.equipment} · {', '.join(r.codes) or '-'} · {r.lang} ({r.kind})")
        head.append(f"  [{', '.join(r.reasons)}]", style="green")
        console.print(head)
        console.print(Text(r.symptom))
        # Safety first, before step 1: isolation and PPE come before the hands go in.
        for item in r.safety:
            console.print(Text(f"  ⚠ {item}", style="yellow"))
        for n, step in enumerate(r.steps, 1):
            console.print(Text(f"  {n}. {step}"))
        console.print()


# -- reading photos ------------------------------------------------------------

@cli.command()
@click.argument("photo", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--lang", type=click.Choice(LANGS), help="The language on the screen (default: found out).")
@click.option("--to", "target", type=click.Choice(LANGS), default="en", show_default=True,
              help="Translate the lines into this language.")
@click.option("--json", "as_json", is_flag=True,
              help="Lines (language, confidence, box), concept ids, codes, fixes (id, slug).")
@with_app
def read(app: App, photo: Path, lang: str | None, target: str, as_json: bool) -> None:
    """Read a photo of a machine screen, an alarm pop-up or a label, offline."""
    service = app.vision
    if not service.available():
        raise click.ClickException(f"the OCR models are not installed in {service.tessdata} (run make install)")
    data = photo.read_bytes()  # ImageRefused (a ValueError) becomes the one-line error
    with console.status("Reading the photo…") if not as_json else _nothing():
        reading = service.read(data, lang)
        report = service.report(reading, target, user=_actor())
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        return
    _print_report(report)
    if report.unsure:
        sys.exit(EXIT_FAILED)


def _nothing():
    import contextlib

    return contextlib.nullcontext()


def _print_report(report) -> None:
    if report.unsure:
        err_console.print(Text("Could not read this photo: hold the phone straight, fill the frame "
                               f"with the screen (confidence {report.confidence}%)."))
        return
    for item in report.lines:
        line = item.line
        head = Text()
        head.append(f"[{line.lang} {line.confidence:.0f}%] ", style="dim")
        head.append(line.text, style="bold")
        console.print(head)
        if item.translation is not None and item.provenance != "unchanged":
            out = Text("  → " + item.translation)
            out.append(f"  ({item.route} · {item.provenance})", style="dim")
            console.print(out)
        elif item.terms:
            console.print(Text("  glossary: " + ", ".join(f"{s} → {t}" for s, t in item.terms), style="green"))
    if report.missing:
        err_console.print(Text("No translation model for " + ", ".join(f"{a}→{b}" for a, b in report.missing)
                               + ": install with " + "; ".join(f"shopbot models download {a} {b}"
                                                                for a, b in report.missing)))
    if report.concepts:
        console.print(Text("concepts: " + ", ".join(f"{c.label} ({c.concept_id})" for c in report.concepts)))
    for code in report.codes:
        fixes = ", ".join(f"#{f.id} {f.slug}" for f in code.fixes) or "no approved fix"
        console.print(Text(f"code {code.code}: {fixes}"))
    console.print(Text(f"confidence {report.confidence}% · {report.reading.seconds:.2f} s", style="dim"))


# -- con-glossary: editing and reviewing a concept (the console's service) ------

def _outcome_json(outcome) -> dict:
    return {"concept_id": outcome.concept_id, "applied": outcome.applied, "version": outcome.version}


@term.command("edit")
@click.argument("concept_id", metavar="CONCEPT")
@click.option("--lang", type=click.Choice(LANGS), help="The language of --term, --remove, --deprecate, --definition.")
@click.option("--term", "text", help="Add this term, or change it if it exists (with --type, --pos, --gender).")
@click.option("--type", "type_", type=click.Choice(["preferred", "admitted", "abbreviation", "deprecated"]),
              help="The term's type (default: preferred if the language has none, else admitted). "
                   "A new preferred term makes the old one admitted.")
@click.option("--pos", type=click.Choice(["noun", "verb", "adjective", "adverb", "other"]))
@click.option("--gender", type=click.Choice(["m", "f", "n"]), help="French terms only.")
@click.option("--remove", help="Remove this term of --lang.")
@click.option("--deprecate", help="Deprecate this term of --lang (it stays findable and points to the preferred).")
@click.option("--definition", help="The definition in --lang ('' removes it).")
@click.option("--category", type=click.Choice(CATEGORIES))
@click.option("--equipment/--no-equipment", default=None)
@click.option("--source")
@click.option("--notes")
@click.option("--version", "base", type=int,
              help="The version your change is based on: refused if the concept changed since.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@with_app
def term_edit(app: App, concept_id: str, lang: str | None, text: str | None, type_: str | None, pos: str | None,
              gender: str | None, remove: str | None, deprecate: str | None, definition: str | None,
              category: str | None, equipment: bool | None, source: str | None, notes: str | None,
              base: int | None, as_json: bool) -> None:
    """Change one concept: a term, a definition, the category, source or notes.
    Audited; the languages changed go back to draft."""
    from dataclasses import replace as _replace

    from .knowledge import termbase as tb

    editor = tb.cli_editor(getpass.getuser())
    by_lang = text is not None or remove is not None or definition is not None or deprecate is not None
    general = category is not None or equipment is not None or source is not None or notes is not None
    if by_lang and lang is None:
        raise click.UsageError("--term, --remove, --deprecate and --definition need --lang")
    if not by_lang and not general:
        raise click.UsageError("nothing to change: give --term, --remove, --deprecate, --definition, "
                               "--category, --equipment, --source or --notes")

    def change(db):
        outcomes = []
        concept = tb.get(db, concept_id)
        if concept is None:
            raise tb.EditError("No such concept.")
        version = concept.version if base is None else base
        if text is not None or remove is not None or definition is not None:
            terms = concept.terms_in(lang)
            if remove is not None:
                if not any(t.text == remove for t in terms):
                    raise tb.EditError("No such term in this concept.")
                terms = [t for t in terms if t.text != remove]
            if text is not None:
                new = tb.make_term(lang, text, type_ or ("admitted" if concept.preferred(lang) else "preferred"),
                                   pos, gender)
                if new is None:
                    raise tb.EditError("A concept needs at least one term.")
                old = next((t for t in terms if t.text == new.text), None)
                if old is not None:
                    new = _replace(old, type=type_ or old.type, pos=pos or old.pos, gender=gender or old.gender)
                if new.type == "preferred":
                    terms = [_replace(t, type="admitted") if t.type == "preferred" else t for t in terms]
                terms = [new if t.text == new.text else t for t in terms] if old else terms + [new]
            if terms and not any(t.type == "preferred" for t in terms):
                first = next((i for i, t in enumerate(terms) if t.type == "admitted"), None)
                if first is not None:
                    terms[first] = _replace(terms[first], type="preferred")
            outcomes.append(tb.edit_language(db, editor, concept_id, version, lang, terms, definition))
            version = outcomes[-1].version
        if deprecate is not None:
            outcomes.append(tb.deprecate(db, editor, concept_id, version, lang, deprecate))
            version = outcomes[-1].version
        if general:
            outcomes.append(tb.edit_general(db, editor, concept_id, version, category=category,
                                            equipment=equipment, source=source, notes=notes))
        return outcomes[-1]

    try:
        outcome = app.storage.write(change)
    except tb.Conflict as exc:  # what the other person changed, then the one-line error
        for other in exc.since:
            err_console.print(Text(f"{other.at} {other.who} {other.action}: " + "; ".join(
                f"{what} {code}: {old} → {new}" for what, code, old, new in other.lines)))
        raise
    if as_json:
        click.echo(json.dumps(_outcome_json(outcome), indent=2))
    else:
        console.print(f"{outcome.concept_id}: saved, version {outcome.version}")
    _respot_fixes(app, quiet=as_json)


@term.command("review")
@click.argument("concept_id", metavar="CONCEPT")
@click.option("--lang", type=click.Choice(LANGS), required=True, help="The language checked by a speaker.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@with_app
def term_review(app: App, concept_id: str, lang: str, as_json: bool) -> None:
    """Mark a language of CONCEPT reviewed (by you: cli:USER in the audit).
    Any later change of that language's terms or definition sets it back to draft."""
    from .knowledge import termbase as tb

    changed = app.storage.write(tb.review, tb.cli_editor(getpass.getuser()), concept_id, lang)
    concept = app.storage.read(tb.get, concept_id)
    by, at = concept.reviews[lang]
    if as_json:
        click.echo(json.dumps({"concept_id": concept_id, "lang": lang, "state": "reviewed", "by": by, "at": at,
                               "changed": changed}, indent=2))
    else:
        console.print(Text(f"{concept_id} ({lang}): reviewed by {by} at {at}" + ("" if changed else " (already)")))


def main() -> None:
    cli(prog_name="shopbot")


# -- stats: the dashboard's figures (con-dash) -----------------------------------

@cli.command("stats")
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First day (UTC); default: 29 days before --to.")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Last day (UTC), included; default: today.")
@click.option("--json", "as_json", is_flag=True, help="Print every figure as JSON (the dashboard's figures).")
@with_app
def stats(app: App, start: str | None, end: str | None, as_json: bool) -> None:
    """The lead's dashboard in a terminal: lookups, translations and fix
    searches per day by language, top and unanswered searches, most useful
    fixes, glossary coverage, translation-memory growth (same figures as
    /dashboard)."""
    from .insight.dashboard import PeriodError, figures, parse_period

    try:
        period = parse_period(start, end)
    except PeriodError as exc:
        raise click.BadParameter(str(exc), param_hint="--from/--to") from None
    f = app.storage.read(figures, period)
    if as_json:
        click.echo(json.dumps(f.to_json(), ensure_ascii=False, indent=2))
        return
    console.print(f"From {f.start} to {f.end} (UTC days), per {f.unit}")
    for title, series in (("lookups", f.lookups), ("translations (by target language)", f.translations),
                          ("fix searches", f.fix_searches)):
        table = Table(f.unit, *LANGS, "total", title=f"{title}: {series.total}")
        for label, counts, total in series.rows():
            if total:
                table.add_row(label, *map(str, counts), str(total))
        console.print(table)
    for title, rows in (("top searches", f.top_searches), ("glossary lookups that found no concept", f.missing_terms),
                        ("fix searches that found no fix", f.unanswered_fixes)):
        console.print(Text(f"{title}: " + (", ".join(f"{q} ×{n}" for q, n in rows) or "—")))
    console.print(Text("most useful fixes: " + (", ".join(
        f"#{u.id} {u.slug} (worked {u.worked}, not {u.failed})" for u in f.useful_fixes) or "—")))
    table = Table("lang", "with a preferred term", "%", "reviewed", title="glossary coverage")
    for c in f.coverage:
        table.add_row(c.lang, str(c.with_preferred), str(c.percent), str(c.reviewed))
    console.print(table)
    console.print(f"translation memory: {f.memory_before} units before, {f.memory.total} added, {f.memory_total} now")

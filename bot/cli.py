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

from glossary import LANGS, Glossary, GlossaryError, SearchResult
from glossary import exchange
from glossary import store as glossary_store

from .config import get_settings
from .storage import Storage, StorageError

#: Exit codes: 1 for a refused operation (bad input, not found), 2 for usage
#: and configuration problems, as click does.
EXIT_FAILED = 1

console = Console(highlight=False, soft_wrap=False)
err_console = Console(stderr=True, highlight=False)


class _OneLineErrors(click.Group):
    """Turn every expected failure into ``Error: ...`` on stderr and exit 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place that reports them
            if os.environ.get("SHOPBOT_DEBUG"):
                raise
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if not isinstance(exc, (GlossaryError, StorageError, ValueError, OSError)):
                message = f"internal error ({type(exc).__name__}): {message}"
            click.echo(f"Error: {message}", err=True)
            ctx.exit(EXIT_FAILED)


def _storage(ctx: click.Context) -> Storage:
    """The storage for this command, opened once and closed when it ends."""
    obj = ctx.ensure_object(dict)
    if "storage" not in obj:
        settings = get_settings(db=obj.get("db"))
        obj["storage"] = ctx.with_resource(Storage(settings.db))
    return obj["storage"]


def with_storage(fn):
    @functools.wraps(fn)
    @click.pass_context
    def wrapper(ctx, *args, **kwargs):
        return fn(_storage(ctx), *args, **kwargs)

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
def run() -> None:
    """Start the Telegram bot."""
    # The bot wiring is the subject of its own issue; until it lands, say so
    # plainly instead of pretending to start.
    click.echo("Error: the Telegram bot is not built yet; the glossary CLI works "
               "(see `shopbot --help`).", err=True)
    sys.exit(EXIT_FAILED)


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
        table.add_row(lang, cell if cell else Text("—", style="red"))
    definition = concept.definition("en")
    if definition:
        table.add_row("def", Text(definition[1]))
    return table


@cli.command()
@click.argument("query")
@click.option("--lang", type=click.Choice(LANGS), help="Match only terms in this language.")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of results, best first.")
@with_storage
def term(storage: Storage, query: str, lang: str | None, limit: int, as_json: bool) -> None:
    """Look up QUERY in the glossary, in any language or script."""
    results = Glossary(storage.conn).search(query, lang=lang, limit=limit)
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
@with_storage
def glossary_import(storage: Storage, file: Path) -> None:
    """Merge FILE (.csv or .tbx) into the glossary by concept id."""
    concepts, warnings = exchange.read_file_report(file)
    for warning in warnings:
        err_console.print(Text(f"Warning: {warning}"))
    actor = f"cli:{getpass.getuser()}"
    with Progress(console=err_console, transient=True,
                  disable=len(concepts) < 2000 or not err_console.is_terminal) as progress:
        task = progress.add_task("importing", total=len(concepts))
        report = storage.write(glossary_store.upsert_concepts, concepts, actor,
                               lambda n: progress.advance(task, n))
    console.print(f"{file.name}: {report}")


@glossary.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(exchange.FORMATS),
              help="Default: from the file's extension.")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@with_storage
def glossary_export(storage: Storage, file: Path, fmt: str | None, force: bool) -> None:
    """Write the whole glossary to FILE (CSV or TBX-Basic)."""
    if file.exists() and not force:
        raise click.ClickException(f"{file} exists; use --force to overwrite it")
    concepts = storage.read(glossary_store.all_concepts)
    # Write beside the target, then rename: an interrupted export never leaves
    # half a file where a good one was.
    tmp = file.with_name(f".{file.name}.tmp")
    try:
        exchange.write_file(concepts, tmp, fmt=exchange.format_of(file, fmt))
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)
    console.print(f"{len(concepts)} concepts written to {file}")


@glossary.command("stats")
@click.option("--json", "as_json", is_flag=True)
@with_storage
def glossary_stats(storage: Storage, as_json: bool) -> None:
    """Counts: concepts, terms per language, gaps, categories."""
    s = Glossary(storage.conn).stats()
    if as_json:
        click.echo(json.dumps(s.__dict__, ensure_ascii=False, indent=2))
        return
    console.print(f"{s.concepts} concepts ({s.equipment} equipment, {s.reviewed} reviewed)")
    table = Table("lang", "terms", "concepts without a preferred term")
    for lang in LANGS:
        table.add_row(lang, str(s.terms_by_lang[lang]), str(s.missing_by_lang[lang]))
    console.print(table)
    console.print(", ".join(f"{cat} {n}" for cat, n in s.by_category.items()))


# -- database -----------------------------------------------------------------

@cli.group()
def db() -> None:
    """Back up and check the database."""


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_storage
def db_backup(storage: Storage, path: Path) -> None:
    """Copy the live database to PATH (safe while the bot runs)."""
    storage.backup(path)
    console.print(f"backup written to {path}")


@db.command("check")
@with_storage
def db_check(storage: Storage) -> None:
    """Run SQLite's integrity and foreign-key checks."""
    problems = storage.check()
    if problems:
        for problem in problems[:20]:
            err_console.print(Text(problem))
        raise click.ClickException(f"{len(problems)} problem(s) found in {storage.path}")
    console.print(f"{storage.path}: ok")


def main() -> None:
    cli(prog_name="shopbot")

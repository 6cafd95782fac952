"""The shape of the code: no import circle anywhere, handlers reach the
Telegram package only through its interface texts. The layer contracts
themselves are import-linter's (``lint-imports``, run by ``make test``)."""

from __future__ import annotations

import grimp

PACKAGES = ("glossary", "bot", "handlers")


def find_circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """One shortest circle through each direct import that closes one.
    Imports inside functions and under TYPE_CHECKING count: a lazy import
    hides a circle from Python at start-up, not from the reader."""
    circles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                circles.append([importer, *back])
    return circles


def test_the_circle_finder_finds_a_circle():
    graph = grimp.ImportGraph()
    for a, b in (("p.wiring", "p.handlers"), ("p.handlers", "p.texts"), ("p.handlers", "p.wiring")):
        graph.add_import(importer=a, imported=b)
    assert ["p.handlers", "p.wiring", "p.handlers"] in find_circles(graph)


def test_no_import_circle_anywhere():
    graph = grimp.build_graph(*PACKAGES)
    assert find_circles(graph) == []


def test_handlers_take_only_the_interface_texts_from_the_telegram_package():
    graph = grimp.build_graph(*PACKAGES)
    reached = {imported for handler in graph.find_descendants("handlers")
               for imported in graph.find_modules_directly_imported_by(handler)
               if imported.startswith("bot.telegram")}
    assert reached == {"bot.telegram.texts"}

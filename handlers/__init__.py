"""Thin aiogram routers, one module per user-facing feature.

They parse, call a service from ``bot``/``glossary``, render and reply.
Each module's ``make_router()`` builds a fresh router, so that several
Dispatchers (a restart in the tests) can each have their own.

Order matters. Free text outside a dialogue (a lookup, a sentence to
translate: most of the traffic) is taken first, so that it does not walk
through every command and dialogue router; those routers come next, then
the fallback for known people (unknown command, not text), strangers last.
"""

from aiogram import Router


def get_routers() -> list[Router]:
    from . import (admin, common, fallback, fixes, glossary, groups, inline, newfix, photo, strangers,
                   translate, web)

    # photo before newfix: a photo at /newfix's equipment or codes question is read.
    return [module.make_router() for module in
            (glossary, translate, common, admin, groups, inline, fixes, photo, newfix, web, fallback,
             strangers)]

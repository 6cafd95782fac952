"""Thin aiogram routers, one module per user-facing feature.

They parse, call a service from ``bot``/``glossary``, render and reply.
Each module's ``make_router()`` builds a fresh router, so that several
Dispatchers (a restart in the tests) can each have their own.

Order matters: commands and specific handlers first, the catch-all text
handlers (lookup, then translate) last, strangers at the very end.
"""

from aiogram import Router


def get_routers() -> list[Router]:
    from . import admin, common, fixes, glossary, groups, inline, newfix, strangers, translate

    return [module.make_router() for module in
            (common, admin, groups, inline, fixes, newfix, glossary, translate, strangers)]

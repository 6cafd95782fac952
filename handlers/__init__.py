"""Thin aiogram routers, one module per user-facing feature.

They parse, call a service from ``bot``/``glossary``, render and reply. The
Telegram bot itself is its own issue; until it lands this package has no
routers, and ``shopbot run`` says so.
"""

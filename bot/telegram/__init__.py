"""The Telegram front end: aiogram wiring (``wiring``: session, dispatcher, middlewares, polling, shutdown), FSM storage (``fsm``), interface texts (``texts``).
May import: aiogram, the services (``bot.app``) and the domain wings; only ``wiring`` imports ``handlers``, and only ``bot.cli`` imports ``wiring``."""

"""The Telegram front end end to end (bot/telegram/ and handlers/ over a fake Bot API server), FSM, catalogues."""

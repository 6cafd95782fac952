"""Tests of bot/translation/: engine, models, memory, text."""

"""Tests of bot/knowledge/: fixes, search, files, suggestions, review."""

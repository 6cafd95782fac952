"""Tests of bot/people/: persons, roles, invites, groups."""

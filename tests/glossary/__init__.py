"""Tests of the terminology core (glossary/)."""

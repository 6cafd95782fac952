"""Reading photos: HMI screens, alarm pop-ups and labels, offline.

- ``prepare``: bytes → a clean, upright, dark-on-white page and its text
  lines (limits on size and pixels, EXIF orientation, polarity per region,
  frames erased, skew undone);
- ``ocr``: Tesseract (tesserocr, models from Debian, see README) reads each
  line, trying the script families when the language is unknown, and alarm
  codes again with the Latin model;
- ``service``: what a person gets for a photo: the lines with their
  translation, the glossary concepts and alarm codes spotted, the approved
  fixes for those codes; one reading at a time per person, a bounded queue
  and a time cap, off the event loop. Used by the bot and the CLI.

A domain wing: it may import ``glossary``, ``bot.translation``,
``bot.knowledge`` and ``bot.config``; never aiogram, aiohttp, handlers or the
front ends (import-linter contracts in pyproject.toml).
"""

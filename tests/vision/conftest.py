"""OCR test fixtures: the committed images (tests/data/ocr, made by
make_images.py) and their ground truth.

The Tesseract models are installed by ``make`` (Makefile, bot/vision/
fetch_tessdata.sh). Without them the OCR tests skip, saying so, except under
``make test``, which sets SHOPBOT_REQUIRE_OCR=1: there a missing model fails."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.vision.ocr import missing_models, tessdata_dir

DATA = Path(__file__).resolve().parents[1] / "data" / "ocr"
TRUTH = json.loads((DATA / "truth.json").read_text(encoding="utf-8"))


def require_models() -> None:
    missing = missing_models(tessdata_dir())
    if not missing:
        return
    reason = (f"OCR models missing in {tessdata_dir()}: {', '.join(missing)}; "
              f"`make install` fetches them")
    if os.environ.get("SHOPBOT_REQUIRE_OCR"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ocr_models() -> Path:
    require_models()
    return tessdata_dir()


def image(name: str) -> bytes:
    return (DATA / name).read_bytes()

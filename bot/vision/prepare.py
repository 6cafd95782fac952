"""From a photo's bytes to a clean black-on-white page for Tesseract.

1. **Open safely**: size in bytes and in pixels checked before decoding
   (Pillow's decompression-bomb limit on), only JPEG, PNG and WebP.
2. **Orientation and size**: EXIF rotation applied, then the image scaled so
   that its long side is about ``TARGET_SIDE`` pixels (screen text then
   stands some 40-70 pixels high, where Tesseract's LSTM reads best).
3. **Polarity, contrast**: HMI screens are light text on dark, pop-ups put a
   light dialogue with dark text on them, and a red title bar with white text
   on that. After a global (Otsu) threshold, background is what forms long
   runs of one colour; each region takes the polarity of the runs around it,
   so every part of the page ends up dark text on white.
4. **Frames and bars**: long straight runs of ink (frames, separators,
   progress bars) are erased: Tesseract's layout analysis takes a framed
   screen for a picture and skips the text inside.
5. **Skew**: the angle in [-5°, 5°] that makes the rows of ink sharpest
   (projection profile) is undone.

Plain numpy and Pillow, no OpenCV: every step is a few vectorised passes.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

#: Refused above these (also enforced again by Pillow while decoding).
MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
FORMATS = ("JPEG", "PNG", "WEBP")
TARGET_SIDE = 2000
MAX_UPSCALE = 3.0
MAX_SKEW = 5.0


class ImageRefused(ValueError):
    """The file is not a photo we read; ``reason`` is a short code, the text says why."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def open_image(data: bytes) -> Image.Image:
    """Decode ``data`` as an RGB or greyscale image, or raise ImageRefused."""
    if not data:
        raise ImageRefused("empty", "the file is empty")
    if len(data) > MAX_BYTES:
        raise ImageRefused("too-large", f"the file is {len(data) / 1e6:.1f} MB; the limit is 10 MB")
    # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; we
    # check the header's size ourselves first and make the warning an error.
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise ImageRefused("too-many-pixels", f"the image is {width}×{height} pixels "
                                   f"({width * height / 1e6:.0f} megapixels); the limit is 40")
            if width < 16 or height < 16:
                raise ImageRefused("too-small", f"the image is only {width}×{height} pixels")
            if img.format == "JPEG":  # decode at the size we need (much faster for phone photos)
                img.draft("RGB", (TARGET_SIDE, TARGET_SIDE))
            img.load()
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused("too-many-pixels", "the image has too many pixels (over 40 megapixels)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # UnidentifiedImageError is an OSError
        raise ImageRefused("not-an-image", "this is not a JPEG, PNG or WebP image") from exc
    return img


def normalise(img: Image.Image) -> Image.Image:
    """Greyscale, long side near TARGET_SIDE, sensor noise smoothed."""
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        flat = Image.new("RGBA", img.size, (255, 255, 255, 255))
        flat.alpha_composite(img)
        img = flat
    grey = img.convert("L")
    scale = min(MAX_UPSCALE, TARGET_SIDE / max(grey.size))
    if abs(scale - 1) > 0.05:
        grey = grey.resize((max(1, round(grey.width * scale)), max(1, round(grey.height * scale))),
                           Image.LANCZOS if scale < 1 else Image.BICUBIC)
    # A 3×3 median removes the specks of sensor noise that would each count
    # as ink, and keeps the edges of strokes.
    return grey.filter(ImageFilter.MedianFilter(3))


def otsu(a: np.ndarray) -> int:
    hist = np.bincount(a.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    omega = np.cumsum(hist) / total
    mu = np.cumsum(hist * np.arange(256)) / total
    between = (mu[-1] * omega - mu) ** 2 / np.maximum(omega * (1 - omega), 1e-12)
    return int(np.argmax(between))


def _run_lengths(b: np.ndarray) -> np.ndarray:
    """For each pixel, the length of the horizontal run of equal values it is in."""
    h, w = b.shape
    change = np.ones((h, w + 1), dtype=bool)
    change[:, 1:w] = b[:, 1:] != b[:, :-1]
    starts = np.flatnonzero(change[:, :w].ravel() | (np.arange(h * w) % w == 0))
    lengths = np.diff(np.append(starts, h * w))
    return np.repeat(lengths, lengths).reshape(h, w)


def _box_mean(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)² window (integral image), clipped at the borders."""
    h, w = a.shape
    s = np.zeros((h + 1, w + 1))
    s[1:, 1:] = a.cumsum(0).cumsum(1)
    y0 = np.clip(np.arange(h) - r, 0, h)
    y1 = np.clip(np.arange(h) + r + 1, 0, h)
    x0 = np.clip(np.arange(w) - r, 0, w)
    x1 = np.clip(np.arange(w) + r + 1, 0, w)
    total = s[y1][:, x1] - s[y0][:, x1] - s[y1][:, x0] + s[y0][:, x0]
    area = (y1 - y0)[:, None] * (x1 - x0)[None, :]
    return total / np.maximum(area, 1)


def binarise(grey: Image.Image) -> tuple[Image.Image, np.ndarray]:
    """Dark text on white, whatever the polarity of each region, frames
    erased; and the mask of the ink left (True: text pixels)."""
    a = np.asarray(grey, dtype=np.uint8)
    h, w = a.shape
    light = a > otsu(a)
    long_run = max(40, w // 12)
    # Background evidence: long horizontal runs, light or dark. Text strokes
    # are short; the screen, a dialogue or a bar behind them is long.
    runs = _run_lengths(light) >= long_run
    bg_light = (runs & light).astype(np.float32)
    bg_dark = (runs & ~light).astype(np.float32)
    # Judged on a coarse grid (every 8th pixel) and spread back: fast enough
    # for a 2000-pixel page, and the decision varies slowly anyway.
    step = 8
    small_light, small_dark = bg_light[::step, ::step], bg_dark[::step, ::step]
    # Near (a tenth of the page) first; where nothing long is near (inside
    # a block of text), a wider view; where even that is silent, the page.
    evidence = np.zeros(small_light.shape)
    for r in (max(2, h // (10 * step)), max(4, w // (4 * step))):
        wider = _box_mean(small_dark, r) - _box_mean(small_light, r)
        evidence = np.where(np.abs(evidence) > 0.02, evidence, wider)
    whole = 1.0 if bg_dark.sum() > bg_light.sum() else -1.0
    evidence = np.where(np.abs(evidence) > 0.02, evidence, whole)
    dark_bg = np.repeat(np.repeat(evidence > 0, step, 0), step, 1)[:h, :w]
    ink = np.where(dark_bg, light, ~light)
    # Straight runs of ink that no glyph makes: frames, rules, bars; and
    # long runs of either colour where the polarity map is wrong (the edge
    # of a dialogue): background there, whatever the map says.
    tall = max(40, h // 3)
    straight = ((_run_lengths(ink) >= long_run) | (_run_lengths(ink.T) >= tall).T
                | runs | (_run_lengths(light.T) >= tall).T)
    # The grey levels are kept (Tesseract thresholds blurred strokes better
    # than one global cut), turned where the background is dark, and the
    # frames painted white.
    page = np.where(dark_bg, 255 - a, a)
    page[straight & ink] = 255
    return ImageOps.autocontrast(Image.fromarray(page.astype(np.uint8)), cutoff=1), ink & ~straight


def skew_angle(ink: np.ndarray) -> float:
    """The small rotation of the text, in degrees: the angle whose row profile
    of ink is sharpest (on a quarter-size sample of the ink)."""
    ys, xs = np.nonzero(ink[::4, ::4])
    if len(ys) < 50:
        return 0.0
    xs = xs - xs.mean()
    best, best_score = 0.0, -1.0
    for angle in np.arange(-MAX_SKEW, MAX_SKEW + 0.01, 0.5):
        rows = np.round(ys + xs * np.tan(np.radians(angle))).astype(np.int64)
        score = float((np.bincount(rows - rows.min()).astype(np.float64) ** 2).sum())
        if score > best_score:
            best, best_score = angle, score
    return best


def text_lines(ink: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (left, top, right, bottom) of the lines of text, top to bottom,
    a line cut where a gap wider than three line heights parts it (two
    columns, a button beside a message)."""
    h, w = ink.shape
    rows = ink.sum(1) > max(2, w // 400)
    boxes = []
    for top, bottom in _runs(rows):
        if bottom - top < 10:
            continue  # specks, a rule's remains
        band = ink[top:bottom]
        cols = band.sum(0) > 0
        height = bottom - top
        pieces = _runs(cols)
        # A thin stroke standing apart at either end is a frame's edge.
        while len(pieces) > 1 and pieces[0][1] - pieces[0][0] < height // 5 \
                and pieces[1][0] - pieces[0][1] > 0.4 * height:
            pieces.pop(0)
        while len(pieces) > 1 and pieces[-1][1] - pieces[-1][0] < height // 5 \
                and pieces[-1][0] - pieces[-2][1] > 0.4 * height:
            pieces.pop()
        start, end = pieces[0]
        for a, b in pieces[1:] + [(w + 10 * height, w + 10 * height)]:
            if a - end > 3 * height:
                if end - start > height // 2:
                    boxes.append(_box(band, top, start, end, height, w, h))
                start = a
            end = b
    return boxes


def _box(band, top, start, end, height, w, h):
    # The band's own rows of ink within these columns, padded a little.
    rows = np.flatnonzero(band[:, start:end].any(1))
    pad = max(4, height // 5)
    return (max(0, start - pad), max(0, top + rows[0] - pad),
            min(w, end + pad), min(h, top + rows[-1] + 1 + pad))


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True, small gaps (1-2 px) bridged."""
    padded = np.concatenate([[False], flags, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    runs = list(zip(edges[::2], edges[1::2]))
    merged: list[tuple[int, int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] <= 2:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def prepare(data: bytes) -> tuple[Image.Image, list[tuple[int, int, int, int]], float]:
    """The bytes of a photo → (the clean upright page, its text lines, the
    scale from the original image to the page)."""
    original = ImageOps.exif_transpose(open_image(data))
    grey = normalise(original)
    page, ink = binarise(grey)
    angle = skew_angle(ink)
    if abs(angle) >= 0.5:
        # Turn the photo, not the page, and clean it again: frames are
        # straight only once the photo is, and only straight ones are erased.
        border = np.concatenate([np.asarray(grey)[[0, -1], :].ravel(), np.asarray(grey)[:, [0, -1]].ravel()])
        grey = grey.rotate(-angle, resample=Image.BICUBIC, expand=True, fillcolor=int(np.median(border)))
        page, ink = binarise(grey)
    return page, text_lines(ink), page.width / max(1, original.width)


#: A fix photo is kept at most this long on its long side (Telegram's own
#: photo size): enough to read a label, small enough for a phone.
PHOTO_SIDE = 2560


def save_photo(data: bytes, photos_dir, name: str) -> str:
    """A photo uploaded for a fix (the web's form), checked as every photo
    is (``open_image``: size, pixels, JPEG/PNG/WebP only), then written as a
    fresh JPEG in ``photos_dir`` (as the bot stores Telegram's photos): the
    EXIF rotation applied and every other metadata (GPS, camera) dropped, and
    nothing of the uploaded file kept but its pixels. Returns the path
    written; raises ImageRefused."""
    img = ImageOps.exif_transpose(open_image(data))
    if img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    img.thumbnail((PHOTO_SIDE, PHOTO_SIDE))
    target = Path(photos_dir) / f"{name}.jpg"
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    try:
        img.save(part, format="JPEG", quality=85)
        part.replace(target)
    finally:
        part.unlink(missing_ok=True)
    return str(target)

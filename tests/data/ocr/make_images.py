"""Make the OCR test images (tests/data/ocr/*.jpg) and their ground truth
(truth.json). Run by hand, once; the images are committed, so the tests need
no CJK font:

    apt-get install fonts-noto-cjk fonts-dejavu-core   # for this script only
    .venv/bin/python tests/data/ocr/make_images.py

Each image is rendered with Pillow, then degraded the way a phone photo of a
machine screen is: HMI screens are light text on a dark background, some
turned by 2-3 degrees, some blurred with sensor noise; alarm pop-ups mix a
red title bar with a light dialogue on the dark screen; labels are dark on
light plates. Every image holds an alarm or part code (E-203, AL-045...),
most of them the codes of the sample fixes, so that a reading can be checked
end to end (photo -> code -> fix). Random choices are seeded: running the
script again gives the same files with the same Pillow and fonts.

truth.json: one entry per image: file, lang, style, hmi (true for screens
and pop-ups), lines (the text exactly as drawn, top to bottom), codes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parent
CJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
CJK_BOLD = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
LATIN_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
# Face index inside the .ttc collection: the Simplified Chinese and Korean cuts.
FACE = {"zh": 2, "ko": 1, "fr": 2, "ms": 2, "en": 2}

# (name, style, lines, codes) per language. Styles: screen, screen-rotated,
# screen-noisy, popup, label.
CONTENT = {
    "zh": [
        ("screen", ["涂布机 放卷张力报警", "报警代码 E-203", "浮动辊气压异常", "请检查后按报警复位"], ["E-203"]),
        ("screen-rotated", ["卷绕机 视觉检测报警", "AL-2201 极片错位", "设备已停机"], ["AL-2201"]),
        ("screen-noisy", ["注液机 注液量偏低", "E-411 请检查注液泵"], ["E-411"]),
        ("popup", ["报警", "ALM-1021 真空烘箱抽真空超时", "确认"], ["ALM-1021"]),
        ("label", ["激光焊接机", "警告 激光辐射", "型号 WLD-031"], ["WLD-031"]),
    ],
    "ko": [
        ("screen", ["롤프레스 두께 공차 이탈", "알람 코드 E-1207", "압연 압력 확인"], ["E-1207"]),
        ("screen-rotated", ["스태킹기 이중 시트 알람", "ST-0904 설비 정지"], ["ST-0904"]),
        ("screen-noisy", ["화성 충방전기 셀 과온", "TMP-H01 알람 리셋"], ["TMP-H01"]),
        ("popup", ["알람", "LS-0107 칠러 유량 부족", "확인"], ["LS-0107"]),
        ("label", ["비상정지 버튼", "집진기 A-0520"], ["A-0520"]),
    ],
    "fr": [
        ("screen", ["Visseuse arrêtée", "Alarme E3021 couple trop bas", "Appeler la maintenance"], ["E3021"]),
        ("screen-rotated", ["Caméra industrielle", "VIS-301 taux de rejet élevé"], ["VIS-301"]),
        ("screen-noisy", ["Porte de test ouverte", "IL-04 verrouillage ouvert"], ["IL-04"]),
        ("popup", ["Alarme", "AL-045 arrêt d'urgence activé", "Acquitter"], ["AL-045"]),
        ("label", ["Armoire de formation", "Danger tension CH-E07"], ["CH-E07"]),
    ],
    "ms": [
        ("screen", ["Mesin penyalut berhenti", "Kod penggera E105", "Semak ketegangan"], ["E105"]),
        ("screen-rotated", ["Mesin pengisian elektrolit", "ALM-0733 vakum rendah"], ["ALM-0733"]),
        ("screen-noisy", ["Pengimbas kod bar", "MES-201 nombor siri tidak sah"], ["MES-201"]),
        ("popup", ["Penggera", "NAV-08 kedudukan hilang", "Tetapkan semula"], ["NAV-08"]),
        ("label", ["Pam vakum", "Awas voltan tinggi E-RF02"], ["E-RF02"]),
    ],
    "en": [
        ("screen", ["Drying oven over temperature", "Alarm AL-0412 zone 3", "Check the heaters"], ["AL-0412"]),
        ("screen-rotated", ["Winding machine stopped", "ALM-2406 tape missing"], ["ALM-2406"]),
        ("screen-noisy", ["AMR docking failed", "DOCK-15 retry docking"], ["DOCK-15"]),
        ("popup", ["Alarm", "E1203 vacuum pump fault", "Reset"], ["E1203"]),
        ("label", ["Emergency stop button", "Nutrunner E3021"], ["E3021"]),
    ],
}

SCREEN_COLOURS = [((12, 20, 40), (235, 240, 250)), ((0, 0, 0), (120, 230, 120)),
                  ((20, 30, 60), (250, 220, 90)), ((30, 30, 30), (240, 240, 240))]


def font(lang: str, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    if bold and lang in ("fr", "ms", "en"):
        return ImageFont.truetype(LATIN_BOLD, size)
    return ImageFont.truetype(CJK_BOLD if bold else CJK, size, index=FACE[lang])


def text_block(draw, lines, lang, x, y, size, fill, bold=False, gap=1.6):
    f = font(lang, size, bold)
    for line in lines:
        draw.text((x, y), line, font=f, fill=fill)
        y += int(size * gap)
    return y


def screen(lines, lang, rng) -> Image.Image:
    bg, fg = rng.choice(SCREEN_COLOURS)
    size = rng.choice([28, 30, 32])
    width, height = 760, 90 + int(size * 1.6) * len(lines)
    img = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(img)
    # A status bar and a frame, as HMI screens have: lines the reader must ignore.
    draw.rectangle([0, 0, width, 26], fill=tuple(min(255, c + 40) for c in bg))
    draw.rectangle([8, 34, width - 8, height - 8], outline=tuple(min(255, c + 70) for c in bg), width=2)
    text_block(draw, lines, lang, 36, 52, size, fg)
    return img


def popup(lines, lang, rng) -> Image.Image:
    width, height = 760, 330
    img = Image.new("RGB", (width, height), (15, 25, 45))
    draw = ImageDraw.Draw(img)
    draw.rectangle([60, 40, width - 60, height - 30], fill=(225, 225, 225))
    draw.rectangle([60, 40, width - 60, 100], fill=(200, 30, 30))
    text_block(draw, lines[:1], lang, 84, 50, 30, (255, 255, 255), bold=True)
    text_block(draw, lines[1:2], lang, 84, 130, 28, (20, 20, 20))
    half = int(font(lang, 28).getlength(lines[2]) / 2) + 30
    draw.rectangle([width // 2 - half, 215, width // 2 + half, 275], fill=(70, 70, 70))
    text_block(draw, lines[2:3], lang, width // 2 - half + 30, 222, 28, (255, 255, 255))
    return img


def label(lines, lang, rng) -> Image.Image:
    plate = rng.choice([(250, 250, 245), (250, 215, 40)])
    width, height = 700, 70 + 56 * len(lines)
    img = Image.new("RGB", (width + 40, height + 40), (90, 95, 100))
    draw = ImageDraw.Draw(img)
    draw.rectangle([20, 20, width + 20, height + 20], fill=plate, outline=(0, 0, 0), width=3)
    text_block(draw, lines, lang, 50, 45, 32, (10, 10, 10), bold=True, gap=1.7)
    return img


def degrade(img: Image.Image, style: str, rng) -> Image.Image:
    if style in ("screen-rotated", "label"):
        angle = rng.choice([-3, -2.5, -2, 2, 2.5, 3]) if style == "screen-rotated" else rng.choice([-1.5, 1.5])
        fill = img.getpixel((2, img.height - 2))
        img = img.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=fill)
    if style in ("screen-noisy", "label", "popup"):
        img = img.filter(ImageFilter.GaussianBlur(1.2 if style == "screen-noisy" else 0.6))
        noise = Image.effect_noise(img.size, 28 if style == "screen-noisy" else 14).convert("RGB")
        img = Image.blend(img, noise, 0.12 if style == "screen-noisy" else 0.06)
    # A phone camera's softness, then JPEG as Telegram delivers photos.
    return img.filter(ImageFilter.GaussianBlur(0.4))


def main() -> None:
    rng = random.Random(13)
    truth = []
    for lang, items in CONTENT.items():
        for n, (style, lines, codes) in enumerate(items, 1):
            make = {"popup": popup, "label": label}.get(style, screen)
            img = degrade(make(lines, lang, rng), style, rng)
            name = f"{lang}-{n}-{style}.jpg"
            img.save(HERE / name, quality=85, optimize=True)
            truth.append({"file": name, "lang": lang, "style": style, "hmi": style != "label",
                          "lines": lines, "codes": codes})
    (HERE / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(truth)} images in {HERE}")


if __name__ == "__main__":
    main()

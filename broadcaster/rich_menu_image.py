"""Rich-menu images drawn with Pillow: a grid of labelled buttons, 3 to a row.

LINE shows the image and maps taps to the areas we declare, so the grid here and the areas
in `broadcaster.rich_menus` come from one function (`grid`). A city that has its own
artwork supplies a file instead (`rich_menu.image_dir`).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

WIDTH = 2500
ROW_HEIGHT = 843  # LINE's 2500x843 (one row) and 2500x1686 (two rows) sizes
PER_ROW = 3
# Fonts with Japanese, Chinese and Korean glyphs on common systems (Debian/Ubuntu, macOS).
CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/ipafont-gothic/ipagp.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/System/Library/Fonts/ヒラギノ角ゴシック W6.ttc",
)
COLORS = {
    "normal": ((236, 246, 240), (28, 110, 66)),
    "disaster": ((255, 236, 230), (178, 34, 20)),
}

Box = tuple[int, int, int, int]  # x, y, width, height


def grid(count: int) -> tuple[tuple[int, int], list[Box]]:
    """Image size and button boxes for `count` buttons (1..6), in reading order."""
    if not 1 <= count <= 2 * PER_ROW:
        raise ValueError(f"a rich menu has 1 to {2 * PER_ROW} buttons here, got {count}")
    rows = [min(PER_ROW, count - start) for start in range(0, count, PER_ROW)]
    boxes: list[Box] = []
    for row, in_row in enumerate(rows):
        width = WIDTH // in_row
        for column in range(in_row):
            # The last button takes the pixels integer division left over.
            w = WIDTH - width * (in_row - 1) if column == in_row - 1 else width
            boxes.append((column * width, row * ROW_HEIGHT, w, ROW_HEIGHT))
    return (WIDTH, ROW_HEIGHT * len(rows)), boxes


@cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    candidates = [path] if path else [p for p in CJK_FONTS if Path(p).exists()]
    for candidate in candidates:
        try:
            return ImageFont.truetype(candidate, size)
        except OSError:
            log.warning("rich menu font %s could not be read", candidate)
    # Pillow's own font has Latin glyphs only: labels in Japanese, Chinese or Korean need
    # rich_menu.font_path. The areas' labels (read aloud and shown on PCs) are right anyway.
    log.warning("no CJK font found for rich menu images; set rich_menu.font_path")
    return ImageFont.load_default(size)


def draw(labels: Sequence[str], kind: str, font_path: str = "") -> bytes:
    """A PNG of the buttons labelled `labels` (well under LINE's 1 MB: flat colours).
    Drawing is deterministic, so each design is drawn once a process (a sync compares
    every menu's image with what LINE has)."""
    return _draw(tuple(labels), kind, font_path)


@cache
def _draw(labels: tuple[str, ...], kind: str, font_path: str) -> bytes:
    size, boxes = grid(len(labels))
    background, ink = COLORS.get(kind, COLORS["normal"])
    image = Image.new("RGB", size, background)
    pen = ImageDraw.Draw(image)
    font = _font(font_path, 120)
    for label, (x, y, w, h) in zip(labels, boxes, strict=True):
        pen.rectangle((x + 12, y + 12, x + w - 12, y + h - 12), outline=ink, width=10)
        text = _fit(pen, label, font, w - 80)
        pen.text((x + w / 2, y + h / 2), text, fill=ink, font=font, anchor="mm", align="center")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _fit(
    pen: ImageDraw.ImageDraw,
    label: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    width: int,
) -> str:
    """Break a long label onto two lines at a space (or in the middle) to fit its button."""
    if pen.textlength(label, font=font) <= width or len(label) < 4:
        return label
    words = label.split(" ")
    if len(words) > 1:
        half = len(words) // 2
        return " ".join(words[:half]) + "\n" + " ".join(words[half:])
    middle = len(label) // 2
    return label[:middle] + "\n" + label[middle:]

"""Rich menu pictures drawn with Pillow from a menu's tiles: big labels in Noto Sans Thai (from
the fontpkg-noto-sans-thai package, the font the chat page serves), a simple icon per tile, high
contrast, LINE green (#06C755) for the main action, saved as a PNG well under LINE's 1 MB."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from functools import cache
from importlib import resources

from PIL import Image, ImageDraw, ImageFont

FONT_PACKAGE = "fontpkg_noto_sans_thai"
GREEN = "#06C755"
DARK_GREEN = "#05A847"
PALE_GREEN = "#E7F8EE"
INK = "#1B2733"
MUTED = "#5B6B7A"
LINE_COLOUR = "#D5DCE3"
WHITE = "#FFFFFF"
GAP = 8  # the rule between tiles


@cache
def font_path() -> str:
    """The package's Noto Sans Thai file (variable: every weight)."""
    root = resources.files(FONT_PACKAGE)
    metadata = json.loads((root / "metadata.json").read_text(encoding="utf-8"))
    normal = [f for f in metadata["files"] if f.get("style", "normal") == "normal"]
    return str(root.joinpath(*normal[0]["path"].split("/")))


@cache
def font(size: int, weight: str = "Bold") -> ImageFont.FreeTypeFont:
    """Noto Sans Thai at a size and a named weight."""
    face = ImageFont.truetype(font_path(), size)
    face.set_variation_by_name(weight)
    return face


def draw_menu(width: int, height: int, tiles: list[dict]) -> bytes:
    """The menu's PNG: each tile is {bounds: (x, y, w, h), label, sublabel, icon, primary}."""
    image = Image.new("RGB", (width, height), LINE_COLOUR)
    draw = ImageDraw.Draw(image)
    for tile in tiles:
        _tile(draw, tile)
    out = io.BytesIO()
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, "PNG", optimize=True)
    return out.getvalue()


def _tile(draw: ImageDraw.ImageDraw, tile: dict) -> None:
    x, y, w, h = tile["bounds"]
    primary = tile.get("primary", False)
    inner = (x + GAP // 2, y + GAP // 2, x + w - GAP // 2 - 1, y + h - GAP // 2 - 1)
    draw.rectangle(inner, fill=GREEN if primary else WHITE)
    ink = WHITE if primary else INK
    scale = min(w, h * 1.1)
    radius = int(min(h * 0.2, scale * 0.2))
    cx, cy = x + w // 2, y + int(h * 0.36)
    disc = DARK_GREEN if primary else PALE_GREEN
    draw.ellipse((cx - radius - 18, cy - radius - 18, cx + radius + 18, cy + radius + 18),
                 fill=disc)
    ICONS.get(tile["icon"], _dots)(draw, cx, cy, radius, WHITE if primary else GREEN,
                                   disc)
    label_top = cy + radius + int(h * 0.07)
    size = _fit(draw, tile["label"], w - 80, int(h * 0.13), int(h * 0.075))
    _centred(draw, tile["label"], cx, label_top, font(size), ink)
    if tile.get("sublabel"):
        sub = _fit(draw, tile["sublabel"], w - 100, int(h * 0.075), int(h * 0.05), "Medium")
        _centred(draw, tile["sublabel"], cx, label_top + int(size * 1.45),
                 font(sub, "Medium"), WHITE if primary else MUTED)


def _fit(draw, text: str, width: int, largest: int, smallest: int, weight: str = "Bold") -> int:
    size = largest
    while size > smallest and draw.textlength(text, font=font(size, weight)) > width:
        size -= 4
    return size


def _centred(draw, text: str, cx: int, top: int, face, fill) -> None:
    draw.text((cx, top), text, font=face, fill=fill, anchor="ma")


# -- icons: simple shapes, drawn in a square of half-side r around (cx, cy) ----------------------

Icon = Callable[[ImageDraw.ImageDraw, int, int, int, str, str], None]


def _person(draw, cx, cy, r, ink, bg, scale=1.0) -> None:
    head = int(r * 0.32 * scale)
    draw.ellipse((cx - head, cy - int(r * 0.75 * scale), cx + head,
                  cy - int(r * 0.75 * scale) + 2 * head), fill=ink)
    body_w, top = int(r * 0.62 * scale), cy + int(r * 0.02 * scale)
    draw.pieslice((cx - body_w, top, cx + body_w, top + int(r * 1.3 * scale)), 180, 360,
                  fill=ink)


def _plus(draw, cx, cy, size, ink, bg) -> None:
    draw.ellipse((cx - size, cy - size, cx + size, cy + size), fill=ink)
    bar = max(6, size // 4)
    draw.rectangle((cx - size * 0.55, cy - bar // 2, cx + size * 0.55, cy + bar // 2), fill=bg)
    draw.rectangle((cx - bar // 2, cy - size * 0.55, cx + bar // 2, cy + size * 0.55), fill=bg)


def _report(draw, cx, cy, r, ink, bg) -> None:
    _person(draw, cx - r * 0.15, cy, r, ink, bg)
    _plus(draw, int(cx + r * 0.6), int(cy + r * 0.45), int(r * 0.36), ink, bg)


def _cases(draw, cx, cy, r, ink, bg) -> None:
    w, h, line = int(r * 0.75), int(r * 0.95), max(8, r // 9)
    draw.rounded_rectangle((cx - w, cy - h, cx + w, cy + h), radius=r // 6, outline=ink,
                           width=line)
    draw.rounded_rectangle((cx - w // 2, cy - h - line, cx + w // 2, cy - h + line * 2),
                           radius=line, fill=ink)
    for i in range(3):
        yy = cy - h // 3 + i * int(h * 0.45)
        draw.ellipse((cx - w * 0.6 - line, yy - line, cx - w * 0.6 + line, yy + line), fill=ink)
        draw.line((cx - w * 0.3, yy, cx + w * 0.6, yy), fill=ink, width=line)


def _visit(draw, cx, cy, r, ink, bg) -> None:
    draw.polygon([(cx - r, cy - r * 0.05), (cx, cy - r * 0.95), (cx + r, cy - r * 0.05)],
                 fill=ink)
    draw.rectangle((cx - r * 0.7, cy - r * 0.1, cx + r * 0.7, cy + r * 0.85), fill=ink)
    draw.rectangle((cx - r * 0.2, cy + r * 0.3, cx + r * 0.2, cy + r * 0.85), fill=bg)


def _help(draw, cx, cy, r, ink, bg) -> None:
    line = max(10, r // 7)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=ink, width=line)
    draw.text((cx, cy + r * 0.05), "?", font=font(int(r * 1.45)), fill=ink, anchor="mm")


def _language(draw, cx, cy, r, ink, bg) -> None:
    line = max(8, r // 10)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=ink, width=line)
    draw.ellipse((cx - r * 0.42, cy - r, cx + r * 0.42, cy + r), outline=ink, width=line)
    draw.line((cx - r, cy, cx + r, cy), fill=ink, width=line)
    for dy in (-0.52, 0.52):
        half = r * math.sqrt(1 - dy * dy) * 0.95
        draw.line((cx - half, cy + r * dy, cx + half, cy + r * dy), fill=ink, width=line)


def _dots(draw, cx, cy, r, ink, bg) -> None:
    step, dot = r * 0.7, r * 0.2
    for i in (-1, 0, 1):
        for j in (-1, 0, 1):
            x, y = cx + i * step, cy + j * step
            draw.rounded_rectangle((x - dot, y - dot, x + dot, y + dot), radius=dot // 3,
                                   fill=ink)


def _status(draw, cx, cy, r, ink, bg) -> None:
    line = max(12, r // 6)
    lens = int(r * 0.58)
    ox, oy = cx - r * 0.2, cy - r * 0.2
    draw.ellipse((ox - lens, oy - lens, ox + lens, oy + lens), outline=ink, width=line)
    draw.line((ox + lens * 0.7, oy + lens * 0.7, cx + r * 0.85, cy + r * 0.85), fill=ink,
              width=int(line * 1.4))


def _heart(draw, cx, cy, r, ink, bg) -> None:
    lobe = r * 0.5
    draw.ellipse((cx - 2 * lobe, cy - r * 0.75, cx, cy - r * 0.75 + 2 * lobe), fill=ink)
    draw.ellipse((cx, cy - r * 0.75, cx + 2 * lobe, cy - r * 0.75 + 2 * lobe), fill=ink)
    draw.polygon([(cx - r * 0.97, cy - r * 0.1), (cx + r * 0.97, cy - r * 0.1),
                  (cx, cy + r * 0.9)], fill=ink)


def _code(draw, cx, cy, r, ink, bg) -> None:
    line = max(12, r // 6)
    ring = r * 0.42
    kx = cx - r * 0.5
    draw.ellipse((kx - ring, cy - ring, kx + ring, cy + ring), outline=ink, width=line)
    draw.line((kx + ring, cy, cx + r * 0.95, cy), fill=ink, width=line)
    for tooth in (0.55, 0.85):
        x = cx + r * tooth
        draw.line((x, cy, x, cy + r * 0.35), fill=ink, width=line)


def _data(draw, cx, cy, r, ink, bg) -> None:
    line = max(8, r // 10)
    draw.rounded_rectangle((cx - r, cy - r * 0.7, cx + r, cy + r * 0.7), radius=r // 6,
                           outline=ink, width=line)
    _person(draw, cx - r * 0.45, cy + r * 0.05, r * 0.6, ink, bg)
    for i, length in enumerate((0.8, 0.6, 0.7)):
        y = cy - r * 0.3 + i * r * 0.3
        draw.line((cx + r * 0.05, y, cx + r * (0.05 + length), y), fill=ink, width=line)


def _work(draw, cx, cy, r, ink, bg) -> None:
    line = max(10, r // 8)
    draw.rounded_rectangle((cx - r * 0.4, cy - r * 0.8, cx + r * 0.4, cy - r * 0.3),
                           radius=r // 8, outline=ink, width=line)
    draw.rounded_rectangle((cx - r, cy - r * 0.45, cx + r, cy + r * 0.8), radius=r // 6,
                           fill=ink)
    draw.line((cx - r, cy + r * 0.1, cx + r, cy + r * 0.1), fill=bg, width=line)


def _volunteer(draw, cx, cy, r, ink, bg) -> None:
    _person(draw, cx - r * 0.15, cy, r, ink, bg)
    small = r * 0.34
    hx, hy = cx + r * 0.6, cy + r * 0.45
    draw.ellipse((hx - small - 8, hy - small - 8, hx + small + 8, hy + small + 8), fill=bg)
    _heart(draw, int(hx), int(hy), int(small), ink, bg)


def _parent(draw, cx, cy, r, ink, bg) -> None:
    _person(draw, cx - r * 0.35, cy, r, ink, bg)
    _person(draw, cx + r * 0.55, cy + r * 0.3, r * 0.62, ink, bg)


def _officer(draw, cx, cy, r, ink, bg) -> None:
    draw.polygon([(cx - r, cy - r * 0.4), (cx, cy - r * 0.95), (cx + r, cy - r * 0.4)], fill=ink)
    for i in range(4):
        x = cx - r * 0.75 + i * r * 0.5
        draw.rectangle((x - r * 0.1, cy - r * 0.3, x + r * 0.1, cy + r * 0.6), fill=ink)
    draw.rectangle((cx - r, cy + r * 0.68, cx + r, cy + r * 0.9), fill=ink)


ICONS: dict[str, Icon] = {
    "report": _report, "cases": _cases, "visit": _visit, "help": _help,
    "language": _language, "menu": _dots, "status": _status, "ask_help": _heart,
    "code": _code, "data": _data, "work": _work, "volunteer": _volunteer,
    "parent": _parent, "officer": _officer,
}

"""Rich menu pictures drawn with Pillow from a menu's tiles: big labels in Noto Sans Thai (from
the fontpkg-noto-sans-thai package, the font the chat page serves), a simple icon per tile, high
contrast, LINE green (#06C755) for the main action, saved as a PNG well under LINE's 1 MB."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
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
DISC_MARGIN = 18  # the disc behind an icon reaches this far beyond the icon's radius


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


#: A phone shows the 2500-px-wide picture this wide (px): what the sizes below are judged at.
PHONE_WIDTH = 390
#: Text heights as a share of the tile's height (843 px: about 17 px and 12 px on the phone).
LABEL_SIZE, LABEL_MIN = 0.13, 0.09
SUBLABEL_SIZE, SUBLABEL_MIN = 0.09, 0.08
PADDING = 40  # each side of a tile's text


@dataclass(frozen=True)
class Text:
    """A line of text placed in a tile: its font size, weight, baseline (shared by the tiles of
    a row, whatever size each label fits at) and the box its ink covers."""

    text: str
    size: int
    weight: str
    baseline: int
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class TileLayout:
    """Where a tile's parts go: the icon's disc (centre, icon radius, disc box) and its texts."""

    inner: tuple[int, int, int, int]
    centre: tuple[int, int]
    radius: int
    disc: tuple[int, int, int, int]
    label: Text
    sublabel: Text | None


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


def tile_layout(tile: dict) -> TileLayout:
    """The icon high in the tile, the label under it as large as fits the width, the sublabel
    (if any) under the label, large enough to read on a phone."""
    x, y, w, h = tile["bounds"]
    inner = (x + GAP // 2, y + GAP // 2, x + w - GAP // 2 - 1, y + h - GAP // 2 - 1)
    radius = int(min(h * 0.19, w * 0.2))
    disc_side = 2 * (radius + DISC_MARGIN)
    # under the disc, and between the lines: Thai marks reach above and below a line
    gap, line_gap, line = int(h * 0.035), int(h * 0.025), 1.3
    label_size, sub_size = int(h * LABEL_SIZE), int(h * SUBLABEL_SIZE)
    # the same stack in every tile of a row (a sublabel or not), centred in the tile's height
    stack = disc_side + gap + int(label_size * line) + line_gap + int(sub_size * line)
    top = y + (h - stack) // 2
    cx, cy = x + w // 2, top + disc_side // 2
    disc = (cx - disc_side // 2, top, cx + disc_side // 2, top + disc_side)
    room = w - 2 * PADDING
    label_line = disc[3] + gap
    size = _fit(tile["label"], room, label_size, int(h * LABEL_MIN))
    label = _place(tile["label"], size, "Bold", cx, label_line + _ascent(label_size, "Bold"))
    sublabel = None
    if tile.get("sublabel"):
        sub = _fit(tile["sublabel"], room, sub_size, int(h * SUBLABEL_MIN), "Medium")
        sub_line = label_line + int(label_size * line) + line_gap
        sublabel = _place(tile["sublabel"], sub, "Medium", cx,
                          sub_line + _ascent(sub_size, "Medium"))
    return TileLayout(inner, (cx, cy), radius, disc, label, sublabel)


def _tile(draw: ImageDraw.ImageDraw, tile: dict) -> None:
    layout = tile_layout(tile)
    primary = tile.get("primary", False)
    draw.rectangle(layout.inner, fill=GREEN if primary else WHITE)
    disc = DARK_GREEN if primary else PALE_GREEN
    draw.ellipse(layout.disc, fill=disc)
    cx, cy = layout.centre
    ICONS.get(tile["icon"], _dots)(draw, cx, cy, layout.radius, WHITE if primary else GREEN,
                                   disc)
    for text, colour in ((layout.label, WHITE if primary else INK),
                         (layout.sublabel, WHITE if primary else MUTED)):
        if text is not None:
            draw.text((cx, text.baseline), text.text, font=font(text.size, text.weight),
                      fill=colour, anchor="ms")


def _fit(text: str, width: int, largest: int, smallest: int, weight: str = "Bold") -> int:
    """The largest size from ``largest`` down to ``smallest`` at which the text fits ``width``."""
    size = largest
    while size > smallest and _measure.textlength(text, font=font(size, weight)) > width:
        size -= 1
    return size


def _ascent(size: int, weight: str) -> int:
    return font(size, weight).getmetrics()[0]


def _place(text: str, size: int, weight: str, cx: int, baseline: int) -> Text:
    box = _measure.textbbox((cx, baseline), text, font=font(size, weight), anchor="ms")
    return Text(text, size, weight, baseline, tuple(int(v) for v in box))


_measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))


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


#: Where a badge (the report's plus, the volunteer's heart) sits on a person: low right, its
#: halo (a ring of the disc's colour) kept inside the disc, which ends at r + DISC_MARGIN.
BADGE_X, BADGE_Y, BADGE_R, BADGE_HALO = 0.5, 0.38, 0.34, 8


def _badge_at(cx, cy, r) -> tuple[int, int, int]:
    return int(cx + r * BADGE_X), int(cy + r * BADGE_Y), int(r * BADGE_R)


def _report(draw, cx, cy, r, ink, bg) -> None:
    _person(draw, cx - r * 0.15, cy, r, ink, bg)
    bx, by, size = _badge_at(cx, cy, r)
    draw.ellipse((bx - size - BADGE_HALO, by - size - BADGE_HALO, bx + size + BADGE_HALO,
                  by + size + BADGE_HALO), fill=bg)
    _plus(draw, bx, by, size, ink, bg)


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
    bx, by, size = _badge_at(cx, cy, r)
    draw.ellipse((bx - size - BADGE_HALO, by - size - BADGE_HALO, bx + size + BADGE_HALO,
                  by + size + BADGE_HALO), fill=bg)
    _heart(draw, bx, by, size, ink, bg)


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

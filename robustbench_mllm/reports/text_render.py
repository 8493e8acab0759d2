"""Draw text in any of the suite's scripts with real shaping: Pillow with libraqm (HarfBuzz for
Devanagari conjuncts and Arabic joining, FriBiDi for right-to-left order), and per line the first
installed font that has every glyph it needs. A glyph no installed font has is warned about, never
drawn silently as a box (``scripts/setup.sh`` installs fonts-lohit-deva and the DejaVu fonts)."""

from __future__ import annotations

import functools
import unicodedata
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Preferred families; the first installed one covering a line's characters draws it.
FONT_FAMILIES = ("DejaVu Sans", "Noto Sans", "Noto Sans Devanagari", "Lohit Devanagari", "Noto Sans Arabic",
                 "FreeSans")
RTL_CLASSES = frozenset({"R", "AL"})


class MissingGlyphWarning(UserWarning):
    """Some characters have no glyph in any installed font: they will show as boxes."""


@functools.lru_cache(maxsize=1)
def installed_fonts() -> tuple[tuple[str, Path, frozenset[int]], ...]:
    """(family, file, code points) of the preferred families installed, in preference order."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    found: dict[str, tuple[Path, frozenset[int]]] = {}
    for name in sorted(font_manager.findSystemFonts()):
        try:
            face = FT2Font(name)
        except (OSError, RuntimeError):
            continue
        if face.family_name in FONT_FAMILIES and face.style_name in ("Regular", "Book") \
                and face.family_name not in found:
            found[face.family_name] = (Path(name), frozenset(face.get_charmap()))
    return tuple((family, *found[family]) for family in FONT_FAMILIES if family in found)


def font_for(text: str) -> Path | None:
    """The first preferred font with every glyph of ``text``; else the one missing the fewest,
    with a MissingGlyphWarning naming the characters."""
    needed = {ord(ch) for ch in text if not ch.isspace() and unicodedata.category(ch)[0] != "C"}
    fonts = installed_fonts()
    if not fonts:
        warnings.warn("no usable font installed (apt-get install fonts-dejavu-core fonts-lohit-deva)",
                      MissingGlyphWarning, stacklevel=2)
        return None
    best = min(fonts, key=lambda f: len(needed - f[2]))
    missing = needed - best[2]
    if missing:
        shown = "".join(sorted(chr(c) for c in missing))[:20]
        warnings.warn(f"glyphs {shown!r} missing from every installed font ({', '.join(f[0] for f in fonts)}); "
                      "install fonts-noto-core (scripts/setup.sh)", MissingGlyphWarning, stacklevel=2)
    return best[1]


def is_rtl(text: str) -> bool:
    """Whether the first strongly directional character is right-to-left (Arabic, Hebrew)."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in RTL_CLASSES:
            return True
        if kind == "L":
            return False
    return False


@functools.lru_cache(maxsize=32)
def _font(path: Path | None, size: int) -> Any:
    from PIL import ImageFont, features

    if path is None:
        return ImageFont.load_default(size)
    if not features.check("raqm"):
        warnings.warn("Pillow has no libraqm: Devanagari and Arabic are drawn unshaped "
                      "(apt-get install libraqm0)", MissingGlyphWarning, stacklevel=2)
        return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.BASIC)
    return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.RAQM)


def wrap(text: str, font: Any, width: int) -> list[str]:
    """Greedy word wrap on the shaped line length."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def draw_text(draw: Any, box: Sequence[int], text: str, size: int, *, max_lines: int = 3,
              fill: tuple[int, int, int] = (20, 20, 20)) -> None:
    """``text`` wrapped into ``box`` (left, top, right, bottom), shaped, right-aligned and in
    right-to-left order for Arabic; lines past ``max_lines`` end in an ellipsis."""
    left, top, right, _ = box
    font = _font(font_for(text), size)
    lines = wrap(text, font, right - left)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1] + " ..."]
    rtl = is_rtl(text)
    for k, line in enumerate(lines):
        x = right - font.getlength(line) if rtl else left
        draw.text((x, top + k * round(size * 1.35)), line, font=font, fill=fill)

"""``robust-mllm gallery``: one PNG grid, rows = perturbations, columns = severities, with text
shaped for every script of the suite (Devanagari conjuncts, Arabic right to left)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont, features
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.reports.gallery import CELL_PX, HEADER_PX, LABEL_PX, collect_grid
from robustbench_mllm.reports.text_render import MissingGlyphWarning, draw_text, font_for
from robustbench_mllm.runners.generate.plan import GenerateConfig
from robustbench_mllm.runners.generate.run import run_generate

HINDI = "महिला ने जो सूट पहना है उसका रंग क्या है?"
ARABIC = "ما لون البدلة التي ترتديها المرأة؟"


def test_gallery_grid_of_perturbations_by_severity(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    run_generate(GenerateConfig(perturbations="contrast,char_typo", severities=(1, 4), limit=1), out)
    grid = collect_grid(out, "astronaut_conv")
    assert grid.rows == ("clean", "char_typo", "contrast") and grid.columns == (1, 4)
    assert grid.cells[("clean", 1)].variant == "clean" and ("clean", 4) not in grid.cells
    assert grid.cells[("contrast", 4)].image != grid.cells[("contrast", 1)].image

    png = tmp_path / "g.png"
    result = CliRunner().invoke(app, ["gallery", str(out), "--item", "astronaut_conv", "--out", str(png)])
    assert result.exit_code == 0, result.output
    with Image.open(png) as img:
        assert img.size == (LABEL_PX + 2 * CELL_PX[0], HEADER_PX + 3 * CELL_PX[1])
        assert np.asarray(img.convert("L")).std() > 20  # not blank: the photos are drawn

    missing = CliRunner().invoke(app, ["gallery", str(out), "--item", "nope"])
    assert missing.exit_code == 2 and "not found" in missing.output


def _ink(text: str, size: int = 28, width: int = 900) -> np.ndarray:
    """Dark-pixel mask of ``text`` drawn by the gallery's renderer."""
    canvas = Image.new("RGB", (width, 60), "white")
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingGlyphWarning)  # a box-drawn glyph fails the test
        draw_text(ImageDraw.Draw(canvas), (0, 5, width, 60), text, size, max_lines=1, fill=(0, 0, 0))
    return np.asarray(canvas.convert("L")) < 128


def test_hindi_is_drawn_with_real_glyphs_not_boxes() -> None:
    path = font_for(HINDI)
    assert path is not None
    ink = _ink(HINDI)
    assert ink.sum() > 500
    # The same number of characters the font lacks (private-use code points) renders its .notdef
    # box for each: real Devanagari must look different from that row of boxes.
    font = ImageFont.truetype(str(path), 28)
    tofu = Image.new("L", (900, 60), 255)
    ImageDraw.Draw(tofu).text((0, 5), "\ue000" * len(HINDI.replace(" ", "")), font=font, fill=0)
    boxes = np.asarray(tofu) < 128
    overlap = (ink & boxes).sum() / max(1, (ink | boxes).sum())
    assert overlap < 0.3


@pytest.mark.skipif(not features.check("raqm"), reason="Pillow without libraqm cannot shape (setup.sh installs it)")
def test_devanagari_is_shaped_and_arabic_reads_right_to_left() -> None:
    # Shaping merges क + ् + ष into one conjunct glyph: narrower than the three drawn apart.
    path = font_for("क्ष")
    raqm = ImageFont.truetype(str(path), 40, layout_engine=ImageFont.Layout.RAQM)
    basic = ImageFont.truetype(str(path), 40, layout_engine=ImageFont.Layout.BASIC)
    assert raqm.getlength("क्ष") < basic.getlength("क्ष")
    # Right to left: the first logical letter (a thin alef) sits on the right, the heavy run of
    # sheens on the left; drawn in logical order without bidi (Pillow's basic layout), the other way.
    text = "ا    ششششش"

    def runs(ink: np.ndarray) -> list[int]:  # widths of the ink runs the spaces separate, left to right
        xs = np.nonzero(ink.sum(axis=0))[0]
        return [len(r) for r in np.split(xs, np.nonzero(np.diff(xs) > 6)[0] + 1)]

    ours = _ink(text, width=600)
    alef_last = runs(ours)
    assert len(alef_last) == 2 and alef_last[1] < 10 < 50 < alef_last[0]
    logical = Image.new("L", (600, 60), 255)
    ImageDraw.Draw(logical).text((0, 5), text, font=ImageFont.truetype(str(font_for(text)), 28,
                                                                         layout_engine=ImageFont.Layout.BASIC), fill=0)
    alef_first = runs(np.asarray(logical) < 128)
    assert alef_first[0] < 10 < 50 < alef_first[1]
    # and a right-to-left line is right-aligned in its box
    assert np.nonzero(ours.sum(axis=0))[0].max() > 600 - 20


def test_a_glyph_no_font_has_is_warned_about() -> None:
    with pytest.warns(MissingGlyphWarning, match="missing from every installed font"):
        font_for("\U0001f9ff\ue123")

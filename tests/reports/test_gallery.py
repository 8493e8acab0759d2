"""``robust-mllm gallery``: one PNG grid, rows = perturbations, columns = severities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.reports.gallery import CELL_INCHES, DPI, collect_grid
from robustbench_mllm.runners.generate.plan import GenerateConfig
from robustbench_mllm.runners.generate.run import run_generate


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
        assert img.size == (round(2 * CELL_INCHES[0] * DPI), round(3 * CELL_INCHES[1] * DPI))
        # not blank: the photos are drawn
        assert np.asarray(img.convert("L")).std() > 20

    missing = CliRunner().invoke(app, ["gallery", str(out), "--item", "nope"])
    assert missing.exit_code == 2 and "not found" in missing.output

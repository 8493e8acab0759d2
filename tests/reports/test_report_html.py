"""`robust-mllm report` end to end, and its HTML opened in headless Chromium (Debian's `chromium`).

Outside CI a missing browser skips the browser tests; with CI=true it fails them (CI installs it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from tests.fixtures.chromium import assert_page_clean, check_page, require_chromium, run_chromium

pytestmark = pytest.mark.slow  # builds a full report (plots) and starts a browser


@pytest.fixture(scope="module")
def report_dir(report_suite: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    result = CliRunner().invoke(app, ["report", str(report_suite["plain"]), str(report_suite["vittle"]),
                                      "--baseline", str(report_suite["plain"]), "--out", str(out),
                                      "--resamples", "200"])
    assert result.exit_code == 0, result.output
    return out


def test_report_writes_tables_plots_and_html(report_dir: Path) -> None:
    for name in ("report.html", "report.md", "tables.tex", "metrics.csv", "modality.csv", "paired.csv"):
        assert (report_dir / name).stat().st_size > 0, name
    plots = sorted(p.name for p in (report_dir / "plots").glob("*.png"))
    assert "tiny_pope_pope_accuracy_bars.png" in plots and "tiny_pope_pope_accuracy_severity.png" in plots
    assert {"plain_tiny_lbcoco_hidden_states_pca.png", "vittle_tiny_lbcoco_hidden_states_histogram.png"} <= set(plots)
    html = (report_dir / "report.html").read_text()
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # self-contained
    assert html.count("data:image/png;base64,") >= len(plots) + 5  # plots + gallery tiles
    assert "Paired bootstrap test against plain" in html
    assert "frost+translate_greek_s3" in html and "Is there a dog in the image?" in html
    for run in ("plain", "vittle"):  # PCA and cosine figures of both runs (absolute and run-relative paths)
        assert html.count(f"<figcaption>{run}: tiny_lbcoco hidden states") == 2
    # the gallery is a perturbation x severity grid: frost at 1, 3 and 5 lines up under the headers
    gallery = html[html.index("<h3>tiny_pope · image"):html.index("Clean vs perturbed answers")]
    assert all(f"<th>severity {s}</th>" in gallery for s in (1, 3, 5)) and "<th>frost</th>" in gallery


def test_html_renders_in_chromium_without_errors_or_broken_images(report_dir: Path, tmp_path: Path) -> None:
    page = report_dir / "report.html"
    assert assert_page_clean(page, tmp_path / "profile") > 10
    shot = tmp_path / "report.png"
    run_chromium(page, tmp_path / "profile2", "--window-size=1280,1600", f"--screenshot={shot}")
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 1600)
        assert len(image.convert("L").getcolors(maxcolors=65536) or ()) > 20  # drawn content, not a blank page


def test_page_check_catches_a_broken_image_and_script_errors(report_dir: Path, tmp_path: Path) -> None:
    require_chromium()
    html = (report_dir / "report.html").read_text()
    broken = html.replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1)
    broken = broken.replace("</body>", "<script>undefinedFunction();</script></body>")
    page = tmp_path / "broken.html"
    page.write_text(broken)
    check = check_page(page, tmp_path / "profile")
    loaded, total = (int(x) for x in check.images_loaded.split("/"))
    assert loaded == total - 1
    assert any("undefinedFunction" in line for line in check.console)


def test_every_format_shows_ratio_and_drop_for_scores_only(report_dir: Path) -> None:
    import csv

    markdown, html = (report_dir / "report.md").read_text(), (report_dir / "report.html").read_text()
    latex = (report_dir / "tables.tex").read_text()
    for text, start in ((markdown, "## tiny_lbcoco: EMID"), (html, "tiny_lbcoco: EMID"),
                        (latex, r"\caption{tiny\_lbcoco: EMID, by modality}")):
        after = text[text.index(start):]  # scores come first: EMID, EMI, bound and distances follow
        assert "drop" not in after and "/clean" not in after
        assert "V drop" in text  # the scores keep theirs
    assert "EMID upper bound (same-distribution baseline in parentheses)" in markdown
    assert "0.200 (0.125)" in markdown and "0.200 (0.125)" in html and "0.200 (0.125)" in latex
    assert "same-distribution baseline</h" not in html  # no separate baseline tables
    with (report_dir / "modality.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["modality"] != "clean"]
    assert all(r["ratio"] == r["drop"] == "" for r in rows if r["metric"] in ("emid", "emi", "repr_jsd"))
    assert all(r["ratio"] and r["drop"] for r in rows if r["metric"] == "pope_accuracy")


def test_relative_change_is_captioned_only_when_there_is_another_model(
    report_dir: Path, report_suite: dict[str, Path], tmp_path: Path
) -> None:
    assert "per variant, and relative change over plain" in (report_dir / "report.html").read_text()
    alone = CliRunner().invoke(app, ["report", str(report_suite["plain"]), "--baseline", str(report_suite["plain"]),
                                     "--out", str(tmp_path), "--resamples", "100"])
    assert alone.exit_code == 0, alone.output
    html = (tmp_path / "report.html").read_text()
    assert "per variant" in html and "relative change over" not in html

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
    import pandas as pd

    for name in ("report.html", "report.md", "tables.tex", "metrics.csv", "metrics.json", "modality.csv",
                 "paired.csv", "modality_paired.csv"):
        assert (report_dir / name).stat().st_size > 0, name
    plots = sorted(p.name for p in (report_dir / "plots").glob("*.png"))
    assert {"tiny_pope_pope_accuracy_perturbations.png", "tiny_pope_pope_accuracy_severity.png"} <= set(plots)
    assert {"plain_tiny_lbcoco_hidden_states_pca.png", "vittle_tiny_lbcoco_hidden_states_histogram.png"} <= set(plots)
    html = (report_dir / "report.html").read_text()
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # no external request
    # every figure is an inline JPEG thumbnail linking to its full-size PNG beside the page
    for name in plots:
        assert f'<a href="plots/{name}"><img class="plot"' in html, name
    tiles = html.count('<a href="gallery/')
    assert tiles >= 5 and html.count("data:image/jpeg;base64,") == len(plots) + tiles
    from PIL import Image

    for href in {line.split('"')[1] for line in html.split("<a href=")[1:] if line.startswith('"gallery/')}:
        with Image.open(report_dir / href) as full:  # the full-size copy a tile opens decodes
            full.verify()
    # table of contents and foldable sections
    assert '<nav class="toc">' in html and '<details class="section" id="tiny_pope_pope_accuracy" open>' in html
    assert '<a href="#tiny_pope_pope_accuracy">' in html and '<tr class="group"><th colspan=' in html
    assert "paired bootstrap test of each modality mean, model - plain" in html
    assert "Holm-Bonferroni adjusted over the three modality tests (V, T, J)" in html
    assert "frost+translate_greek" in html and "Is there a dog in the image?" in html
    for run in ("plain", "vittle"):  # PCA and cosine figures of both runs (absolute and run-relative paths)
        assert html.count(f'<p class="caption">{run}: tiny_lbcoco hidden states') == 2
    # the gallery is a perturbation x severity grid: frost at 1, 3 and 5 lines up under the headers
    gallery = html[html.index("<h3>tiny_pope · image"):html.index('id="answers"')]
    assert all(f"<th>severity {s}</th>" in gallery for s in (1, 3, 5)) and "<th>frost</th>" in gallery
    # one tidy long table, read by pandas as it is
    tidy = pd.read_csv(report_dir / "metrics.csv")
    assert list(tidy.columns) == ["model", "dataset", "variant", "perturbation", "modality", "severity", "metric",
                                  "value", "ci_low", "ci_high", "n"]
    assert pd.read_json(report_dir / "metrics.json").shape == tidy.shape


def test_no_ci_is_claimed_where_there_is_none(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text()
    for caption in html.split('<p class="caption">')[1:]:
        text = caption[:caption.index("</p>")]
        if "EMID" in text.split(":")[1] or "JSD" in text:  # aggregates from results.json
            assert "95% CI" not in text, text


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
    broken = html.replace("data:image/jpeg;base64,", "data:image/jpeg;base64,AAAA", 1)
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
    tex = (report_dir / "tables.tex").read_text()
    for text, start in ((markdown, "## tiny_lbcoco: EMID"), (html, 'id="tiny_lbcoco_emid"'),
                        (tex, r"\caption{tiny\_lbcoco: EMID: mean over")):
        after = text[text.index(start):]  # scores come first: EMID, EMI, bound and distances follow
        assert "drop" not in after and "/clean" not in after and "%)" not in after  # no ratio, no % change
        assert "V/clean (drop)" in text  # the scores keep theirs
    assert "EMID upper bound: mean over" in markdown and "same-distribution baseline in parentheses" in markdown
    assert "0.200 (0.125)" in markdown and "0.200 (0.125)" in html and "0.200 (0.125)" in tex
    assert tex.startswith("% robust-mllm report tables. Needs, in the preamble: \\usepackage{booktabs}")
    assert "resizebox" not in tex
    with (report_dir / "modality.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["modality"] != "clean"]
    assert all(r["ratio"] == r["drop"] == "" for r in rows if r["metric"] in ("emid", "emi", "repr_jsd"))
    assert all(r["ratio"] and r["drop"] for r in rows if r["metric"] == "pope_accuracy")


def test_relative_change_is_captioned_only_when_there_is_another_model(
    report_dir: Path, report_suite: dict[str, Path], tmp_path: Path
) -> None:
    assert "per perturbation, relative change vs plain on the bars" in (report_dir / "report.html").read_text()
    alone = CliRunner().invoke(app, ["report", str(report_suite["plain"]), "--baseline", str(report_suite["plain"]),
                                     "--out", str(tmp_path), "--resamples", "100"])
    assert alone.exit_code == 0, alone.output
    html = (tmp_path / "report.html").read_text()
    assert "per perturbation" in html and "relative change vs" not in html


def test_latex_tables_compile_with_pdflatex(report_dir: Path, tmp_path: Path) -> None:
    """The .tex goes into a document with only the packages its header names (Debian's
    texlive-latex-base + texlive-latex-recommended; CI installs them, elsewhere a missing
    pdflatex skips)."""
    import os
    import re
    import shutil
    import subprocess

    if shutil.which("pdflatex") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("pdflatex missing: CI must install texlive-latex-base texlive-latex-recommended")
        pytest.skip("pdflatex missing (apt-get install texlive-latex-base texlive-latex-recommended)")
    tex = (report_dir / "tables.tex").read_text()
    packages = re.findall(r"\\usepackage\{(\w+)\}", tex.splitlines()[0])
    assert packages == ["booktabs", "longtable"]
    shutil.copy(report_dir / "tables.tex", tmp_path / "tables.tex")
    (tmp_path / "paper.tex").write_text("\\documentclass{article}\n"
                                        + "".join(f"\\usepackage{{{p}}}\n" for p in packages)
                                        + "\\begin{document}\n\\input{tables}\n\\end{document}\n")
    for _ in range(2):  # longtable settles its column widths on the second pass
        done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 1000
    assert "Overfull \\hbox" not in done.stdout  # no table wider than the text

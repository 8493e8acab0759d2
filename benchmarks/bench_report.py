"""Report statistics at the paper's POPE scale (500 images x 3 splits x 6 questions = 9000 items):
time of the image-clustered bootstrap and paired test, and how much wider the clustered CI is than
an item-level one when answers about one image are correlated (as they are under corruption).

With ``--html DIR``: the report page's size budget. ``robust-mllm run`` on the whole sample suite
at severities 1,3,5 (110 variants) with two tiny models (their answers limited to
``--items`` per variant: the page's size comes from the variants, not the items) and the local
fake judge; prints the size of report.html and of the report folder, checks the page in headless
Chromium (console, every image decoded) and takes a screenshot, and compiles tables.tex with
pdflatex (page 1 rendered to PNG) when those tools are installed.

Run: python benchmarks/bench_report.py [--html DIR [--items N]]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from robustbench_mllm.reports.bootstrap import bootstrap_ratio, paired_bootstrap
from robustbench_mllm.seeding import make_rng

N_IMAGES, SPLITS, PER_SPLIT, RESAMPLES = 500, ("random", "popular", "adversarial"), 6, 2000


def synthetic(image_effect: float, seed: int) -> tuple[list[str], list[str], np.ndarray]:
    """Correct/incorrect per item; ``image_effect`` is how much of the logit is shared per image."""
    rng = make_rng("bench_report", seed)
    shared = rng.normal(0, image_effect, N_IMAGES)
    clusters, strata, correct = [], [], []
    for image in range(N_IMAGES):
        for split in SPLITS:
            logits = 1.5 + shared[image] + rng.normal(0, 1, PER_SPLIT)
            correct += list(rng.random(PER_SPLIT) < 1 / (1 + np.exp(-logits)))
            clusters += [f"img{image}"] * PER_SPLIT
            strata += [split] * PER_SPLIT
    return clusters, strata, np.asarray(correct, dtype=float)


def main() -> None:
    print(f"items={N_IMAGES * len(SPLITS) * PER_SPLIT} images={N_IMAGES} resamples={RESAMPLES}")
    print("image_effect  acc    CI width (by image)  CI width (by item)  ratio")
    for effect in (0.0, 1.0, 2.0):
        clusters, strata, correct = synthetic(effect, seed=1)
        ones = np.ones_like(correct)
        by_image = bootstrap_ratio(clusters, correct, ones, strata=strata, scale=100, resamples=RESAMPLES)
        by_item = bootstrap_ratio([str(i) for i in range(len(correct))], correct, ones, strata=strata, scale=100,
                                  resamples=RESAMPLES)
        w_image, w_item = by_image.high - by_image.low, by_item.high - by_item.low
        print(f"{effect:12.1f}  {by_image.value:5.1f}  {w_image:19.2f}  {w_item:18.2f}  {w_image / w_item:5.2f}")
    clusters, strata, correct = synthetic(1.0, seed=1)
    _, _, other = synthetic(1.0, seed=2)
    ones = np.ones_like(correct)
    start = time.perf_counter()
    bootstrap_ratio(clusters, correct, ones, strata=strata, scale=100, resamples=RESAMPLES)
    single = time.perf_counter() - start
    start = time.perf_counter()
    test = paired_bootstrap(clusters, correct, ones, other, ones, strata=strata, scale=100, resamples=RESAMPLES)
    paired = time.perf_counter() - start
    print(f"time: CI {single * 1000:.0f} ms, paired test {paired * 1000:.0f} ms "
          f"(diff {test.diff:.2f} [{test.low:.2f}, {test.high:.2f}], p={test.p_value:.3f})")


BUDGET_BYTES = 5 * 1024 * 1024


def html_budget(root: Path, items: int) -> None:
    import yaml
    from typer.testing import CliRunner

    from robustbench_mllm.cli.app import app
    from tests.fixtures.chromium import CHROMIUM, check_page, run_chromium
    from tests.fixtures.fake_openai import FakeOpenAIServer
    from tests.fixtures.tiny_llava import build_tiny_llava, build_tiny_vittle

    root.mkdir(parents=True, exist_ok=True)
    plain = root / "plain_model" if (root / "plain_model").is_dir() else build_tiny_llava(root / "plain_model")
    vittle = root / "vittle_model" if (root / "vittle_model").is_dir() else build_tiny_vittle(plain, root / "vittle_model")
    options = {"device": "cpu", "max_new_tokens": 3, "limit": items, "batch_size": 8}
    with FakeOpenAIServer(lambda body: "8 6") as server:
        config = root / "benchmark.yaml"
        config.write_text(yaml.safe_dump({
            "suite": "sample", "severities": [1, 3, 5], "output": "out",
            "models": [{"name": "plain", "path": str(plain), "options": options},
                       {"name": "vittle", "path": str(vittle), "options": options}],
            "judge": {"base_url": server.base_url, "prompt": "robust-mllm", "runs": 1},
            "report": {"baseline": "plain", "resamples": 500}}))
        start = time.perf_counter()
        result = CliRunner().invoke(app, ["run", str(config)])
        print(f"run: exit {result.exit_code}, {time.perf_counter() - start:.0f} s, {len(server.requests)} judge requests")
        if result.exit_code:
            print(result.output)
            return
    report = root / "out" / "report"
    html = (report / "report.html").stat().st_size
    folder = sum(p.stat().st_size for p in report.rglob("*") if p.is_file())
    print(f"report.html: {html / 1e6:.2f} MB ({'within' if html < BUDGET_BYTES else 'OVER'} the 5 MB budget); "
          f"report folder with full-size figures and gallery images: {folder / 1e6:.2f} MB")
    if CHROMIUM.exists():
        check = check_page(report / "report.html", root / "profile")
        print(f"chromium: images decoded {check.images_loaded}, console messages {len(check.console)}")
        run_chromium(report / "report.html", root / "profile2", "--window-size=1280,2400",
                     f"--screenshot={root / 'report.png'}")
        print(f"screenshot: {root / 'report.png'}")
    if shutil.which("pdflatex"):
        tex = root / "tex"
        tex.mkdir(exist_ok=True)
        shutil.copy(report / "tables.tex", tex / "tables.tex")
        (tex / "paper.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage{longtable}\n"
                                       "\\begin{document}\n\\input{tables}\n\\end{document}\n")
        for _ in range(2):
            done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=tex,
                                  capture_output=True, text=True, check=False)
        pages = done.stdout.count("[")  # one [n] per shipped page
        print(f"pdflatex: exit {done.returncode}, overfull boxes {done.stdout.count('Overfull')}, ~{pages} pages")
        if shutil.which("pdftoppm"):
            subprocess.run(["pdftoppm", "-r", "70", "-png", "-f", "1", "-l", "3", "paper.pdf", "page"], cwd=tex,
                           check=False)
            print(f"pages rendered: {sorted(str(p) for p in tex.glob('page-*.png'))}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, help="Folder for the HTML budget run (skips the statistics part).")
    parser.add_argument("--items", type=int, default=6, help="Answers per variant in the HTML budget run.")
    args = parser.parse_args()
    if args.html:
        html_budget(args.html, args.items)
    else:
        main()

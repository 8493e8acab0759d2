"""Where each stage reads and writes: the paths of the two folder contracts (docs/architecture.md
lists every file, its writer and its readers).

GENERATED/                               RUN/
  manifest.json                            run.json         (evaluate, merge)
  failures.jsonl                           predictions/<dataset>/<variant>.jsonl
  <dataset>/<variant>/data.parquet         judgments/<dataset>/<variant>.jsonl, judgments/cache.sqlite
  references/<dataset>.jsonl, summary.json, cache.sqlite   (generated reference answers)
  estimator/  (the suite's CLUB estimator)
                                           embeddings/      (content-hash keyed encoder outputs)
                                           emid/estimator/  (a CLUB estimator trained on this run)
                                           represent.json, represent/   (hidden states, plots)
                                           results.json     (one section per command)
"""

from __future__ import annotations

from pathlib import Path

MANIFEST = "manifest.json"
FAILURES = "failures.jsonl"
VARIANT_FILE = "data.parquet"
RUN_INFO = "run.json"
RESULTS = "results.json"
PREDICTIONS_DIR = "predictions"
JUDGMENTS_DIR = "judgments"
EMBEDDINGS_DIR = "embeddings"
ESTIMATOR_DIR = ("emid", "estimator")
REFERENCES_DIR = "references"
SUITE_ESTIMATOR_DIR = "estimator"


def variant_dir(data: Path, dataset: str, variant: str) -> Path:
    return Path(data) / dataset / variant


def variant_file(data: Path, dataset: str, variant: str) -> Path:
    return variant_dir(data, dataset, variant) / VARIANT_FILE


def predictions_dir(run_dir: Path) -> Path:
    return Path(run_dir) / PREDICTIONS_DIR


def predictions_file(run_dir: Path, dataset: str, variant: str) -> Path:
    return predictions_dir(run_dir) / dataset / f"{variant}.jsonl"


def judgments_file(run_dir: Path, dataset: str, variant: str) -> Path:
    return Path(run_dir) / JUDGMENTS_DIR / dataset / f"{variant}.jsonl"


def judge_cache_file(run_dir: Path) -> Path:
    return Path(run_dir) / JUDGMENTS_DIR / "cache.sqlite"


def embeddings_dir(run_dir: Path) -> Path:
    return Path(run_dir) / EMBEDDINGS_DIR


def estimator_dir(run_dir: Path) -> Path:
    return Path(run_dir).joinpath(*ESTIMATOR_DIR)


def references_dir(data: Path) -> Path:
    return Path(data) / REFERENCES_DIR


def references_file(data: Path, dataset: str) -> Path:
    return references_dir(data) / f"{dataset}.jsonl"


def references_summary_file(data: Path) -> Path:
    return references_dir(data) / "summary.json"


def references_cache_file(data: Path) -> Path:
    return references_dir(data) / "cache.sqlite"


def suite_estimator_dir(data: Path) -> Path:
    return Path(data) / SUITE_ESTIMATOR_DIR

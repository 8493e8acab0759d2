"""Where each stage reads and writes: the on-disk contract between stages.

GENERATED/                               RUN/
  manifest.json                            run.json
  failures.jsonl                           predictions/<dataset>/<variant>.jsonl
  <dataset>/<variant>/data.parquet         judgments/ ... (judge)    embeddings/ ... (metrics)
                                           results.json  (one section per command)
"""

from __future__ import annotations

from pathlib import Path

MANIFEST = "manifest.json"
FAILURES = "failures.jsonl"
VARIANT_FILE = "data.parquet"
RUN_INFO = "run.json"
RESULTS = "results.json"


def variant_dir(generated: Path, dataset: str, variant: str) -> Path:
    return Path(generated) / dataset / variant


def variant_file(generated: Path, dataset: str, variant: str) -> Path:
    return variant_dir(generated, dataset, variant) / VARIANT_FILE


def predictions_file(run_dir: Path, dataset: str, variant: str) -> Path:
    return Path(run_dir) / "predictions" / dataset / f"{variant}.jsonl"

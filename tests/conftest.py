"""Shared fixtures. Heavy fixtures (tiny models) live in tests/fixtures/ and build lazily."""

from __future__ import annotations

import os

# Nothing in the test suite may reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_llava_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight LLaVA folder (model, tokenizer, processor), built once per session."""
    from tests.fixtures.tiny_llava import build_tiny_llava

    return build_tiny_llava(tmp_path_factory.mktemp("tiny_llava"))


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight CLIPModel folder with its image processor, built once per session."""
    from tests.fixtures.tiny_encoders import build_tiny_clip

    return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture(scope="session")
def tiny_xlmr_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight XLM-R folder with an offline-trained tokenizer, built once per session."""
    from tests.fixtures.tiny_encoders import build_tiny_xlmr

    return build_tiny_xlmr(tmp_path_factory.mktemp("tiny_xlmr"))


@pytest.fixture(scope="session")
def report_suite(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny generated suite (yes/no + open-ended) and two evaluated runs on it (``plain`` and
    ``vittle``), for the report and publish tests. Keys: generated, plain, vittle."""
    from tests.fixtures.report_runs import build_generated, build_run

    root = tmp_path_factory.mktemp("report_suite")
    generated = build_generated(root / "generated")
    return {"generated": generated, "plain": build_run(root / "plain", generated, "plain", 0.75),
            "vittle": build_run(root / "vittle", generated, "vittle", 0.9)}


@pytest.fixture
def one_thread() -> object:
    """Single-threaded torch for a test: several times faster for tiny models on the shared,
    oversubscribed CI cores. Restores the previous thread count."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

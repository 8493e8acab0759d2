"""Long-tail open-ended readers on local copies in each Hub data set's schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.records import Item
from robustbench_mllm.registry import load_registry
from robustbench_mllm.sources.catalog import default_perturbations, suite_sources
from tests.fixtures.hub_copies import hub_rows, write_copy, write_hub_copy


def load(name: str, path: Path) -> list[Item]:
    return list(load_registry("sources").get(name)(id_or_path=str(path)).load())


def test_lbwild_keeps_ids_categories_and_caption_only_context(tmp_path: Path) -> None:
    items = load("lbwild", write_hub_copy("lbwild", tmp_path / "wild", as_parquet=False))
    assert [(i.id, i.category, i.reference_answer) for i in items][0] == ("0", "conv", "A sign.")
    assert items[0].context.captions == ("A red sign.", "A street.") and items[0].context.boxes == ()
    assert {i.dataset for i in items} == {"lbwild"} and all(i.label == "" for i in items)
    assert items[0].image_id == "001"


@pytest.mark.parametrize(("suite", "reference"), [("lbwilder", "Acme."), ("wvbench", "x = 2.")])
def test_alternative_column_names_are_read(tmp_path: Path, suite: str, reference: str) -> None:
    items = load(suite, write_hub_copy(suite, tmp_path / suite))
    assert len(items) == 3 and items[0].reference_answer == reference
    assert items[0].id in ("q1", "w1") and items[0].context.captions == ()


def test_a_missing_required_column_names_the_accepted_ones(tmp_path: Path) -> None:
    rows, images = hub_rows("wvbench")
    rows.pop("claude-3-sonnet-20240229")
    with pytest.raises(DataFormatError, match=r"reference: expected one of \['claude-3-sonnet-20240229'"):
        load("wvbench", write_copy(tmp_path / "wv", rows, images))
    rows, images = hub_rows("lbwild")
    rows["question"][1] = ""
    with pytest.raises(DataFormatError, match="row 1: field 'question'"):
        load("lbwild", write_copy(tmp_path / "bad", rows, images))


def test_unperturbed_suites_resolve_to_their_reader_and_default_to_clean(tmp_path: Path) -> None:
    (source,) = suite_sources("wvbench", str(write_hub_copy("wvbench", tmp_path / "wv")))
    assert source.info().dataset == "wvbench" and source.info().task == "open_ended"
    assert suite_sources("mmmu")[0].info().dataset == "mmmu"  # default: the Hub id (not read here)
    assert default_perturbations("mmstar") == "clean" and default_perturbations("lbcoco") is None
    with pytest.raises(ValueError, match="takes no `images`"):
        suite_sources("mme", "lmms-lab/MME", images=str(tmp_path))

"""LLaVA instruction JSON -> tokenised samples: label masking, image expansion, errors, collation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.train.data import IGNORE_INDEX, InstructionDataset, collate, read_conversations, render
from tests.fixtures.toy_instructions import build_toy_instructions

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_toy_instructions(tmp_path_factory.mktemp("toy"))


@pytest.fixture(scope="module")
def dataset(tiny_llava_dir: Path, toy: tuple[Path, Path]) -> InstructionDataset:
    from transformers import AutoConfig, AutoProcessor

    config = AutoConfig.from_pretrained(tiny_llava_dir)
    processor = AutoProcessor.from_pretrained(tiny_llava_dir)
    return InstructionDataset(
        toy[0], toy[1], processor, config.image_token_id, config.image_seq_length, max_length=256
    )


def test_render_moves_image_to_front_and_spans_cover_answers(toy: tuple[Path, Path]) -> None:
    conversation = read_conversations(toy[0])[0]
    text, spans = render(conversation, "</s>")
    assert text.startswith("USER: <image>\nIs there a dog in the image? ASSISTANT: ")
    assert [text[a:b] for a, b in spans] == [" Yes, there is a dog.</s>"]


def test_labels_supervise_only_the_assistant_turns(dataset: InstructionDataset) -> None:
    tokenizer = dataset.processor.tokenizer
    sample = dataset[4]  # text-only, two turns
    labelled = [t for t, lab in zip(sample["input_ids"].tolist(), sample["labels"].tolist()) if lab != IGNORE_INDEX]
    assert tokenizer.decode(labelled) == " The bus is yellow.</s> There are three people.</s>"
    assert sample["labels"][0] == IGNORE_INDEX and "pixel_values" not in sample
    unlabelled = [t for t, lab in zip(sample["input_ids"].tolist(), sample["labels"].tolist()) if lab == IGNORE_INDEX]
    assert "How many people" in tokenizer.decode(unlabelled)


def test_image_placeholder_expands_to_the_model_token_count(dataset: InstructionDataset) -> None:
    sample = dataset[0]
    image_positions = sample["input_ids"] == dataset.image_token_id
    assert int(image_positions.sum()) == dataset.image_tokens
    assert (sample["labels"][image_positions] == IGNORE_INDEX).all()
    assert sample["pixel_values"].shape[0] == 3


def test_collate_right_pads_and_stacks_only_present_images(dataset: InstructionDataset) -> None:
    batch = collate([dataset[0], dataset[4]], pad_token_id=3)
    lengths = [len(dataset[0]["input_ids"]), len(dataset[4]["input_ids"])]
    assert batch["input_ids"].shape == (2, max(lengths))
    assert batch["attention_mask"].sum(dim=1).tolist() == lengths
    assert batch["pixel_values"].shape[0] == 1
    short = lengths.index(min(lengths))
    assert (batch["labels"][short, min(lengths):] == IGNORE_INDEX).all()
    assert "pixel_values" not in collate([dataset[4]], pad_token_id=3)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"conversations": [{"from": "gpt", "value": "hi"}, {"from": "human", "value": "x"}]},
         r"row 1: conversations\[0\].from must be 'human'"),
        ({"conversations": [{"from": "human", "value": "<image> x"}, {"from": "gpt", "value": "y"}]},
         "row 1: conversations contain '<image>' but the row has no 'image'"),
        ({"image": 3, "conversations": []}, "row 1: field 'image'"),
        ({"conversations": [{"from": "human", "value": "x"}]}, "row 1: field 'conversations'"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, row: dict, message: str) -> None:
    good = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([good, row]))
    with pytest.raises(DataFormatError, match=message):
        read_conversations(path)


def test_missing_image_file_and_cut_image_are_clear_errors(
    tiny_llava_dir: Path, toy: tuple[Path, Path], tmp_path: Path, dataset: InstructionDataset
) -> None:
    rows = json.loads(toy[0].read_text())
    rows[0]["image"] = "missing.png"
    path = tmp_path / "data.json"
    path.write_text(json.dumps(rows))
    broken = InstructionDataset(path, toy[1], dataset.processor, dataset.image_token_id, dataset.image_tokens)
    with pytest.raises(DataFormatError, match=r"row 0 \(id astronaut\): field 'image': cannot read"):
        broken[0]
    short = InstructionDataset(toy[0], toy[1], dataset.processor, dataset.image_token_id, dataset.image_tokens, 8)
    with pytest.raises(DataFormatError, match="would cut the image tokens"):
        short[0]
    assert len(short[4]["input_ids"]) == 8

"""LLaVA instruction JSON -> tokenised samples: label masking, image expansion, errors, collation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.train.data import IGNORE_INDEX, InstructionDataset, collate, read_conversations
from robustbench_mllm.train.templates import render
from tests.fixtures.toy_instructions import build_toy_captions, build_toy_instructions

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


SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


def test_vicuna_v1_template_is_llavas_v1_prompt(toy: tuple[Path, Path]) -> None:
    rows = read_conversations(toy[0])
    text, spans = render(rows[0], "vicuna_v1", "</s>")
    # LLaVA conv_vicuna_v1: system + sep " ", "USER: <image>\n{q} ASSISTANT: {a}" + sep2 "</s>"
    assert text == f"{SYSTEM} USER: <image>\nIs there a dog in the image? ASSISTANT: Yes, there is a dog.</s>"
    assert [text[a:b] for a, b in spans] == [" Yes, there is a dog.</s>"]
    text, spans = render(rows[4], "vicuna_v1", "</s>")
    assert text == (f"{SYSTEM} USER: What color is the bus? ASSISTANT: The bus is yellow.</s>"
                    "USER: How many people are in the photo? ASSISTANT: There are three people.</s>")
    assert [text[a:b] for a, b in spans] == [" The bus is yellow.</s>", " There are three people.</s>"]


def test_plain_template_is_image_then_caption_then_newline(toy: tuple[Path, Path]) -> None:
    conversation = read_conversations(toy[0])[0]
    text, spans = render(conversation, "plain", "</s>")
    assert text == "<image>Yes, there is a dog.\n" and [text[a:b] for a, b in spans] == ["Yes, there is a dog.\n"]


def test_labels_supervise_only_the_assistant_turns(dataset: InstructionDataset) -> None:
    tokenizer = dataset.processor.tokenizer
    sample = dataset[4]  # text-only, two turns
    labelled = [t for t, lab in zip(sample["input_ids"].tolist(), sample["labels"].tolist()) if lab != IGNORE_INDEX]
    assert tokenizer.decode(labelled) == " The bus is yellow.</s> There are three people.</s>"
    assert sample["labels"][0] == IGNORE_INDEX and "pixel_values" not in sample
    unlabelled = [t for t, lab in zip(sample["input_ids"].tolist(), sample["labels"].tolist()) if lab == IGNORE_INDEX]
    assert tokenizer.decode(unlabelled) == (
        f"<s>{SYSTEM} USER: What color is the bus? ASSISTANT:USER: How many people are in the photo? ASSISTANT:"
    )


def test_plain_labels_cover_the_caption_and_rows_must_be_captions(
    dataset: InstructionDataset, toy: tuple[Path, Path], tmp_path: Path
) -> None:
    captions, images = build_toy_captions(tmp_path)
    plain = InstructionDataset(captions, images, dataset.processor, dataset.image_token_id, dataset.image_tokens,
                               template="plain", pad_square=False)
    sample = plain[1]
    ids, labels = sample["input_ids"].tolist(), sample["labels"].tolist()
    assert ids[0] == dataset.processor.tokenizer.bos_token_id and ids[1:1 + plain.image_tokens] == [plain.image_token_id] * plain.image_tokens
    labelled = [t for t, lab in zip(ids, labels) if lab != IGNORE_INDEX]
    assert dataset.processor.tokenizer.decode(labelled) == "A kitchen with a table and two chairs.\n"
    assert all(lab == IGNORE_INDEX for lab in labels[: 1 + plain.image_tokens])
    with pytest.raises(DataFormatError, match=r"row 4 \(id text-only\): the `template` plain"):
        InstructionDataset(toy[0], toy[1], dataset.processor, dataset.image_token_id, dataset.image_tokens,
                           template="plain")


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
    short = InstructionDataset(toy[0], toy[1], dataset.processor, dataset.image_token_id, dataset.image_tokens, max_length=8)
    with pytest.raises(DataFormatError, match="would cut the image tokens"):
        short[0]
    assert len(short[4]["input_ids"]) == 8
    # the image counts as one token towards `max_length` (LLaVA truncates before expanding it)
    length = len(dataset[0]["input_ids"])
    image_row = InstructionDataset(toy[0], toy[1], dataset.processor, dataset.image_token_id, dataset.image_tokens,
                                   max_length=length - dataset.image_tokens + 1)
    assert len(image_row[0]["input_ids"]) == length
    cut = InstructionDataset(toy[0], toy[1], dataset.processor, dataset.image_token_id, dataset.image_tokens,
                             max_length=length - dataset.image_tokens)
    assert len(cut[0]["input_ids"]) == length - 1

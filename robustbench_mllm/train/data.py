"""LLaVA training data (LLaVA-Pretrain and llava_v1_5_mix665k formats) -> tokenised samples.

A row: ``{"id": ..., "image": "coco/train2017/x.jpg" (optional), "conversations": [{"from":
"human", "value": "<image>\\nWhat is ...?"}, {"from": "gpt", "value": "..."}, ...]}``. Rows
without ``image`` are text-only samples. ``templates.py`` renders a row (``plain`` for Stage 1,
``vicuna_v1`` for Stage 2); ``<image>`` is expanded to the model's ``image_seq_length`` image
tokens. Labels are -100 everywhere except the supervised spans of the template.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import read_json
from robustbench_mllm.models.bottleneck import IGNORE_INDEX
from robustbench_mllm.train.templates import IMAGE_PLACEHOLDER, Conversation, TemplateName, render, template_problem

if TYPE_CHECKING:
    import torch


def read_conversations(path: Path) -> list[Conversation]:
    """Parse and validate every row; errors name the file, the row and the field."""
    path = Path(path)
    rows = read_json(path)
    if not isinstance(rows, list):
        raise DataFormatError(f"{path}: expected a JSON list of samples, got {type(rows).__name__}")
    return [_parse_row(path, index, row) for index, row in enumerate(rows)]


def _parse_row(path: Path, index: int, row: Any) -> Conversation:
    where = f"{path}: row {index}"
    if not isinstance(row, dict):
        raise DataFormatError(f"{where}: expected an object")
    image = row.get("image")
    if image is not None and not isinstance(image, str):
        raise DataFormatError(f"{where}: field 'image' must be a file name string")
    messages = row.get("conversations")
    if not isinstance(messages, list) or not messages or len(messages) % 2:
        raise DataFormatError(f"{where}: field 'conversations' must be a non-empty list of human/gpt pairs")
    turns = []
    for turn in range(0, len(messages), 2):
        pair = []
        for offset, role in ((0, "human"), (1, "gpt")):
            message = messages[turn + offset]
            if not isinstance(message, dict) or message.get("from") != role:
                raise DataFormatError(f"{where}: conversations[{turn + offset}].from must be '{role}'")
            if not isinstance(message.get("value"), str):
                raise DataFormatError(f"{where}: conversations[{turn + offset}].value must be a string")
            pair.append(message["value"])
        turns.append((pair[0], pair[1]))
    text = " ".join(q + a for q, a in turns)
    placeholders = text.count(IMAGE_PLACEHOLDER)
    if image is None and placeholders:
        raise DataFormatError(f"{where}: conversations contain '{IMAGE_PLACEHOLDER}' but the row has no 'image'")
    if placeholders > 1:
        raise DataFormatError(f"{where}: {placeholders} '{IMAGE_PLACEHOLDER}' placeholders; one image per sample")
    return Conversation(str(row.get("id", index)), image, tuple(turns), index)


def tokenize(
    conversation: Conversation, template: TemplateName, tokenizer: Any, image_token_id: int, image_tokens: int,
    max_length: int, where: str,
) -> tuple[list[int], list[int]]:
    """(input_ids, labels): the template's supervised tokens labelled, the image placeholder expanded."""
    text, spans = render(conversation, template, tokenizer.eos_token)
    encoded = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
    ids, labels = [], []
    for token, (start, _end) in zip(encoded["input_ids"], encoded["offset_mapping"]):
        if token == image_token_id:
            ids += [image_token_id] * image_tokens
            labels += [IGNORE_INDEX] * image_tokens
            continue
        supervised = any(lo <= start < hi for lo, hi in spans)
        ids.append(token)
        labels.append(token if supervised else IGNORE_INDEX)
    # as LLaVA, the image counts as one token: its collator truncates before the image is expanded
    limit = max_length + (image_tokens - 1 if conversation.image is not None else 0)
    if len(ids) > limit:
        if image_token_id in ids[limit:]:
            raise DataFormatError(f"{where}: truncating to `max_length` {max_length} would cut the image tokens")
        ids, labels = ids[:limit], labels[:limit]
    return ids, labels


class InstructionDataset:
    """Map-style data set (``len`` + ``[i]``) of tokenised samples, images loaded lazily."""

    def __init__(
        self,
        json_path: Path,
        images_dir: Path | None,
        processor: Any,
        image_token_id: int,
        image_tokens: int,
        template: TemplateName = "vicuna_v1",
        max_length: int = 2048,
        pad_square: bool = True,
    ) -> None:
        from robustbench_mllm.models.llava_runtime import processor_mean_colour

        self.json_path = Path(json_path)
        self.conversations = read_conversations(self.json_path)
        self.images_dir = None if images_dir is None else Path(images_dir)
        self.processor = processor
        self.image_token_id = image_token_id
        self.image_tokens = image_tokens
        self.template = template
        self.max_length = max_length
        self.pad_colour = processor_mean_colour(processor) if pad_square else None
        for conversation in self.conversations:
            problem = template_problem(conversation, template)
            if problem:
                raise DataFormatError(f"{conversation.where(self.json_path)}: {problem}")
        needs_images = any(c.image is not None for c in self.conversations)
        if needs_images and self.images_dir is None:
            raise DataFormatError(f"{self.json_path}: rows reference images but no `images` folder was given")

    def __len__(self) -> int:
        return len(self.conversations)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        import torch

        conversation = self.conversations[index]
        where = conversation.where(self.json_path)
        ids, labels = tokenize(
            conversation, self.template, self.processor.tokenizer, self.image_token_id, self.image_tokens,
            self.max_length, where,
        )
        sample = {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels)}
        if conversation.image is not None:
            sample["pixel_values"] = self._pixels(conversation.image, where)
        return sample

    def _pixels(self, name: str, where: str) -> torch.Tensor:
        from PIL import Image, UnidentifiedImageError

        from robustbench_mllm.models.llava_runtime import pad_to_square

        assert self.images_dir is not None
        path = self.images_dir / name
        try:
            with Image.open(path) as opened:
                image = opened.convert("RGB")
        except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
            raise DataFormatError(f"{where}: field 'image': cannot read {path} ({exc})") from None
        if self.pad_colour is not None:
            image = pad_to_square(image, self.pad_colour)
        return self.processor.image_processor(images=image, return_tensors="pt")["pixel_values"][0]


def collate(samples: Sequence[dict[str, torch.Tensor]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch; ``pixel_values`` stacks the images of the samples that have one."""
    import torch

    length = max(len(s["input_ids"]) for s in samples)
    ids = torch.full((len(samples), length), pad_token_id, dtype=torch.long)
    labels = torch.full((len(samples), length), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(samples), length), dtype=torch.long)
    for row, sample in enumerate(samples):
        n = len(sample["input_ids"])
        ids[row, :n], labels[row, :n], attention[row, :n] = sample["input_ids"], sample["labels"], 1
    batch = {"input_ids": ids, "labels": labels, "attention_mask": attention}
    images = [s["pixel_values"] for s in samples if "pixel_values" in s]
    if images:
        batch["pixel_values"] = torch.stack(images)
    return batch

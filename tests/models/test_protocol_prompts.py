"""Under ``vittle`` every LLaVA-family adapter sends the released evaluation's prompt (LLaVA's
``conv_llava_v1``, tokenized by ``tokenizer_image_token``) and pads images to a square with the
CLIP mean colour; under ``canonical`` each keeps the checkpoint's own prompt and no padding.

The expected prompts are built here from the released layout (llava/conversation.py and
llava/mm_utils.py at LLaVA c121f04), not from our code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from robustbench_mllm.models.detect import load_adapter
from robustbench_mllm.models.llava_runtime import LlavaRuntime
from robustbench_mllm.models.options import LoadOptions
from tests.fixtures.tiny_llava import NUM_IMAGE_TOKENS, build_tiny_original, build_tiny_vittle

# conv_llava_v1 / conv_vicuna_v1: system, roles, SeparatorStyle.TWO with sep " " and sep2 "</s>"
LLAVA_V1_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
                   "The assistant gives helpful, detailed, and polite answers to the human's questions.")
VICUNA_V1_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                    "The assistant gives helpful, detailed, and polite answers to the user's questions.")
ROLES, SEPS = ("USER", "ASSISTANT"), (" ", "</s>")
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
QUESTIONS = ("Is there a dog in the image?\nAnswer the question using a single word or phrase.", "Describe.")


def released_prompt(system: str, question: str) -> str:
    """Conversation.get_prompt (SeparatorStyle.TWO) after model_vqa_loader appends
    (USER, "<image>\\n" + question) and (ASSISTANT, None)."""
    messages = [(ROLES[0], "<image>\n" + question), (ROLES[1], None)]
    prompt = system + SEPS[0]
    for index, (role, message) in enumerate(messages):
        prompt += role + ": " + message + SEPS[index % 2] if message else role + ":"
    return prompt


def released_ids(prompt: str, tokenizer: object, image_token_id: int) -> list[int]:
    """mm_utils.tokenizer_image_token, with the image index replaced by the HF model's expansion
    of the placeholder into one token per patch."""
    chunks = [tokenizer(chunk).input_ids for chunk in prompt.split("<image>")]  # type: ignore[operator]
    ids, offset = [], 0
    if chunks and chunks[0] and chunks[0][0] == tokenizer.bos_token_id:  # type: ignore[attr-defined]
        offset = 1
        ids.append(chunks[0][0])
    separator = [-200] * (offset + 1)
    joined = [part for chunk in chunks for part in (chunk, separator)][:-1]
    for part in joined:
        ids.extend(part[offset:])
    expanded: list[int] = []
    for token in ids:
        expanded.extend([image_token_id] * NUM_IMAGE_TOKENS if token == -200 else [token])
    return expanded


def expand2square(image: Image.Image, colour: tuple[int, int, int]) -> Image.Image:
    width, height = image.size
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), colour)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def non_square_images() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    return [Image.fromarray(rng.integers(0, 256, (32, 20, 3), dtype=np.uint8)),  # tall
            Image.fromarray(rng.integers(0, 256, (12, 32, 3), dtype=np.uint8))]  # wide


@pytest.fixture(scope="module")
def folders(tiny_llava_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("protocol_prompts")
    return {
        "llava-hf": tiny_llava_dir,
        "llava-original": build_tiny_original(tiny_llava_dir, root / "original"),
        "vittle": build_tiny_vittle(tiny_llava_dir, root / "vittle", layout="separate"),
    }


def load(folder: Path, protocol: str) -> LlavaRuntime:
    adapter = load_adapter(str(folder), LoadOptions(device="cpu", protocol=protocol,
                                                    vittle_layer_v=2, vittle_layer_t=1))
    assert isinstance(adapter, LlavaRuntime)
    return adapter


@pytest.mark.parametrize("kind", ["llava-hf", "llava-original", "vittle"])
def test_vittle_sends_the_released_llava_v1_prompt_token_for_token(folders: dict[str, Path], kind: str) -> None:
    adapter = load(folders[kind], "vittle")
    expected_texts = [released_prompt(LLAVA_V1_SYSTEM, q) for q in QUESTIONS]
    assert [adapter.format_prompt(q) for q in QUESTIONS] == expected_texts
    assert expected_texts[1] == (
        "A chat between a curious human and an artificial intelligence assistant. The assistant gives "
        "helpful, detailed, and polite answers to the human's questions. USER: <image>\nDescribe. ASSISTANT:"
    )
    images = non_square_images()
    encoded = adapter.encode(list(zip(images, QUESTIONS)))  # two lengths: left padding
    for row, text in enumerate(expected_texts):
        kept = encoded["input_ids"][row][encoded["attention_mask"][row].bool()].tolist()
        assert kept == released_ids(text, adapter.tokenizer, adapter.image_token_id)
    described = adapter.describe()
    assert described["adapter"] == kind and described["protocol"] == "vittle"
    assert (described["prompt_template"], described["tokenization"]) == ("llava_v1", "tokenizer_image_token")
    assert described["pad_to_square"] is True and described["pad_colour"] == [122, 116, 104]


@pytest.mark.parametrize("kind", ["llava-hf", "llava-original", "vittle"])
def test_vittle_pads_to_a_square_with_the_clip_mean_colour(folders: dict[str, Path], kind: str) -> None:
    adapter = load(folders[kind], "vittle")
    fill = tuple(int(255 * m) for m in CLIP_MEAN)
    assert fill == (122, 116, 104)
    images = non_square_images()
    padded = [expand2square(image, fill) for image in images]
    tall = np.asarray(padded[0])  # 20 wide in a 32 square: 6 columns of fill on each side
    assert (tall[:, :6] == fill).all() and (tall[:, 26:] == fill).all()
    assert (np.asarray(padded[1])[:10] == fill).all()  # 12 high: 10 rows of fill above
    expected = adapter.processor.image_processor(padded, return_tensors="pt")["pixel_values"]
    got = adapter.encode([(image, "Describe.") for image in images])["pixel_values"]
    assert torch.equal(got, expected)


def test_canonical_keeps_the_checkpoint_prompt(folders: dict[str, Path]) -> None:
    hf = load(folders["llava-hf"], "canonical")
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe."}]}]
    assert hf.format_prompt("Describe.") == hf.processor.apply_chat_template(conversation, add_generation_prompt=True)
    assert hf.describe()["prompt_template"] == "chat_template" and not hf.released_tokens
    assert hf.describe()["pad_to_square"] is False and not hf.pad_square
    original = load(folders["llava-original"], "canonical")  # conv_vicuna_v1, what LLaVA-1.5 trained with
    assert original.format_prompt("Describe.") == released_prompt(VICUNA_V1_SYSTEM, "Describe.")
    assert original.describe()["prompt_template"] == "vicuna_v1"
    assert original.pad_square  # the original codebase pads under every protocol
    images = non_square_images()
    assert not torch.equal(hf.encode([(images[0], "Q")])["pixel_values"],
                           load(folders["llava-hf"], "vittle").encode([(images[0], "Q")])["pixel_values"])

"""Assembling LLaVA from parts, reading LLaVA's released projector safely, and the one-line errors
of the train command (layer outside the model, image-token count disagreement, missing parts)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from tests.fixtures.tiny_parts import build_tiny_clip_vision, build_tiny_llm
from tests.fixtures.toy_instructions import build_toy_instructions

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("parts")
    return build_tiny_llm(root / "llm"), build_tiny_clip_vision(root / "clip")


def test_released_mm_projector_bin_maps_to_our_keys(parts: tuple[Path, Path], tmp_path: Path) -> None:
    from transformers import LlavaForConditionalGeneration

    from robustbench_mllm.train.assemble import assemble_llava, read_projector

    gen = torch.Generator().manual_seed(0)
    # LLaVA's pretrain output: model.mm_projector.{0,2}.{weight,bias}, mm_hidden 32 -> hidden 64
    released = {"model.mm_projector.0.weight": torch.randn(64, 32, generator=gen),
                "model.mm_projector.0.bias": torch.randn(64, generator=gen),
                "model.mm_projector.2.weight": torch.randn(64, 64, generator=gen),
                "model.mm_projector.2.bias": torch.randn(64, generator=gen)}
    path = tmp_path / "mm_projector.bin"
    torch.save(released, path)
    assert set(read_projector(path)) == {"linear_1.weight", "linear_1.bias", "linear_2.weight", "linear_2.bias"}
    folder = assemble_llava(*parts, path, tmp_path / "llava", seed=0)
    model = LlavaForConditionalGeneration.from_pretrained(folder)
    head = model.model.multi_modal_projector
    assert torch.equal(head.linear_1.weight, released["model.mm_projector.0.weight"])
    assert torch.equal(head.linear_2.bias, released["model.mm_projector.2.bias"])
    config = model.config
    assert (config.vision_feature_layer, config.vision_feature_select_strategy, config.image_seq_length) == (-2, "default", 16)
    assert config.projector_hidden_act == "gelu"

    torch.save({"something.else": torch.zeros(2)}, tmp_path / "other.bin")
    with pytest.raises(ValueError, match="expected the 4 mlp2x_gelu tensors"):
        read_projector(tmp_path / "other.bin")


def test_assembled_tokenizer_gains_the_image_token_and_a_pad(parts: tuple[Path, Path], tmp_path: Path) -> None:
    from transformers import AutoProcessor, AutoTokenizer

    from robustbench_mllm.train.assemble import assemble_llava

    original = AutoTokenizer.from_pretrained(parts[0])
    assert "<image>" not in original.get_vocab() and original.pad_token is None
    processor = AutoProcessor.from_pretrained(assemble_llava(*parts, None, tmp_path / "llava", seed=0))
    assert processor.tokenizer.convert_tokens_to_ids("<image>") == len(original)
    assert processor.tokenizer.pad_token == "<unk>"  # LLaVA v1 pads with the unknown token
    text = processor(images=[_image()], text=["<image>"], return_tensors="pt")["input_ids"]
    assert int((text == processor.image_token_id).sum()) == 16


def _image() -> object:
    from PIL import Image

    return Image.new("RGB", (32, 32))


def _train(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["train", *args])
    return result.exit_code, result.output


def test_user_mistakes_are_one_line(parts: tuple[Path, Path], tiny_llava_dir: Path, tmp_path: Path) -> None:
    data, images = build_toy_instructions(tmp_path / "toy")
    common = ["--data", str(data), "--images", str(images), "--out", str(tmp_path / "out"), "--max-steps", "1"]
    # a 4-layer model with the default layer 24
    code, output = _train(["--base", str(tiny_llava_dir), *common])
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 2 and errors == ["error: --layer-v 24 is outside this model's decoder layers 0..3"]
    assert "Traceback" not in output
    # config.image_seq_length disagrees with what the processor expands <image> to
    broken = tmp_path / "broken"
    shutil.copytree(tiny_llava_dir, broken)
    config = json.loads((broken / "config.json").read_text())
    config["image_seq_length"] = 17
    (broken / "config.json").write_text(json.dumps(config))
    code, output = _train(["--base", str(broken), "--layer", "1", *common])
    assert code == 2 and "image_seq_length is 17 but the processor expands <image> to 16 tokens" in output
    assert "Traceback" not in output
    # Stage 2 from parts without the Stage-1 projector; parts without a CLIP processor
    code, output = _train(["--llm", str(parts[0]), "--vision-tower", str(parts[1]), *common])
    assert code == 2 and "needs the Stage-1 --projector file" in output
    bare = tmp_path / "bare_clip"
    shutil.copytree(parts[1], bare)
    for name in ("preprocessor_config.json", "processor_config.json"):
        (bare / name).unlink(missing_ok=True)
    code, output = _train(["--stage", "pretrain", "--llm", str(parts[0]), "--vision-tower", str(bare), *common])
    assert code == 2 and "no preprocessor_config.json" in output and "Traceback" not in output
    # rows with images but no --images folder; a row without conversations
    code, output = _train(["--base", str(tiny_llava_dir), "--layer", "1", "--data", str(data), "--out", str(tmp_path / "o2")])
    assert code == 2 and "rows reference images but no --images folder was given" in output
    rows = json.loads(data.read_text())
    rows[2].pop("conversations")
    (tmp_path / "bad.json").write_text(json.dumps(rows))
    code, output = _train(["--base", str(tiny_llava_dir), "--layer", "1", "--data", str(tmp_path / "bad.json"),
                           "--images", str(images), "--out", str(tmp_path / "o3")])
    assert code == 2 and "bad.json: row 2: field 'conversations'" in output and "Traceback" not in output

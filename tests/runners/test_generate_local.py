"""Generate from local POPE files: bad images (fail / skip to failures.jsonl), one corruption per
shared image, and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.io_utils import read_jsonl
from robustbench_mllm.perturbations.base import perturbation_for
from robustbench_mllm.registry import load_registry
from robustbench_mllm.runners.generate.plan import GenerateConfig
from robustbench_mllm.runners.generate.run import run_generate
from robustbench_mllm.store.variants import list_variants, load_items

GOOD = ("000000000001", "000000000002")
EMPTY, TRUNCATED = "000000000003", "000000000004"


def _pope_folder(root: Path, image_ids: tuple[str, ...], obj: str = "traffic light") -> tuple[Path, Path]:
    images = root / "val2014"
    images.mkdir(parents=True)
    for n, image_id in enumerate(GOOD):
        pixels = np.random.default_rng(n).integers(0, 256, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"COCO_val2014_{image_id}.png")
    (images / f"COCO_val2014_{EMPTY}.png").write_bytes(b"")
    png = (images / f"COCO_val2014_{GOOD[0]}.png").read_bytes()
    (images / f"COCO_val2014_{TRUNCATED}.png").write_bytes(png[: len(png) // 2])
    rows = [
        {"question_id": q + 1, "image": f"COCO_val2014_{image_ids[q % len(image_ids)]}.jpg",
         "text": f"Is there a {obj} in the image?", "label": "yes" if q % 2 else "no"}
        for q in range(12)
    ]
    for split in ("random", "popular", "adversarial"):
        (root / f"coco_pope_{split}.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root, images


def _params(root: Path, images: Path, **kw: object) -> GenerateConfig:
    return GenerateConfig(suite="pope", source=str(root), images=str(images), allow_nonstandard=True,
                          **kw)  # type: ignore[arg-type]


def test_bad_images_fail_with_file_and_item_or_are_skipped(tmp_path: Path) -> None:
    root, images = _pope_folder(tmp_path / "pope", (GOOD[0], EMPTY, GOOD[1], TRUNCATED))
    with pytest.raises(DataFormatError, match=rf"{EMPTY}.*random_2|random_2.*{EMPTY}"):
        run_generate(_params(root, images, perturbations="contrast"), tmp_path / "fail")

    out = tmp_path / "skip"
    summary = run_generate(_params(root, images, perturbations="contrast", on_error="skip"), out)
    failures = list(read_jsonl(out / "failures.jsonl"))
    bad_ids = {f"{split}_{q}" for split in ("random", "popular", "adversarial") for q in (2, 4, 6, 8, 10, 12)}
    assert {f["item_id"] for f in failures} == bad_ids
    assert {f["image_id"] for f in failures} == {EMPTY, TRUNCATED}
    assert all(f["file"].endswith(".png") and f["error"] for f in failures)
    assert len(summary.failures) == 18
    for variant in ("clean", "contrast_s3"):
        kept = [i.id for i in load_items(out, "pope", variant)]
        assert kept == [f"{split}_{q}" for split in ("random", "popular", "adversarial") for q in (1, 3, 5, 7, 9, 11)]


def test_shared_image_is_corrupted_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, images = _pope_folder(tmp_path / "pope", GOOD)
    load_registry("perturbations")
    frost = perturbation_for("frost", "vittle")  # the default protocol's implementation
    seen: list[int] = []
    real_apply = frost.apply

    def counting_apply(img, severity, rng):  # type: ignore[no-untyped-def]
        seen.append(severity)
        return real_apply(img, severity, rng)

    monkeypatch.setattr(frost, "apply", counting_apply)
    out = tmp_path / "out"
    run_generate(_params(root, images, perturbations="frost,frost+word_swap", severities=(1, 5)), out)
    # 36 rows x 2 variants per severity over 2 distinct images: 2 corruptions per severity
    assert sorted(seen) == [1, 1, 5, 5]
    assert list_variants(out)["pope"] == ["clean", "frost+word_swap_s1", "frost+word_swap_s5", "frost_s1",
                                          "frost_s5"]


def test_cli_writes_variants_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["generate", "--perturbations", "visual", "--limit", "1", "--severity", "2",
                                      "--protocol", "canonical", "--image-format", "jpeg", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "zoom_blur_s2" in result.output and "rows" in result.output
    assert len(list_variants(out)["sample_pope"]) == 10
    assert load_items(out, "sample_lbcoco", "fog_s2")[0].image[:3] == b"\xff\xd8\xff"  # type: ignore[index]
    bad = CliRunner().invoke(app, ["generate", "--severity", "7", "--out", str(out)])
    assert bad.exit_code != 0 and "severity" in bad.output


def test_cli_translates_through_a_configured_server(tmp_path: Path) -> None:
    from tests.fixtures.fake_openai import FakeOpenAIServer, last_user_text

    root, images = _pope_folder(tmp_path / "pope", GOOD, obj="zebra crossing")
    args = ["generate", "--suite", "pope", "--source", str(root), "--images", str(images), "--allow-nonstandard",
            "--perturbations", "translate_greek,frost+translate_greek", "--out", str(tmp_path / "out"),
            "--translation-cache", str(tmp_path / "cache.sqlite")]
    with FakeOpenAIServer(lambda body: "ΕΛ: " + last_user_text(body)[-40:]) as server:
        result = CliRunner().invoke(app, [*args, "--translator-base-url", server.base_url, "--translator-model", "fake"])
        assert result.exit_code == 0, result.output
        assert server.ok_count() == 1  # one distinct question, translated once for both variants
    assert "translations with fake" in result.output
    for variant in ("translate_greek_s3", "frost+translate_greek_s3"):
        items = load_items(tmp_path / "out", "pope", variant)
        assert len(items) == 36 and all(item.question.startswith("ΕΛ: ") for item in items)

"""The embedded sample suite: real scikit-image colour photos, LB-COCO-style and POPE-style items."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
from PIL import Image

from robustbench_mllm.registry import load_registry
from robustbench_mllm.sources.sample import POPE_SPLITS, SampleLBCOCO, SamplePOPE


def test_lbcoco_style_items_cover_each_category_per_image() -> None:
    items = list(SampleLBCOCO().load())
    per_image = defaultdict(list)
    for item in items:
        per_image[item.image_id].append(item.category)
    assert len(per_image) >= 8
    assert all(sorted(cats) == ["complex", "conv", "detail"] for cats in per_image.values())
    assert len({item.id for item in items}) == len(items)
    for item in items:
        assert item.dataset == "sample_lbcoco" and item.question.strip() and len(item.reference_answer) > 20
        assert len(item.context.captions) == 5 and item.context.boxes
        for box in item.context.boxes:
            x1, y1, x2, y2 = box.bbox
            assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1, (item.image_id, box)


def test_sample_images_are_distinct_colour_photos() -> None:
    files = {item.image_id: item.image for item in SampleLBCOCO().load()}
    pixels = set()
    for image_id, path in files.items():
        with Image.open(path) as img:
            arr = np.asarray(img.convert("RGB"), dtype=np.int16)
        assert min(arr.shape[:2]) >= 256, image_id
        # a colour photo: channels differ noticeably somewhere
        assert np.abs(arr[..., 0] - arr[..., 2]).mean() > 5, image_id
        pixels.add(arr.tobytes()[:4096])
    assert len(pixels) == len(files) >= 8


def test_pope_style_splits_are_balanced_per_image() -> None:
    items = list(SamplePOPE().load())
    assert len({item.id for item in items}) == len(items)
    counts = Counter((item.split, item.image_id, item.label) for item in items)
    images = {item.image_id for item in items}
    assert len(images) >= 8
    for split in POPE_SPLITS:
        for image_id in images:
            assert counts[(split, image_id, "yes")] == counts[(split, image_id, "no")] >= 3
    for item in items:
        assert item.question.startswith("Is there a ") and item.question.endswith(" in the image?")
        assert item.category == item.split and item.label in ("yes", "no")
    # an object is never both present and absent for one image
    answers = defaultdict(set)
    for item in items:
        answers[(item.image_id, item.question)].add(item.label)
    assert all(len(labels) == 1 for labels in answers.values())


def test_sample_sources_are_registered() -> None:
    registry = load_registry("sources")
    assert registry.get("sample_lbcoco")().info().task == "open_ended"
    assert registry.get("sample_pope")().info().task == "yes_no"

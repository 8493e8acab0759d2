import io

import datasets
from PIL import Image

from robustbench_mllm.records import Box, Item, JudgeContext, VariantSpec
from robustbench_mllm.store.variant_schema import item_to_row
from robustbench_mllm.store.variant_writer import write_rows
from robustbench_mllm.store.variants import read_variant


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_variant_round_trip_and_loads_with_datasets(tmp_path):
    item = Item(
        id="q1", dataset="sample_lbcoco", split="test", question="What is shown?", image=None,
        image_id="astronaut", reference_answer="An astronaut.", category="conv",
        context=JudgeContext(captions=("a person",), boxes=(Box("person", (0.1, 0.1, 0.9, 0.9)),)),
    )
    spec = VariantSpec(visual="frost", severity=3, seed=7)
    path = tmp_path / "data.parquet"
    write_rows(path, [item_to_row(item, spec, _png(), "png")])

    back = read_variant(path)[0]
    assert back.question == item.question and back.context == item.context
    assert Image.open(io.BytesIO(back.image)).size == (4, 3)

    loaded = datasets.load_dataset("parquet", data_files=str(path), split="train",
                                   cache_dir=str(tmp_path / "cache"))
    assert loaded[0]["variant"] == "frost_s3" and loaded[0]["modality"] == "visual"
    assert loaded[0]["severity"] == 3 and loaded[0]["seed"] == 7
    assert isinstance(loaded.features["image"], datasets.Image)
    assert loaded[0]["image"].size == (4, 3)

"""Variant files store each distinct image once, whatever the row order, and still read back row by row."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.records import Item, VariantSpec
from robustbench_mllm.store.variant_schema import features, item_to_row
from robustbench_mllm.store.variant_writer import by_image, row_groups, write_rows
from robustbench_mllm.store.variants import iter_items, load_items, read_variant, read_variant_rows

SPLITS = ("random", "popular", "adversarial")
PER_SPLIT = 6  # POPE: 6 questions per image per split


def _png(seed: int, shape: tuple[int, int] = (48, 64)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _pope_rows(images: list[bytes]) -> list[dict]:
    """POPE order: per split, the questions of one image are consecutive; every split repeats
    all images. Each row gets its own copy of the bytes, as a reader of source files would."""
    rows = []
    for split in SPLITS:
        for index, data in enumerate(images):
            for q in range(PER_SPLIT):
                item = Item(id=f"{split}-{index}-{q}", dataset="pope", split=split, question=f"Is there a thing {q}?",
                            image=None, image_id=f"img{index}", label="yes" if q % 2 else "no")
                rows.append(item_to_row(item, VariantSpec(visual="frost", severity=2, seed=1), bytes(data), "png"))
    return rows


@pytest.fixture(scope="module")
def images() -> list[bytes]:
    return [_png(seed) for seed in range(12)]


def test_pope_like_variant_stores_each_image_once_and_round_trips(tmp_path: Path, images: list[bytes]) -> None:
    import datasets

    rows = _pope_rows(images)
    path = tmp_path / "data.parquet"
    write_rows(path, rows)

    distinct = sum(len(data) for data in images)
    assert path.stat().st_size <= 1.1 * distinct  # each image once, though its 3 runs lie a split apart

    items = read_variant(path)
    assert [i.id for i in items] == [r["id"] for r in rows]
    assert [i.image for i in items] == [r["image"]["bytes"] for r in rows]
    assert [(i.question, i.label, i.split, i.image_id) for i in items] == [
        (r["question"], r["label"], r["split"], r["image_id"]) for r in rows
    ]
    assert len({id(i.image) for i in items}) == len(images)  # one bytes object per distinct image
    assert read_variant_rows(path)[5]["image"] == rows[5]["image"]

    # other readers see rows grouped by image, each with its image; sorting by position restores the order
    plain = sorted(pq.read_table(str(path)).to_pylist(), key=lambda r: r["position"])
    assert [r["image"] for r in plain] == [r["image"] for r in rows]

    loaded = datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))
    assert isinstance(loaded.features["image"], datasets.Image) and loaded[0]["image"].size == (64, 48)
    raw = loaded.cast_column("image", datasets.Image(decode=False)).sort("position")
    assert [r["image"]["bytes"] for r in raw] == [r["image"]["bytes"] for r in rows]
    assert raw["id"] == [r["id"] for r in rows]


def test_rows_in_any_order_store_each_image_once(tmp_path: Path) -> None:
    """Shuffled rows (rarely two rows of an image adjacent) still give one copy per image; photo
    sized images (~170 KB), so the few KB of other columns and footers stay below 10%."""
    images = [_png(seed, (240, 240)) for seed in range(8)]
    rows = _pope_rows(images)
    shuffled = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
    path = tmp_path / "data.parquet"
    write_rows(path, shuffled, group_limit=4 * PER_SPLIT * len(SPLITS) * max(len(d) for d in images))
    assert pq.ParquetFile(str(path)).metadata.num_row_groups > 1
    assert path.stat().st_size <= 1.1 * sum(len(d) for d in images)
    assert [(r["id"], r["image"]) for r in read_variant_rows(path)] == [(r["id"], r["image"]) for r in shuffled]


def test_row_groups_end_between_runs_and_stay_under_the_limit(tmp_path: Path, images: list[bytes]) -> None:
    rows = _pope_rows(images)
    size = len(rows[0]["image"]["bytes"])
    run = PER_SPLIT * len(SPLITS)  # rows of one image, consecutive once grouped
    limit = 2 * run * max(len(d) for d in images) + size  # two runs and a bit
    grouped = by_image(rows)
    assert [r["position"] for r in grouped[: 3 * PER_SPLIT]] == [
        split * len(images) * PER_SPLIT + q for split in range(len(SPLITS)) for q in range(PER_SPLIT)]
    groups = list(row_groups(grouped, limit))
    assert [r for g in groups for r in g] == grouped
    for group in groups:
        assert sum(len(r["image"]["bytes"]) for r in group) <= limit
        assert len(group) % run == 0  # no run of one image is cut

    path = tmp_path / "data.parquet"
    assert write_rows(path, rows, group_limit=limit) == len(rows)
    metadata = pq.ParquetFile(str(path)).metadata
    assert [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)] == [len(g) for g in groups]
    # every image stored once, not once per split (3) or per row (18); 9 KB images, so the
    # per-group footers weigh more here than for photos
    assert path.stat().st_size < 1.3 * sum(len(d) for d in images)
    assert [i.image for i in read_variant(path)] == [r["image"]["bytes"] for r in rows]


def test_a_run_longer_than_the_limit_is_cut() -> None:
    data = b"x" * 100
    rows = [{"id": str(i), "image": {"bytes": data, "path": "a.png"}} for i in range(7)]
    rows.append({"id": "none", "image": None})
    assert [len(g) for g in row_groups(rows, 250, run_limit=250)] == [2, 2, 2, 2]
    assert [len(g) for g in row_groups(rows, 250, run_limit=500)] == [5, 3]  # a run alone: up to run_limit
    assert [len(g) for g in row_groups(rows, 250)] == [7, 1]


def test_same_rows_give_the_same_bytes(tmp_path: Path, images: list[bytes]) -> None:
    rows = _pope_rows(images[:4])
    write_rows(tmp_path / "a.parquet", rows, group_limit=10_000)
    write_rows(tmp_path / "b.parquet", iter(rows), group_limit=10_000)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_iter_items_matches_load_items_across_row_groups(tmp_path: Path, images: list[bytes]) -> None:
    rows = _pope_rows(images[:5])
    folder = tmp_path / "pope" / "frost_s2"
    folder.mkdir(parents=True)
    write_rows(folder / "data.parquet", rows, group_limit=3 * PER_SPLIT * max(len(d) for d in images))
    assert pq.ParquetFile(str(folder / "data.parquet")).metadata.num_row_groups > 3
    everything = load_items(tmp_path, "pope", "frost_s2")
    batches = list(iter_items(tmp_path, "pope", "frost_s2", batch_size=7))
    assert [len(b) for b in batches] == [7] * (len(rows) // 7) + ([len(rows) % 7] if len(rows) % 7 else [])
    assert [i for b in batches for i in b] == everything
    with pytest.raises(ValueError, match="batch_size"):
        next(iter_items(tmp_path, "pope", "frost_s2", batch_size=0))
    with pytest.raises(FileNotFoundError, match="Present: pope/frost_s2"):
        iter_items(tmp_path, "pope", "clean")


def test_reads_files_written_without_dictionary_encoding(tmp_path: Path, images: list[bytes]) -> None:
    """Files from before this layout (plain bytes, 64-row groups) read back the same, shared."""
    import pyarrow as pa

    rows = _pope_rows(images[:3])
    path = tmp_path / "old.parquet"
    schema = features().arrow_schema
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), str(path), row_group_size=64, use_dictionary=False)
    items = read_variant(path)
    assert [i.image for i in items] == [r["image"]["bytes"] for r in rows]
    assert len({id(i.image) for i in items}) == 3


def test_bad_row_names_file_row_and_field(tmp_path: Path, images: list[bytes]) -> None:
    rows = _pope_rows(images[:1])[:3]
    rows[2] = dict(rows[2], question=3)
    with pytest.raises(DataFormatError, match=r"data.parquet: row 2 \(id 'random-0-2'\), field 'question'"):
        write_rows(tmp_path / "data.parquet", rows)
    with pytest.raises(DataFormatError, match="random-0-0', field 'image'"):
        write_rows(tmp_path / "data.parquet", [dict(rows[0], image=b"png")])


def test_image_dictionary_handles_shared_equal_and_missing_images(tmp_path: Path, images: list[bytes]) -> None:
    """Rows sharing one bytes object or holding equal copies store the image once; a null image
    and null bytes stay null for every reader; equal copies and shared objects give the same file."""
    import datasets

    rows = _pope_rows(images[:3])[:20]
    copies = [dict(row, image={"bytes": bytes(bytearray(row["image"]["bytes"])), "path": row["image"]["path"]})
              for row in rows]
    assert copies[0]["image"]["bytes"] is not rows[0]["image"]["bytes"]
    for variant in (rows, copies):
        variant[9] = dict(variant[9], image=None)
        variant[11] = dict(variant[11], image={"bytes": None, "path": "img1.png"})
    write_rows(tmp_path / "shared.parquet", rows)
    write_rows(tmp_path / "copies.parquet", copies)
    assert (tmp_path / "shared.parquet").read_bytes() == (tmp_path / "copies.parquet").read_bytes()
    assert (tmp_path / "copies.parquet").stat().st_size < 1.2 * sum(len(d) for d in images[:3])

    expected = [r["image"] for r in rows]
    assert [r["image"] for r in read_variant_rows(tmp_path / "copies.parquet")] == expected
    plain = sorted(pq.read_table(str(tmp_path / "copies.parquet")).to_pylist(), key=lambda r: r["position"])
    assert [r["image"] for r in plain] == expected
    loaded = datasets.load_dataset("parquet", data_files=str(tmp_path / "copies.parquet"), split="train",
                                   cache_dir=str(tmp_path / "cache"))
    assert loaded.features == features()
    assert loaded.cast_column("image", datasets.Image(decode=False)).sort("position")["image"] == expected

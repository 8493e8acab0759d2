"""Decoding any image Pillow reads to RGB uint8, clear decode errors, deterministic encoding."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustbench_mllm.errors import DataFormatError
from robustbench_mllm.imaging import ImageDecodeError, encode_image, load_rgb


def saved(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk_types(data: bytes) -> list[bytes]:
    types, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        types.append(data[offset + 4 : offset + 8])
        offset += 12 + length
    return types


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[::8, ::8])  # 64x64 real photo


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (64, 64), (31, 2)])
def test_png_round_trip_is_lossless_deterministic_and_metadata_free(
    shape: tuple[int, int], photo: np.ndarray
) -> None:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)  # wrap-around in the Up filter
    arr[: photo.shape[0], : photo.shape[1]] = photo[: shape[0], : shape[1]]
    data = encode_image(arr)
    assert data == encode_image(arr.copy())
    assert png_chunk_types(data) == [b"IHDR", b"IDAT", b"IEND"]
    with Image.open(io.BytesIO(data)) as reopened:  # Pillow (and so datasets.Image) reads it
        assert reopened.format == "PNG" and reopened.mode == "RGB"
        assert (np.asarray(reopened) == arr).all()
    assert (load_rgb(data) == arr).all()


def test_jpeg_is_deterministic_and_close(photo: np.ndarray) -> None:
    data = encode_image(photo, "jpeg", quality=95)
    assert data == encode_image(photo, "jpeg", quality=95)
    assert data[:2] == b"\xff\xd8"
    assert np.abs(load_rgb(data).astype(int) - photo).mean() < 3
    assert len(encode_image(photo, "jpeg", quality=30)) < len(data)


def test_encode_rejects_bad_input(photo: np.ndarray) -> None:
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        encode_image(photo.astype(np.float32))
    with pytest.raises(ValueError, match="unknown image format"):
        encode_image(photo, "webp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="quality"):
        encode_image(photo, "jpeg", quality=0)


def test_greyscale_and_palette_become_rgb(photo: np.ndarray) -> None:
    grey = Image.fromarray(photo[..., 1])
    loaded = load_rgb(saved(grey, "PNG"))
    assert loaded.shape == (*photo.shape[:2], 3)
    assert (loaded == photo[..., 1:2]).all()
    palette = Image.fromarray(photo).quantize(16)
    assert (load_rgb(saved(palette, "PNG")) == np.asarray(palette.convert("RGB"))).all()
    one_bit = Image.fromarray(photo[..., 0] > 128)
    assert set(np.unique(load_rgb(saved(one_bit, "PNG")))) <= {0, 255}


def test_alpha_is_composited_over_white() -> None:
    rgba = np.zeros((1, 3, 4), dtype=np.uint8)
    rgba[0, :, :3] = (10, 100, 200)
    rgba[0, :, 3] = (0, 255, 128)  # transparent, opaque, half
    loaded = load_rgb(saved(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert loaded[0, 0].tolist() == [255, 255, 255]
    assert loaded[0, 1].tolist() == [10, 100, 200]
    half = [round((c * 128 + 255 * 127) / 255) for c in (10, 100, 200)]
    assert loaded[0, 2].tolist() == half
    la = Image.fromarray(rgba[..., [1, 3]], "LA")
    assert load_rgb(saved(la, "PNG"))[0, :2].tolist() == [[255] * 3, [100] * 3]


def test_transparency_keys_become_white() -> None:
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((1, 0), 1)
    loaded = load_rgb(saved(palette, "PNG", transparency=0))
    assert loaded[0].tolist() == [[255, 255, 255], [0, 0, 255]]
    rgb = Image.fromarray(np.array([[[1, 2, 3], [9, 9, 9]]], dtype=np.uint8))
    assert load_rgb(saved(rgb, "PNG", transparency=(1, 2, 3)))[0].tolist() == [[255] * 3, [9] * 3]


def test_cmyk_matches_pillows_conversion(photo: np.ndarray) -> None:
    cmyk = Image.fromarray(photo).convert("CMYK")
    for fmt in ("TIFF", "JPEG"):
        data = saved(cmyk, fmt)
        with Image.open(io.BytesIO(data)) as reopened:
            assert reopened.mode == "CMYK"
            expected = np.asarray(reopened.convert("RGB"))
        assert (load_rgb(data) == expected).all(), fmt
    assert np.abs(load_rgb(saved(cmyk, "TIFF")).astype(int) - photo).mean() < 2


def test_sixteen_bit_is_scaled_to_eight_bit() -> None:
    wide = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    loaded = load_rgb(saved(Image.fromarray(wide), "PNG"))
    assert loaded[..., 0].tolist() == [[0, 1, 128, 255]]
    assert (loaded == loaded[..., :1]).all()
    signed = Image.fromarray(np.array([[-5, 70000, 65535]], dtype=np.int32), "I")
    assert load_rgb(saved(signed, "TIFF"))[0, :, 0].tolist() == [0, 255, 255]


def test_exif_orientation_is_applied() -> None:
    arr = np.zeros((2, 4, 3), dtype=np.uint8)
    arr[0, 0] = (255, 0, 0)  # red in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be rotated 90 degrees clockwise to display upright
    loaded = load_rgb(saved(Image.fromarray(arr), "PNG", exif=exif))
    assert loaded.shape == (4, 2, 3)
    assert loaded[0, 1].tolist() == [255, 0, 0]  # the top-left moved to the top-right


def test_large_photo_decodes(tmp_path: Path) -> None:
    path = tmp_path / "large.png"
    path.write_bytes(encode_image(np.full((6000, 8000, 3), 7, dtype=np.uint8)))
    loaded = load_rgb(path, item_id="big")
    assert loaded.shape == (6000, 8000, 3) and loaded[5999, 7999].tolist() == [7, 7, 7]


def test_decompression_bomb_is_a_decode_error(
    monkeypatch: pytest.MonkeyPatch, photo: np.ndarray
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ImageDecodeError, match=r"bytes \(item q1\).*DecompressionBomb"):
        load_rgb(encode_image(photo), item_id="q1")


def test_bad_files_raise_a_clear_error_naming_file_and_item(
    tmp_path: Path, photo: np.ndarray
) -> None:
    png = encode_image(photo)
    jpeg = encode_image(photo, "jpeg")
    cases = {
        "empty.png": b"",
        "truncated.png": png[: len(png) // 2],
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "notes.jpg": b"this is not an image\n" * 10,
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ImageDecodeError, match=rf"{name} \(item 000042\): cannot decode"):
            load_rgb(path, item_id="000042")
        with pytest.raises(DataFormatError, match=r"^bytes: cannot decode"):
            load_rgb(content)
    with pytest.raises(ImageDecodeError, match=r"missing\.png \(item 7\).*FileNotFound"):
        load_rgb(tmp_path / "missing.png", item_id="7")

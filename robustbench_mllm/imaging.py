"""Decode any image Pillow reads to an RGB uint8 array, and encode arrays to PNG/JPEG bytes.

Decoding rules (``load_rgb``):
- EXIF orientation is applied first (``ImageOps.exif_transpose``), so arrays are upright.
- Transparency (RGBA, LA, PA, and P/L/RGB images with a ``transparency`` key) is composited over
  WHITE: a transparent pixel becomes white, a half-transparent one is blended with white. White
  matches how viewers and web pages show such images; dropping the alpha channel instead would
  expose whatever colour is stored under transparent pixels (often black), which the author never
  meant to be seen.
- 16-bit greyscale (I;16, I;16B, I, ...) is scaled from 0..65535 to 0..255 with rounding
  (``round(v / 257)``); mode ``I`` values are clipped to that range first. 32-bit float (``F``)
  images are taken as 0..255 grey levels and clipped.
- Every other mode (L, 1, P, CMYK, YCbCr, LAB, HSV, ...) goes through Pillow's ``convert("RGB")``.
- Pillow's decompression-bomb guard stays on: an image over ``2 * Image.MAX_IMAGE_PIXELS``
  (about 179 MP by default) raises ``ImageDecodeError``; an 8000x6000 (48 MP) photo is fine.
- A missing, empty, truncated or non-image input raises ``ImageDecodeError`` naming the file (or
  "bytes") and the item id.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps

from robustbench_mllm.errors import ConfigError, DataFormatError

# jpeg: Pillow, 4:4:4 chroma; jpeg_opencv: what ``cv2.imwrite(path.jpg, array)`` stores (4:2:0)
ImageFormat = Literal["png", "jpeg", "jpeg_opencv"]
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageDecodeError(DataFormatError):
    """An image that cannot be decoded; the message names the file (or "bytes") and the item."""


def check_rgb(arr: np.ndarray) -> np.ndarray:
    """Reject anything but an HxWx3 uint8 RGB array with at least one pixel."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"expected an HxWx3 uint8 numpy array, got {type(arr).__name__}")
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or 0 in arr.shape:
        raise ValueError(
            f"expected an HxWx3 uint8 RGB array, got shape {arr.shape} dtype {arr.dtype}"
        )
    return arr


def _has_transparency(image: Image.Image) -> bool:
    return image.mode in _ALPHA_MODES or "transparency" in image.info


def _over_white(rgba: np.ndarray) -> np.ndarray:
    """Composite RGBA (uint8) over white, rounding to the nearest grey level."""
    alpha = rgba[..., 3:4].astype(np.uint32)
    blended = rgba[..., :3].astype(np.uint32) * alpha + 255 * (255 - alpha)
    return ((blended + 127) // 255).astype(np.uint8)


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    if _has_transparency(image):
        return _over_white(np.asarray(image.convert("RGBA")))
    if image.mode in _SIXTEEN_BIT_MODES:
        wide = np.clip(np.asarray(image, dtype=np.float64), 0, 65535)
        grey = np.rint(wide / 257.0).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode == "F":
        grey = np.clip(np.asarray(image, dtype=np.float64), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


def load_rgb(source: Path | str | bytes, *, item_id: str | None = None) -> np.ndarray:
    """Decode ``source`` (a path or the encoded bytes) to a C-contiguous HxWx3 uint8 RGB array.

    See the module docstring for how alpha, 16-bit, EXIF orientation and bad files are handled.
    """
    where = "bytes" if isinstance(source, bytes | bytearray) else str(source)
    try:
        stream = io.BytesIO(source) if isinstance(source, bytes | bytearray) else Path(source)
        with Image.open(stream) as image:
            image.load()  # decode now, so truncation is caught here
            upright = ImageOps.exif_transpose(image)
            return np.ascontiguousarray(_to_rgb_array(upright))
    # Pillow's plugins signal malformed input with many exception types (OSError, SyntaxError,
    # ValueError, struct.error, DecompressionBombError, ...): all mean "cannot decode this input".
    except Exception as exc:
        item = f" (item {item_id})" if item_id is not None else ""
        raise ImageDecodeError(
            f"{where}{item}: cannot decode image: {type(exc).__name__}: {exc}"
        ) from exc


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _encode_png(arr: np.ndarray) -> bytes:
    """A minimal PNG: IHDR, one IDAT, IEND; no timestamp, text or other metadata.

    Every row uses the "Up" filter (difference to the row above, computed for the whole image in
    one NumPy subtraction), deflated by ISA-L at level 1 (zlib stream format, as PNG requires).
    Pillow's per-row adaptive filter search with zlib at its default level took 5-25x longer (it
    dominated generation time) for files 5-20% smaller. The same pixels always give the same bytes
    with a given isal build; any PNG decoder reads back exactly the same pixels.
    """
    height, width, _ = arr.shape
    rows = arr.reshape(height, width * 3)
    filtered = np.empty((height, width * 3 + 1), dtype=np.uint8)
    filtered[:, 0] = 2  # filter type "Up"; the first row's "above" is zeros, i.e. itself
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8 wrap-around = PNG's mod 256
    from isal import isal_zlib

    idat = isal_zlib.compress(filtered.data, 1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        _PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )  # fmt: skip


def encode_image(arr: np.ndarray, fmt: ImageFormat = "png", quality: int = 95) -> bytes:
    """Encode an HxWx3 uint8 array; the same array always gives the same bytes.

    PNG is lossless (see ``_encode_png``); JPEG uses Pillow at ``quality`` with 4:4:4 chroma (no
    subsampling, so per-channel noise survives) and no EXIF or other metadata. ``jpeg_opencv`` is
    OpenCV's JPEG writer at ``quality``, baseline, 4:2:0 chroma (Y 2x2, Cb/Cr 1x1), the writer
    and settings MM_Robustness stored the paper's images with (given BGR, as ``cv2.imwrite`` is).
    """
    check_rgb(arr)
    if fmt == "png":
        return _encode_png(np.ascontiguousarray(arr))
    if fmt in ("jpeg", "jpeg_opencv") and not 1 <= quality <= 100:
        raise ConfigError(f"JPEG quality must be in 1..100, got {quality}")
    if fmt == "jpeg_opencv":
        import cv2

        params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]
        ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(arr[..., ::-1]), params)
        if not ok:
            raise DataFormatError(f"OpenCV could not encode a {arr.shape[1]}x{arr.shape[0]} image as JPEG")
        return encoded.tobytes()
    if fmt == "jpeg":
        buffer = io.BytesIO()
        Image.fromarray(arr).save(buffer, "JPEG", quality=quality, subsampling=0)
        return buffer.getvalue()
    raise ConfigError(f"unknown image format {fmt!r}; choose 'png', 'jpeg' or 'jpeg_opencv'")

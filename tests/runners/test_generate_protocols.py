"""Generate under each protocol: ``vittle`` (the default) stores what OpenCV's JPEG writer stores
(quality 95, 4:2:0, after round-half-to-even), ``canonical`` lossless PNG; the manifest records
the protocol, its storage and the frost textures used."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from robustbench_mllm.cli.app import app
from robustbench_mllm.errors import ConfigError
from robustbench_mllm.imaging import encode_image
from robustbench_mllm.io_utils import read_json
from robustbench_mllm.runners.generate.plan import GenerateConfig, with_storage
from robustbench_mllm.runners.generate.run import run_generate
from robustbench_mllm.store.variants import load_items

# libjpeg's standard luminance table (ITU T.81 K.1), first row in zigzag order
LUMINANCE_ZIGZAG_START = (16, 11, 12, 14, 12, 10, 16, 14)


def jpeg_segments(data: bytes) -> dict[int, bytes]:
    """Marker -> payload of the header segments of a baseline JPEG, up to the scan."""
    assert data[:2] == b"\xff\xd8"
    segments, at = {}, 2
    while data[at] == 0xFF and data[at + 1] != 0xDA:
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        segments.setdefault(data[at + 1], data[at + 4 : at + 2 + length])
        at += 2 + length
    return segments


def check_opencv_q95_420(data: bytes) -> None:
    segments = jpeg_segments(data)
    sof0 = segments[0xC0]  # baseline
    components = {sof0[6 + 3 * i]: sof0[7 + 3 * i] for i in range(sof0[5])}
    assert components == {1: 0x22, 2: 0x11, 3: 0x11}  # Y 2x2, Cb 1x1, Cr 1x1: 4:2:0
    scale = 200 - 2 * 95  # libjpeg's quality scaling at 95
    expected = [max(1, (q * scale + 50) // 100) for q in LUMINANCE_ZIGZAG_START]
    assert list(segments[0xDB][1:9]) == expected


def test_jpeg_opencv_is_cv2_imwrite_of_the_float_result() -> None:
    """MM_Robustness passed float arrays to cv2.imwrite: the same bytes as our round-half-even
    uint8 array through the jpeg_opencv encoder (the photo given RGB, written BGR)."""
    values = np.random.default_rng(0).uniform(-20, 280, (48, 64, 3))
    values[0, 0] = (0.5, 1.5, 2.5)
    ok, written = cv2.imencode(".jpg", values[..., ::-1].copy())  # OpenCV's defaults
    rounded = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    assert ok and encode_image(rounded, "jpeg_opencv", 95) == written.tobytes()
    check_opencv_q95_420(written.tobytes())


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``robust-mllm generate --severity 3`` and nothing else, on the sample suite (offline)."""
    folder = tmp_path_factory.mktemp("cli")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("OPENAI_API_KEY", "")
        result = CliRunner().invoke(app, ["generate", "--severity", "3"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "protocol vittle v1; images JPEG q95 4:2:0" in result.output
    return folder / "generated" / "sample"


def test_default_generate_writes_the_vittle_protocol(default_run: Path) -> None:
    manifest = read_json(default_run / "manifest.json")
    assert manifest["parameters"]["protocol"] == "vittle"
    protocol = manifest["protocol"]
    assert (protocol["name"], protocol["version"], protocol["image_storage"]) == ("vittle", "1", "jpeg_opencv_q95")
    assert protocol["storage"]["format"] == "jpeg" and protocol["storage"]["chroma"] == "4:2:0"
    frost = protocol["assets"]["frost"]
    assert frost["source"] == "derived" and [t["shape"][:2] for t in frost["textures"]] == [
        [1200, 1800], [1012, 1800], [1012, 1800], [1195, 1800], [1350, 1800]]
    for variant in ("clean", "frost_s3", "gaussian_noise_s3"):
        items = load_items(default_run, "sample_pope", variant)
        check_opencv_q95_420(items[0].image)
        assert all(item.image[:2] == b"\xff\xd8" for item in items)


def test_vittle_rows_carry_the_jpeg_of_the_rounded_corruption(default_run: Path, tmp_path: Path) -> None:
    """The stored image of a deterministic corruption is exactly the OpenCV JPEG of the
    corrupted clean pixels (the clean images are themselves stored as that JPEG of the source)."""
    from robustbench_mllm.perturbations.base import perturbation_for
    from robustbench_mllm.registry import load_registry
    from robustbench_mllm.seeding import make_rng
    from robustbench_mllm.sources.catalog import suite_sources

    load_registry("perturbations")
    source = next(s for s in suite_sources("sample", None, None, False) if s.info().dataset == "sample_pope")
    item = next(iter(source.load()))
    from robustbench_mllm.imaging import load_rgb

    pixels = load_rgb(item.image)
    corrupted = perturbation_for("contrast", "vittle").apply(pixels, 3, make_rng(0, "contrast", 3, item.image_id))
    stored = next(i for i in load_items(default_run, "sample_pope", "contrast_s3") if i.id == item.id).image
    assert stored == encode_image(corrupted, "jpeg_opencv", 95)
    assert np.asarray(Image.open(io.BytesIO(stored))).shape == pixels.shape


def test_vittle_refuses_another_image_format_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "--image-format", "png", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "protocol vittle stores images as MM_Robustness did" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(ConfigError, match="`assets`"):
        with_storage(GenerateConfig(protocol="canonical", assets="somewhere"))
    assert with_storage(GenerateConfig(protocol="canonical")).storage == ("png", 95)
    assert with_storage(GenerateConfig(protocol="canonical", image_format="jpeg", quality=80)).storage == ("jpeg", 80)


def test_canonical_stores_png_and_its_own_storage_record(tmp_path: Path) -> None:
    params = GenerateConfig(protocol="canonical", perturbations="frost", limit=2)
    summary = run_generate(params, tmp_path / "out")
    manifest = read_json(tmp_path / "out" / "manifest.json")
    assert manifest["protocol"]["name"] == "canonical" and manifest["protocol"]["storage"] == {
        "format": "png", "lossless": True}
    assert manifest["protocol"]["assets"] == {}  # imagecorruptions' packaged textures, no assets
    assert manifest["parameters"]["image_format"] == "png" and summary.protocol["name"] == "canonical"
    assert load_items(tmp_path / "out", "sample_pope", "frost_s3")[0].image[:8] == b"\x89PNG\r\n\x1a\n"

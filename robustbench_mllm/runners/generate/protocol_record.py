"""The manifest's ``protocol`` section: the protocol's record plus what this run used under it.

``generate`` writes it next to ``parameters``: the protocol's name, version and every field
(``Protocol.record``), how images were stored (``storage``), and the third-party files the
perturbations read, with their sha256 (``assets``; e.g. which frost textures, derived or the
user's MM_Robustness files). It holds no timestamps, so the manifest stays byte-identical for the
same command.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from robustbench_mllm.protocols import get_protocol
from robustbench_mllm.runners.generate.plan import GenerateConfig


def storage_record(params: GenerateConfig) -> dict[str, Any]:
    """How the variant files hold their images (``params`` after ``with_storage``)."""
    image_format, quality = params.storage
    if image_format == "png":
        return {"format": "png", "lossless": True}
    if image_format == "jpeg":
        from PIL import __version__ as pillow_version

        return {"format": "jpeg", "writer": f"Pillow {pillow_version}", "quality": quality, "chroma": "4:4:4"}
    import cv2

    return {"format": "jpeg", "writer": f"OpenCV {cv2.__version__} imencode", "quality": quality,
            "chroma": "4:2:0", "to_8_bit": "round half to even, saturate"}


def assets_record(params: GenerateConfig, visual: Iterable[str]) -> dict[str, Any]:
    """``{perturbation: its assets record}`` for each of ``visual`` that reads third-party files."""
    from robustbench_mllm.perturbations.base import perturbation_for
    from robustbench_mllm.registry import load_registry

    load_registry("perturbations")
    records: dict[str, Any] = {}
    for name in sorted(visual):
        perturbation = perturbation_for(name, params.protocol)
        perturbation.use_assets(Path(params.assets) if params.assets else None)
        record = perturbation.assets_record()  # checks the files now, before any work starts
        if record is not None:
            records[name] = record
    return records


def protocol_section(params: GenerateConfig, visual: Iterable[str]) -> dict[str, Any]:
    """The manifest's ``protocol`` entry for a run of ``params`` making the ``visual`` corruptions."""
    section: dict[str, Any] = {
        **get_protocol(params.protocol).record(),
        "storage": storage_record(params),
        "assets": assets_record(params, visual),
        "similarity_filter": {"on": params.similarity_model is not None, "model": params.similarity_model},
        "translation_prompt_sha256": params.translation_prompt_sha256,
    }
    return section


def protocol_line(section: dict[str, Any]) -> str:
    """One line for generate's summary: protocol, storage and asset sources."""
    storage = section.get("storage") or {}
    stored = storage.get("format", "?")
    if stored == "jpeg":
        stored = f"JPEG q{storage.get('quality')} {storage.get('chroma')} ({storage.get('writer')})"
    assets = ", ".join(f"{name} textures {record.get('source')}" for name, record in (section.get("assets") or {}).items())
    return f"protocol {section.get('name')} v{section.get('version')}; images {stored}" + (f"; {assets}" if assets else "")

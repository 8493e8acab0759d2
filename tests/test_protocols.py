"""The protocol registry and the per-protocol perturbation lookup."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from robustbench_mllm.errors import UnknownNameError
from robustbench_mllm.perturbations.base import (
    Perturbation,
    perturbation_for,
    perturbation_registry,
    protocol_overrides,
    register_perturbation,
)
from robustbench_mllm.protocols import DEFAULT_PROTOCOL, get_protocol, protocol_registry
from robustbench_mllm.registry import load_registry
from robustbench_mllm.store.manifest import recorded_protocol


def test_both_protocols_are_registered_and_vittle_is_the_default() -> None:
    assert protocol_registry.names() == ["canonical", "vittle"]
    assert DEFAULT_PROTOCOL == "vittle" and get_protocol(None).name == "vittle"
    vittle, canonical = get_protocol("vittle"), get_protocol("canonical")
    assert vittle.pope_suffix == "\nAnswer the question using a single word or phrase."
    assert canonical.pope_suffix == "" and canonical.image_storage == "png"
    assert set(vittle.record()) == set(canonical.record())


def test_unknown_protocol_gets_a_did_you_mean() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'vittle'"):
        get_protocol("vitle")


def test_a_protocol_override_replaces_only_its_own_name() -> None:
    load_registry("perturbations")

    @register_perturbation("contrast", protocol="test-protocol")
    class Inverted(Perturbation):
        modality = "visual"
        category = "digital"

        def apply(self, value: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
            return 255 - value

    try:
        assert perturbation_for("contrast", "test-protocol").__class__ is Inverted
        assert perturbation_for("fog", "test-protocol") is perturbation_registry.get("fog")
        assert perturbation_for("contrast", "canonical") is perturbation_registry.get("contrast")
        with pytest.raises(UnknownNameError):
            perturbation_for("contrastt", "test-protocol")
    finally:
        protocol_overrides.pop("test-protocol")


def test_recorded_protocol_reads_the_manifest(tmp_path) -> None:
    assert recorded_protocol(tmp_path) is None
    (tmp_path / "manifest.json").write_text(json.dumps({"parameters": {"seed": 0}}))
    assert recorded_protocol(tmp_path) == "canonical"  # written before protocols existed
    (tmp_path / "manifest.json").write_text(json.dumps({"parameters": {"protocol": "vittle"}}))
    assert recorded_protocol(tmp_path) == "vittle"


def test_list_protocols_shows_every_setting_of_both() -> None:
    out = subprocess.run([sys.executable, "-m", "robustbench_mllm.cli.app", "list", "protocols"],
                         capture_output=True, text=True, env={"COLUMNS": "120", "PATH": ""}, check=True).stdout
    for field in get_protocol("vittle").record():
        if field != "name":
            assert field in out
    assert "jpeg_opencv_q95" in out and "imagecorruptions" in out

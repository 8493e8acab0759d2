"""The perturbation protocol and its registry.

A perturbation is pure: ``apply(value, severity, rng)`` takes an RGB uint8 array (visual) or a str
(text) and returns the same kind; all randomness comes from ``rng``, which the caller derives with
``seeding.make_rng(seed, name, severity, image_or_item_id)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.registry import Registry

PerturbationModality = Literal["visual", "text"]
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)


class Perturbation:
    """Base class; subclasses set the class attributes and implement ``apply`` and ``params``."""

    name: ClassVar[str] = ""
    modality: ClassVar[PerturbationModality]
    category: ClassVar[str]

    def params(self, severity: int) -> str:
        """Human-readable parameters at ``severity`` (shown by ``robust-mllm list perturbations``)."""
        raise NotImplementedError

    def apply(self, value: Any, severity: int, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def prepare(self, values: Sequence[Any], severity: int) -> None:
        """Optional batch hook called once with every value before ``apply`` (translation uses it
        to fetch all translations concurrently). Default: nothing to do."""

    def use_assets(self, folder: Path | None) -> None:
        """Read the third-party files this perturbation needs (e.g. frost textures) from
        ``folder`` instead of its default source. Default: needs none."""

    def assets_record(self) -> dict[str, Any] | None:
        """Which third-party files ``apply`` uses, with their sha256 (for the manifest)."""
        return None


perturbation_registry: Registry[Perturbation] = Registry("perturbation")
# protocol name -> its own implementations of some perturbations (the others are shared)
protocol_overrides: dict[str, Registry[Perturbation]] = {}


def register_perturbation(
    name: str, protocol: str | None = None
) -> Callable[[type[Perturbation]], type[Perturbation]]:
    """Class decorator: instantiates the class once and registers the instance under ``name``.

    With ``protocol``, the class is that protocol's implementation of ``name`` (``name`` must
    also have a shared implementation, which every other protocol uses)."""

    def decorator(cls: type[Perturbation]) -> type[Perturbation]:
        cls.name = name
        if protocol is None:
            perturbation_registry.register(name)(cls())
        else:
            registry = protocol_overrides.setdefault(protocol, Registry(f"{protocol} perturbation"))
            registry.register(name)(cls())
        return cls

    return decorator


def perturbation_for(name: str, protocol: str) -> Perturbation:
    """The implementation of ``name`` that ``protocol`` runs (call after ``load_registry``)."""
    shared = perturbation_registry.get(name)  # unknown names fail here, with a did-you-mean
    overrides = protocol_overrides.get(protocol)
    return overrides.get(name) if overrides is not None and name in overrides else shared


def check_severity(severity: int) -> int:
    if severity not in SEVERITIES:
        raise ConfigError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    return severity

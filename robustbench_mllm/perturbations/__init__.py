"""Visual and textual perturbations, registered by name."""

from robustbench_mllm.perturbations.base import (
    SEVERITIES,
    Perturbation,
    check_severity,
    perturbation_registry,
    register_perturbation,
)

__all__ = [
    "SEVERITIES",
    "Perturbation",
    "check_severity",
    "perturbation_registry",
    "register_perturbation",
]

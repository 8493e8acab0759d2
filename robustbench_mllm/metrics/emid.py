"""Effective mutual information (EMI) and its difference (EMID) under a shift (Oh et al., ICML 2025).

    EMI(P)     = I(X; Y_model) - I(X; Y_ref),       X = (z_image + z_question) / 2
    EMID(P, Q) = EMI(P) - EMI(Q),                   P = clean, Q = a shifted variant

with both mutual informations estimated by one CLUB estimator (metrics/club.py).

Upper bound. With D_v, D_t the JSDs of the image and question embeddings (P vs Q) and D_yP, D_yQ the
JSDs of model answers vs reference answers on P and on Q, the theorem's form as the authors'
released code evaluates it is

    EMID <= H * (D_v^1/2 + D_t^1/2) + 4 * (D_yP^1/4 + D_yQ^1/4)

where H bounds the output entropies (unknown in practice). Without H the authors report the
"scale-adjusted" bound D_v^1/2 + D_t^1/2 + D_yP^1/4 + D_yQ^1/4; we report that by default, the
H-scaled form when an entropy scale is given, and always the four terms themselves. All JSDs are
our per-set-normalised representation JSD (metrics/jsd.py), each beside its permutation baseline;
``bound_baseline`` is the same bound evaluated on the baselines (what a no-shift pair would give).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from robustbench_mllm.metrics.club import ClubEstimator
from robustbench_mllm.metrics.jsd import JSDKind, JSDResult, jsd_with_baseline


@dataclass(frozen=True)
class VariantEmbeddings:
    """L2-normalised embeddings of one variant's items, row i of each array = item ids[i]."""

    ids: tuple[str, ...]
    image: np.ndarray
    question: np.ndarray
    answer: np.ndarray  # the model's answers
    reference: np.ndarray  # the reference answers

    def __post_init__(self) -> None:
        for name in ("image", "question", "answer", "reference"):
            if len(getattr(self, name)) != len(self.ids):
                raise ValueError(f"{name}: {len(getattr(self, name))} rows for {len(self.ids)} ids")

    @property
    def joint(self) -> np.ndarray:
        return (self.image.astype(np.float64) + self.question.astype(np.float64)) / 2.0


def training_pairs(variants: Iterable[VariantEmbeddings]) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y) rows for fitting q(y | x): every item with its model answer and its reference."""
    xs, ys = [], []
    for emb in variants:
        xs += [emb.joint, emb.joint]
        ys += [emb.answer, emb.reference]
    if not xs:
        raise ValueError("no embeddings to train the CLUB estimator on")
    return np.vstack(xs), np.vstack(ys)


@dataclass(frozen=True)
class EMIEstimate:
    model_mi: float
    reference_mi: float

    @property
    def emi(self) -> float:
        return self.model_mi - self.reference_mi


def estimate_emi(estimator: ClubEstimator, emb: VariantEmbeddings) -> EMIEstimate:
    x = emb.joint
    return EMIEstimate(estimator.value(x, emb.answer), estimator.value(x, emb.reference))


@dataclass(frozen=True)
class BoundTerms:
    image: JSDResult  # image embeddings, P vs Q
    question: JSDResult  # question embeddings, P vs Q
    answers_clean: JSDResult  # model answers vs references on P
    answers_variant: JSDResult  # model answers vs references on Q

    @staticmethod
    def combine(d_v: float, d_t: float, d_yp: float, d_yq: float, entropy_scale: float | None) -> float:
        if entropy_scale is None:
            return d_v**0.5 + d_t**0.5 + d_yp**0.25 + d_yq**0.25
        return entropy_scale * (d_v**0.5 + d_t**0.5) + 4.0 * (d_yp**0.25 + d_yq**0.25)

    def _all(self) -> tuple[JSDResult, ...]:
        return (self.image, self.question, self.answers_clean, self.answers_variant)

    def bound(self, entropy_scale: float | None = None) -> float:
        return self.combine(*(r.value for r in self._all()), entropy_scale)

    def bound_baseline(self, entropy_scale: float | None = None) -> float:
        return self.combine(*(r.baseline for r in self._all()), entropy_scale)


def bound_terms(
    clean: VariantEmbeddings, variant: VariantEmbeddings, *, kind: JSDKind = "linear",
    permutations: int = 20, seed: int = 0, answers_clean: JSDResult | None = None,
) -> BoundTerms:
    """The four JSD terms; ``answers_clean`` may be passed in, as it is the same for every Q."""

    def jsd(a: np.ndarray, b: np.ndarray) -> JSDResult:
        return jsd_with_baseline(a, b, kind, permutations=permutations, seed=seed)

    return BoundTerms(
        image=jsd(clean.image, variant.image),
        question=jsd(clean.question, variant.question),
        answers_clean=answers_clean or jsd(clean.answer, clean.reference),
        answers_variant=jsd(variant.answer, variant.reference),
    )


def emid_report(
    estimator: ClubEstimator,
    variants: Mapping[str, VariantEmbeddings],
    *,
    clean: str = "clean",
    kind: JSDKind = "linear",
    permutations: int = 20,
    seed: int = 0,
    entropy_scale: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Per variant: MI terms, EMI, EMID against ``clean``, the four JSD terms and the bound."""
    if clean not in variants:
        raise ValueError(f"EMID needs the {clean!r} variant; have {', '.join(variants) or 'none'}")
    emis = {name: estimate_emi(estimator, emb) for name, emb in variants.items()}
    base = variants[clean]
    answers_clean = jsd_with_baseline(base.answer, base.reference, kind, permutations=permutations, seed=seed)
    report: dict[str, dict[str, Any]] = {}
    for name, emb in variants.items():
        row: dict[str, Any] = {"n": len(emb.ids), "model_mi": emis[name].model_mi,
                               "reference_mi": emis[name].reference_mi, "emi": emis[name].emi,
                               "emid": emis[clean].emi - emis[name].emi}
        if name != clean:
            terms = bound_terms(base, emb, kind=kind, permutations=permutations, seed=seed,
                                answers_clean=answers_clean)
            row.update({
                "jsd_image": terms.image.to_dict(), "jsd_question": terms.question.to_dict(),
                "jsd_answers_clean": terms.answers_clean.to_dict(),
                "jsd_answers_variant": terms.answers_variant.to_dict(),
                "bound": terms.bound(entropy_scale), "bound_baseline": terms.bound_baseline(entropy_scale),
                "bound_form": "scale_adjusted" if entropy_scale is None else f"entropy_scale={entropy_scale}",
            })
        report[name] = row
    return report

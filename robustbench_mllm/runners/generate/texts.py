"""The perturbed questions of every textual variant, computed once in the main process.

A textual variant and each joint variant with the same text part share one list, so the joint
text is identical to the textual one by construction. Each question's generator comes from
(seed, text perturbation, severity, item id). In yes/no (POPE-style) data sets the object of
"Is there a X in the image?" is protected from character and word edits so the label stays true;
translations translate the whole question. The protocol picks each perturbation's implementation;
the vittle protocol's word edits run EDA's similarity filter when `similarity_model` names one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from robustbench_mllm.records import Item, VariantSpec
from robustbench_mllm.seeding import make_rng

if TYPE_CHECKING:
    from robustbench_mllm.perturbations.base import Perturbation
    from robustbench_mllm.perturbations.text.similarity import SimilarityFilter
    from robustbench_mllm.runners.generate.plan import GenerateConfig

TextKey = tuple[str, int]  # (text perturbation, severity)


def perturb_questions(
    items: Sequence[Item], pert: Perturbation, severity: int, seed: int, protect_objects: bool,
    similarity: SimilarityFilter | None = None,
) -> list[str]:
    from robustbench_mllm.perturbations.text.eda import EdaWordEdit
    from robustbench_mllm.perturbations.text.protect import TextEdit, pope_object

    questions = [item.question for item in items]
    pert.prepare(questions, severity)
    out = []
    for item in items:
        rng = make_rng(seed, pert.name, severity, item.id)
        if not isinstance(pert, TextEdit):
            out.append(pert.apply(item.question, severity, rng))
            continue
        obj = pope_object(item.question) if protect_objects else None
        protected = (obj,) if obj else ()
        if isinstance(pert, EdaWordEdit):
            out.append(pert.apply(item.question, severity, rng, protected=protected, similarity=similarity))
        else:
            out.append(pert.apply(item.question, severity, rng, protected=protected))
    return out


def texts_for_variants(
    items: Sequence[Item], specs: Sequence[VariantSpec], params: GenerateConfig, protect_objects: bool
) -> dict[TextKey, list[str]]:
    """``{(text perturbation, severity): questions}`` for the text parts of ``specs``."""
    from robustbench_mllm.perturbations.base import perturbation_for
    from robustbench_mllm.perturbations.text.eda import EdaWordEdit
    from robustbench_mllm.perturbations.text.similarity import load_similarity_filter
    from robustbench_mllm.registry import load_registry

    load_registry("perturbations")
    keys = sorted({(s.text, s.severity) for s in specs if s.text})
    perts = {key: perturbation_for(key[0], params.protocol) for key in keys}
    model = params.similarity_model
    similarity = (load_similarity_filter(model)
                  if model and any(isinstance(p, EdaWordEdit) for p in perts.values()) else None)
    return {key: perturb_questions(items, perts[key], key[1], params.seed, protect_objects, similarity)
            for key in keys}

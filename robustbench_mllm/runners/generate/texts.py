"""The perturbed questions of every textual variant, computed once in the main process.

A textual variant and each joint variant with the same text part share one list, so the joint
text is identical to the textual one by construction. Each question's generator comes from
(seed, text perturbation, severity, item id). In yes/no (POPE-style) data sets the object of
"Is there a X in the image?" is protected from character and word edits so the label stays true;
translations translate the whole question.
"""

from __future__ import annotations

from collections.abc import Sequence

from robustbench_mllm.records import Item, VariantSpec
from robustbench_mllm.seeding import make_rng

TextKey = tuple[str, int]  # (text perturbation, severity)


def perturb_questions(
    items: Sequence[Item], name: str, severity: int, seed: int, protect_objects: bool, protocol: str
) -> list[str]:
    from robustbench_mllm.perturbations.base import perturbation_for
    from robustbench_mllm.perturbations.text.protect import TextEditPerturbation, pope_object
    from robustbench_mllm.registry import load_registry

    load_registry("perturbations")
    pert = perturbation_for(name, protocol)
    questions = [item.question for item in items]
    pert.prepare(questions, severity)
    out = []
    for item in items:
        rng = make_rng(seed, name, severity, item.id)
        if protect_objects and isinstance(pert, TextEditPerturbation):
            obj = pope_object(item.question)
            out.append(pert.apply(item.question, severity, rng, protected=(obj,) if obj else ()))
        else:
            out.append(pert.apply(item.question, severity, rng))
    return out


def texts_for_variants(
    items: Sequence[Item], specs: Sequence[VariantSpec], seed: int, protect_objects: bool, protocol: str
) -> dict[TextKey, list[str]]:
    """``{(text perturbation, severity): questions}`` for the text parts of ``specs``."""
    keys = sorted({(s.text, s.severity) for s in specs if s.text})
    return {key: perturb_questions(items, key[0], key[1], seed, protect_objects, protocol) for key in keys}


"""Protocols: named, versioned recipes for a benchmark, from the perturbed bytes to the scores.

A protocol fixes every choice that changes a number a user would compare: which implementation
of each perturbation runs and with what parameters, how images are stored, how questions are
edited and translated, the prompt and template a model sees, how answers are parsed, how POPE
splits are averaged, which judge prompt and which EMID estimator are used. ``generate`` records
the protocol in the manifest; every later stage reads it from there unless told otherwise, and
records it in its own outputs.

- ``vittle`` (the default): the paper's benchmark as its reference code produced and scored it
  (MM_Robustness perturbations and JPEG storage, LLaVA's released evaluation and judge rules, the
  official EMID estimator).
- ``canonical``: the same benchmark without the reference code's accidents (imagecorruptions'
  parameters, lossless storage, edits that keep case and punctuation, our own judge prompt, one
  estimator trained per suite).

``docs/protocols.md`` has the side-by-side table and why each difference exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from robustbench_mllm.registry import Registry

VisualFamily = Literal["mm_robustness", "imagecorruptions"]
ImageStorage = Literal["jpeg_opencv_q95", "png"]
TextEdits = Literal["mm_robustness", "robust_mllm"]
ChatTemplate = Literal["llava_v1", "checkpoint"]
ChoiceParser = Literal["scienceqa", "lenient"]
PopeAverage = Literal["pooled", "per_split"]
JudgePrompt = Literal["llava_rules", "robust-mllm"]
JudgeQuestion = Literal["perturbed", "clean"]
EmidEstimator = Literal["official", "per_suite"]

DEFAULT_PROTOCOL = "vittle"
# what files written before protocols were recorded were made with (robust-mllm 0.1's behaviour)
UNRECORDED_PROTOCOL = "canonical"
POPE_SUFFIX = "\nAnswer the question using a single word or phrase."
LLAVA_CHOICE_SUFFIX = "Answer with the option's letter from the given choices directly."
PAPER_CHOICE_SUFFIX = "Answer in a character from the given choices directly."


@dataclass(frozen=True)
class Protocol:
    """One benchmark recipe. ``version`` changes whenever any field or any behaviour behind a
    field changes, so two results files with the same name and version are comparable."""

    name: str
    version: str
    summary: str
    # generate
    visual_family: VisualFamily
    image_storage: ImageStorage
    text_edits: TextEdits
    # evaluate
    pope_suffix: str
    choice_suffix: str
    chat_template: ChatTemplate
    pad_to_square: bool  # True: pad every image (the released eval); False: as the adapter does
    choice_parser: ChoiceParser
    # scoring
    pope_average: PopeAverage
    judge_prompt: JudgePrompt
    judge_question: JudgeQuestion
    emid_estimator: EmidEstimator

    def record(self) -> dict[str, Any]:
        """What results files, manifests and dataset cards store about the protocol."""
        return asdict(self)


protocol_registry: Registry[Protocol] = Registry("protocol")


def register_protocol(protocol: Protocol) -> Protocol:
    register: Callable[[Protocol], Protocol] = protocol_registry.register(protocol.name)
    return register(protocol)


VITTLE = register_protocol(Protocol(
    name="vittle", version="1",
    summary="the paper's benchmark as its reference code made and scored it",
    visual_family="mm_robustness", image_storage="jpeg_opencv_q95", text_edits="mm_robustness",
    pope_suffix=POPE_SUFFIX, choice_suffix=PAPER_CHOICE_SUFFIX, chat_template="llava_v1",
    pad_to_square=True, choice_parser="scienceqa",
    pope_average="pooled", judge_prompt="llava_rules", judge_question="perturbed",
    emid_estimator="official",
))

CANONICAL = register_protocol(Protocol(
    name="canonical", version="1",
    summary="the same benchmark without the reference code's defects (robust-mllm 0.1 behaviour)",
    visual_family="imagecorruptions", image_storage="png", text_edits="robust_mllm",
    pope_suffix="", choice_suffix=LLAVA_CHOICE_SUFFIX, chat_template="checkpoint",
    pad_to_square=False, choice_parser="lenient",
    pope_average="per_split", judge_prompt="robust-mllm", judge_question="perturbed",
    emid_estimator="per_suite",
))


def get_protocol(name: str | None) -> Protocol:
    """The protocol called ``name`` (the default when None); unknown names get a did-you-mean."""
    return protocol_registry.get(name or DEFAULT_PROTOCOL)

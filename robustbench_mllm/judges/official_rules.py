"""The paper's judge prompts: LLaVA's ``rule.json`` (LB-COCO, LB-Wild) and Vittle's (which adds the
no-context keys ``llava_bench_wilder`` and ``wildvision_bench`` for LB-Wilder and WV-Bench), each
fetched at run time from a pinned commit and checked against its sha256 (``downloads.py``); we
never ship them. ``judge_prompt`` picks the prompt a judge run uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from robustbench_mllm.downloads import PinnedFile, fetch_pinned
from robustbench_mllm.judges.prompts import (
    NO_CONTEXT_RULES,
    JudgePrompt,
    load_rules,
    own_prompt,
    read_rules,
    rules_prompt,
)
from robustbench_mllm.protocols import JudgePrompt as JudgePromptName

LLAVA_RULES = PinnedFile(
    name="rule.json",
    url="https://raw.githubusercontent.com/haotian-liu/LLaVA/c121f0432da27facab705978f83c4ada465e46fd/"
        "llava/eval/table/rule.json",
    sha256="dd7345a44ce9f7a24e51a30ee030cdab32346f9d08e3359c80545ff1312b1e07",
    size=9098,
    description="LLaVA's judge rules (rule.json)",
)
VITTLE_RULES = PinnedFile(
    name="rule.json",
    url="https://raw.githubusercontent.com/deeplearning-wisc/vittle/1ea2e0936e24007b7f9f3101ba12c6f2375dd890/"
        "vittle/eval/table/rule.json",
    sha256="9fcd01ea27e85b19a3317f17731936a00253ceb39a0cfbb5a2a370d9e1c9ab92",
    size=10754,
    description="Vittle's judge rules (rule.json)",
)
OFFLINE_HINT = "give a local copy as `rules` FILE, or judge with our own prompt: `prompt` robust-mllm"


@dataclass(frozen=True)
class RuleFiles:
    """Where the paper's rules come from (tests point these at a local server)."""

    llava: PinnedFile = LLAVA_RULES
    vittle: PinnedFile = VITTLE_RULES
    cache_dir: Path | None = None  # None: the user's cache folder


def paper_prompt(no_context: bool, files: RuleFiles = RuleFiles()) -> JudgePrompt:
    """LLaVA's rules; with ``no_context`` (LB-Wilder or WV-Bench in the run) also Vittle's two
    no-context rules (the rest of Vittle's file repeats LLaVA's texts)."""
    rules = dict(read_rules(fetch_pinned(files.llava, files.cache_dir, OFFLINE_HINT)))
    sources = [files.llava.url]
    if no_context:
        vittle = read_rules(fetch_pinned(files.vittle, files.cache_dir, OFFLINE_HINT))
        rules.update({key: vittle[key] for key in NO_CONTEXT_RULES.values() if key in vittle})
        sources.append(files.vittle.url)
    return rules_prompt(rules, tuple(sources))


def judge_prompt(
    name: JudgePromptName, rules: Path | None = None, no_context: bool = False, files: RuleFiles = RuleFiles()
) -> JudgePrompt:
    """The user's ``rules`` file when given, else the protocol's prompt: the paper's rules
    (``llava_rules``) or our own wording (``robust-mllm``)."""
    if rules is not None:
        return load_rules(rules)
    if name == "robust-mllm":
        return own_prompt()
    return paper_prompt(no_context, files)

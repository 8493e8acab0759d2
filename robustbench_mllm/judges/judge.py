"""The relative-preference judge: one chat request per (item, answer, run), parsed into Judgments."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from robustbench_mllm.judges.parse import is_parseable, parse_scores
from robustbench_mllm.judges.prompts import JudgePrompt
from robustbench_mllm.llm.cache import ResponseCache
from robustbench_mllm.llm.client import ChatRequest, ChatResult, run_chat_many
from robustbench_mllm.llm.settings import ChatEndpoint
from robustbench_mllm.llm.usage import UsageMeter
from robustbench_mllm.records import Item, Judgment

MAX_TOKENS = 1024  # LLaVA's review scripts use the same bound


@dataclass(frozen=True)
class JudgeTask:
    """Judge ``answer`` (the model's, for ``variant``) against ``item``'s reference, run ``run``.
    ``question`` / ``reference`` replace the item's own (the clean question, a generated reference)."""

    item: Item
    answer: str
    variant: str
    run: int
    question: str | None = None
    reference: str | None = None


class RelativePreferenceJudge:
    """GPT-judged relative preference (LLaVA-Bench protocol, robust parsing, failures counted)."""

    def __init__(
        self, endpoint: ChatEndpoint, prompt: JudgePrompt, *, cache: ResponseCache | None = None,
        usage: UsageMeter | None = None, temperature: float = 0.0, max_retries: int = 3,
        refresh: bool = False, judge_question: str = "perturbed",
    ) -> None:
        self.endpoint = endpoint
        self.prompt = prompt
        self.cache = cache
        self.usage = usage if usage is not None else UsageMeter()
        self.temperature = temperature
        self.max_retries = max_retries
        self.refresh = refresh
        self.judge_question = judge_question  # recorded in every Judgment

    def request(self, task: JudgeTask) -> ChatRequest:
        # the run index keys the cache, so temperature-0 runs are still distinct requests
        return ChatRequest(
            messages=self.prompt.messages(task.item, task.answer, question=task.question,
                                          reference=task.reference),
            temperature=self.temperature,
            max_tokens=MAX_TOKENS,
            key_parts={"run": task.run, "prompt_sha256": self.prompt.sha256},
        )

    def judgment(self, task: JudgeTask, result: ChatResult) -> Judgment:
        scores = parse_scores(result.text) if result.ok and result.text is not None else None
        failure = None
        if scores is None:  # no reply at all, or one the parser cannot read even after retries
            failure = result.error or "no response"
            if result.text is not None:
                failure = f"unparseable judge response: {result.text[:200]!r}"
        return Judgment(
            id=task.item.id, dataset=task.item.dataset, variant=task.variant, run=task.run,
            judge_model=self.endpoint.model, prompt_id=self.prompt.prompt_id,
            reference_score=scores[0] if scores else None,
            model_score=scores[1] if scores else None,
            failure=failure, category=task.item.category, judge_question=self.judge_question,
        )

    def score(
        self, tasks: Sequence[JudgeTask], on_judgment: Callable[[Judgment], None] | None = None
    ) -> list[Judgment]:
        """One Judgment per task, in order; unparseable replies are retried ``max_retries`` times."""
        requests = [self.request(task) for task in tasks]

        def done(index: int, result: ChatResult) -> None:
            if on_judgment is not None:
                on_judgment(self.judgment(tasks[index], result))

        results = run_chat_many(
            self.endpoint, requests, cache=self.cache, usage=self.usage, validator=is_parseable,
            validation_retries=self.max_retries, refresh=self.refresh, on_result=done,
        )
        return [self.judgment(task, result) for task, result in zip(tasks, results)]

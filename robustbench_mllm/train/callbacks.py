"""The trainer's callbacks: the alpha schedule, the step log with its progress bar, resume trimming."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback, TrainingArguments

from robustbench_mllm.io_utils import append_jsonl, atomic_write_jsonl, read_jsonl
from robustbench_mllm.train.objective import ObjectiveConfig, alpha_at

if TYPE_CHECKING:
    from rich.progress import Progress

    from robustbench_mllm.models.bottleneck_hooks import BottleneckHandle


class AlphaScheduleCallback(TrainerCallback):
    """Sets the mixing weight for each optimiser step, and the noise index (resume-stable)."""

    def __init__(self, handle: BottleneckHandle, objective: ObjectiveConfig) -> None:
        self.handle, self.objective = handle, objective

    def on_step_begin(self, args: TrainingArguments, state: Any, control: Any, **kwargs: Any) -> None:
        self.handle.training_alpha = alpha_at(
            state.global_step, state.max_steps, self.objective.alpha_schedule, self.objective.alpha_end
        )
        self.handle.forward_index = state.global_step * args.gradient_accumulation_steps


class StepLogCallback(TrainerCallback):
    """Appends every log to ``train_log.jsonl`` and shows a rich progress bar (main process)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.progress: Progress | None = None
        self.task: Any = None

    def on_train_begin(self, args: TrainingArguments, state: Any, control: Any, **kwargs: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        if state.is_world_process_zero:
            self.progress = Progress(
                TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, info="")

    def on_log(self, args: TrainingArguments, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        append_jsonl(self.path, [{"step": state.global_step, **logs}])
        if self.progress is not None and "loss" in logs:
            shown = " ".join(f"{k}={logs[k]:.4g}" for k in ("loss", "ce", "kl_v", "kl_t", "alpha") if k in logs)
            self.progress.update(self.task, completed=state.global_step, info=shown)

    def on_train_end(self, args: TrainingArguments, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)
            self.progress.stop()


def keep_log_until(path: Path, step: int) -> None:
    """On resume, drop log lines of steps after the checkpoint (they will be redone)."""
    if not path.exists():
        return
    kept = [r for r in read_jsonl(path, tolerate_torn_tail=True) if int(r.get("step", 0)) <= step]
    atomic_write_jsonl(path, kept, ensure_ascii=True)

"""The training loop: a HF ``Trainer`` subclass computing the Vittle objective, per-step logs,
resume from the last checkpoint, and the final checkpoint the ``vittle`` adapter loads.

Launch on one machine with ``robust-mllm train ...``; on several GPUs with
``accelerate launch -m robustbench_mllm.train ...`` or
``deepspeed --module robustbench_mllm.train ... --deepspeed zero3`` (configs shipped in
``robustbench_mllm/train/deepspeed/``). docs/training.md has the recipes.

Output folder ``OUT``: ``config.json`` + ``model.safetensors`` (a HF LLaVA whose state dict also
holds the bottleneck keys, as in the released checkpoints), processor files,
``vittle_config.json`` (bottleneck objectives), ``robust_mllm.json`` (image preprocessing: pad to
square or not, which the adapters then default to), ``train_log.jsonl`` (one line per step: loss, ce,
kl_v, kl_t, alpha, learning_rate), ``train_summary.json``, ``checkpoints/checkpoint-N/``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import PrinterCallback

from robustbench_mllm.io_utils import append_jsonl, atomic_write_json, atomic_write_jsonl, read_jsonl
from robustbench_mllm.models.options import without_loading_bars
from robustbench_mllm.models.preprocessing import save_image_preprocessing
from robustbench_mllm.train.data import InstructionDataset, collate
from robustbench_mllm.train.model_setup import TrainableModel, build_trainable_model, exportable_model
from robustbench_mllm.train.objective import ObjectiveConfig, alpha_at, objective_loss
from robustbench_mllm.train.options import TrainConfig

if TYPE_CHECKING:
    import torch
    from rich.progress import Progress

    from robustbench_mllm.models.bottleneck_hooks import BottleneckHandle

class VittleTrainer(Trainer):
    """``Trainer`` whose loss is CE on response tokens plus the bottleneck's KL terms."""

    def __init__(self, *args: Any, objective: ObjectiveConfig, handle: BottleneckHandle | None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.objective = objective
        self.handle = handle
        # our loss is a per-micro-batch mean: let Trainer divide by the accumulation steps
        self.model_accepts_loss_kwargs = False
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        labels = inputs.pop("labels")
        if self.handle is not None:
            self.handle.expect_labels(labels)
        outputs = model(**inputs, use_cache=False)
        parts = objective_loss(outputs.logits, labels, self.objective, self.handle)
        for name in ("ce", "kl_v", "kl_t"):
            value = getattr(parts, name)
            if value is not None:
                self._sums[name] = self._sums.get(name, 0) + value.detach().float()
        self._count += 1
        return (parts.total, outputs) if return_outputs else parts.total

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._count:
            logs.update({name: round((total / self._count).item(), 6) for name, total in self._sums.items()})
            if self.handle is not None:
                logs["alpha"] = round(self.handle.training_alpha, 6)
            self._sums, self._count = {}, 0
        super().log(logs, start_time)


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


def _checkpointing(enabled: bool) -> dict[str, Any]:
    """Activation checkpointing under the name this transformers uses (``gradient_checkpointing``
    is a deprecated alias since 5.x and warns)."""
    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    name = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    return {name: enabled, f"{name}_kwargs": {"use_reentrant": False}}


def training_arguments(options: TrainConfig) -> TrainingArguments:
    import torch

    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return TrainingArguments(
        output_dir=str(options.checkpoints_dir()),
        num_train_epochs=options.epochs,
        max_steps=options.max_steps,
        learning_rate=options.lr,
        lr_scheduler_type="cosine",
        warmup_steps=options.warmup_ratio,  # a float below 1 is a ratio of the total steps
        weight_decay=options.wd,
        per_device_train_batch_size=options.batch_size,
        gradient_accumulation_steps=options.grad_accum,
        **_checkpointing(options.gradient_checkpointing),
        bf16=bf16,
        use_cpu=not torch.cuda.is_available(),
        logging_steps=1,
        save_strategy="steps",
        save_steps=options.save_steps,
        save_total_limit=2,
        seed=options.seed,
        deepspeed=options.deepspeed_config(),
        report_to=[],
        disable_tqdm=True,
        remove_unused_columns=False,
    )


def _keep_log_until(path: Path, step: int) -> None:
    """On resume, drop log lines of steps after the checkpoint (they will be redone)."""
    if not path.exists():
        return
    kept = [r for r in read_jsonl(path, tolerate_torn_tail=True) if int(r.get("step", 0)) <= step]
    atomic_write_jsonl(path, kept, ensure_ascii=True)


@dataclass(frozen=True)
class TrainResult:
    summary: dict[str, Any]
    trained: TrainableModel  # the in-memory model after training (bottleneck still attached)


def run_training(options: TrainConfig) -> TrainResult:
    """Train, save the final checkpoint into ``options.out``; the summary is also written there."""
    with without_loading_bars():  # transformers' own bars (weights, shards) would interleave with our progress
        return _run_training(options)


def _run_training(options: TrainConfig) -> TrainResult:
    from transformers.trainer_utils import get_last_checkpoint

    options.out.mkdir(parents=True, exist_ok=True)
    args = training_arguments(options)  # first: with ZeRO-3 it makes from_pretrained load partitioned
    built = build_trainable_model(options)
    dataset = InstructionDataset(
        options.data, options.images, built.processor, int(_llava(built).config.image_token_id),
        int(_llava(built).config.image_seq_length), options.max_length, options.pad_square,
    )
    pad_id = built.processor.tokenizer.pad_token_id
    pad_id = pad_id if pad_id is not None else built.processor.tokenizer.eos_token_id
    callbacks: list[TrainerCallback] = [StepLogCallback(options.log_path())]
    if built.handle is not None:
        callbacks.append(AlphaScheduleCallback(built.handle, options.objective))
    trainer = VittleTrainer(
        model=built.model, args=args, train_dataset=dataset, data_collator=partial(collate, pad_token_id=pad_id),
        callbacks=callbacks, objective=options.objective, handle=built.handle,
    )
    trainer.remove_callback(PrinterCallback)  # StepLogCallback shows the logs
    resumable = options.resume and options.checkpoints_dir().exists()
    checkpoint = get_last_checkpoint(str(options.checkpoints_dir())) if resumable else None
    if trainer.is_world_process_zero():
        _keep_log_until(options.log_path(), int(Path(checkpoint).name.split("-")[-1]) if checkpoint else 0)
    started = time.monotonic()
    result = trainer.train(resume_from_checkpoint=checkpoint)
    _save_final(trainer, built, options)
    summary = {
        "objective": options.objective.name, "steps": trainer.state.global_step,
        "train_loss": result.training_loss, "seconds": round(time.monotonic() - started, 3),
        "resumed_from": checkpoint, "options": options.to_dict(),
    }
    if trainer.is_world_process_zero():
        atomic_write_json(options.out / "train_summary.json", summary)
    return TrainResult(summary, built)


def _llava(built: TrainableModel) -> Any:
    get_base = getattr(built.model, "get_base_model", None)
    return get_base() if callable(get_base) else built.model


def _save_final(trainer: VittleTrainer, built: TrainableModel, options: TrainConfig) -> None:
    if options.objective.name == "lora":
        if trainer.is_world_process_zero():
            exportable_model(trainer.model).save_pretrained(options.out)
    else:
        trainer.save_model(str(options.out))  # gathers ZeRO-3 shards; keeps the bottleneck keys
    if trainer.is_world_process_zero():
        built.processor.save_pretrained(options.out)
        # the adapters evaluate the checkpoint with the padding it was trained with
        save_image_preprocessing(options.out, options.pad_square)
        if built.handle is not None:
            built.handle.config.save(options.out)

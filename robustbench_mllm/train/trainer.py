"""The training loop: a HF ``Trainer`` subclass computing the Vittle objective, modality-grouped
batches, per-step logs, resume from the last checkpoint, and the final checkpoint.

Launch on one machine with ``robust-mllm train ...``; on several GPUs with ``torchrun``,
``accelerate launch -m robustbench_mllm.train ...`` or ``deepspeed --module robustbench_mllm.train
... --deepspeed zero3`` (configs shipped in ``robustbench_mllm/train/deepspeed/``);
docs/training.md has the recipes.

Output folder ``OUT``: ``config.json`` + ``model.safetensors`` (a HF LLaVA whose state dict also
holds the bottleneck keys, as in the released checkpoints), processor files,
``vittle_config.json`` (bottleneck objectives), ``mm_projector.safetensors`` (``pretrain``: the
Stage-1 projector for ``--projector``), ``robust_mllm.json`` (image preprocessing: pad to square
or not, which the adapters then default to), ``train_log.jsonl`` (one line per step: loss, ce,
kl_v, kl_t, alpha, text_only_batches, learning_rate), ``train_summary.json``,
``checkpoints/checkpoint-N/``; ``assembled/`` (a run from parts) while training runs.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import PrinterCallback

from robustbench_mllm.io_utils import atomic_write_json
from robustbench_mllm.models.options import without_loading_bars
from robustbench_mllm.models.preprocessing import save_image_preprocessing
from robustbench_mllm.train.assemble import PROJECTOR_FILE, write_projector
from robustbench_mllm.train.callbacks import AlphaScheduleCallback, StepLogCallback, keep_log_until
from robustbench_mllm.train.data import InstructionDataset, collate
from robustbench_mllm.train.model_setup import (
    PROJECTOR,
    TrainableModel,
    build_trainable_model,
    check_image_tokens,
    check_layers,
    exportable_model,
    model_folder,
)
from robustbench_mllm.train.objective import ObjectiveConfig, objective_loss, released_max_steps
from robustbench_mllm.train.options import TrainConfig
from robustbench_mllm.train.sampler import ModalityLengthGroupedSampler, modality_lengths

if TYPE_CHECKING:
    import torch

    from robustbench_mllm.models.bottleneck_hooks import BottleneckHandle


class VittleTrainer(Trainer):
    """``Trainer`` whose loss is CE on response tokens plus the bottleneck's KL terms."""

    def __init__(
        self, *args: Any, objective: ObjectiveConfig, handle: BottleneckHandle | None,
        lengths: list[int] | None, projector_lr: float | None, **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.objective, self.handle = objective, handle
        self.lengths, self.projector_lr = lengths, projector_lr
        # our loss is a per-micro-batch mean: let Trainer divide by the accumulation steps
        self.model_accepts_loss_kwargs = False
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0
        self._text_only = 0

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        if self.lengths is None:
            return super()._get_train_sampler(train_dataset)
        # as LLaVA's trainer: the accumulation steps count as more processes of one megabatch
        processes = self.args.world_size * self.args.gradient_accumulation_steps
        return ModalityLengthGroupedSampler(self.lengths, self.args.train_batch_size, processes, self.args.seed)

    def create_optimizer(self) -> Any:
        """LLaVA's LoRA recipe: the projector at its own learning rate; otherwise Trainer's optimizer."""
        if self.projector_lr is None or self.optimizer is not None:
            return super().create_optimizer()
        decay = set(self.get_decay_parameter_names(self.model))
        groups: dict[tuple[bool, bool], list[Any]] = {}
        for name, param in self.model.named_parameters():
            if param.requires_grad:
                groups.setdefault((PROJECTOR in name, name in decay), []).append(param)
        optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(self.args, self.model)
        self.optimizer = optimizer_cls([
            {"params": params, "weight_decay": self.args.weight_decay if decays else 0.0,
             **({"lr": self.projector_lr} if projector else {})}
            for (projector, decays), params in groups.items()
        ], **kwargs)
        return self.optimizer

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        labels = inputs.pop("labels")
        if self.handle is not None:
            self.handle.expect_labels(labels)
            # no visual token: the released code's visual KL is the mean of nothing, NaN; ours is 0
            self._text_only += int(not bool((inputs["input_ids"] == self.handle.image_token_id).any()))
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
                logs["text_only_batches"] = self._text_only
            self._sums, self._count, self._text_only = {}, 0, 0
        super().log(logs, start_time)


def _checkpointing_names() -> tuple[str, str]:
    """transformers renamed ``gradient_checkpointing(_kwargs)`` to ``activation_checkpointing(_kwargs)``."""
    names = {f.name for f in fields(TrainingArguments)}
    prefix = "activation" if "activation_checkpointing" in names else "gradient"
    return f"{prefix}_checkpointing", f"{prefix}_checkpointing_kwargs"


def training_arguments(options: TrainConfig, max_steps: int | None = None) -> TrainingArguments:
    import torch

    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    flag, flag_kwargs = _checkpointing_names()
    checkpointing: dict[str, Any] = {flag: options.gradient_checkpointing, flag_kwargs: {"use_reentrant": False}}
    return TrainingArguments(
        output_dir=str(options.checkpoints_dir()),
        num_train_epochs=options.epochs,
        max_steps=max_steps if max_steps is not None else options.max_steps,
        learning_rate=options.lr,
        lr_scheduler_type="cosine",
        warmup_steps=options.warmup_ratio,  # a float below 1 is a ratio of the total steps
        weight_decay=options.wd,
        per_device_train_batch_size=options.per_device_batch,
        gradient_accumulation_steps=options.grad_accum,
        **checkpointing,
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


@dataclass(frozen=True)
class TrainResult:
    summary: dict[str, Any]
    trained: TrainableModel  # the in-memory model after training (bottleneck still attached)
    main_process: bool  # the process that wrote the outputs (the one that reports, under a launcher)


def _step_rule(options: TrainConfig, samples: int, processes: int) -> tuple[int | None, str]:
    """(max_steps for TrainingArguments or None for the epochs, how the run's length was chosen)."""
    if options.max_steps > 0:
        return options.max_steps, "max_steps given"
    if options.objective.uses_bottleneck and options.objective.alpha_schedule == "released":
        steps = released_max_steps(samples, options.per_device_batch, processes, options.grad_accum)
        return steps, f"released: {samples} // ({options.per_device_batch} x {processes} x {options.grad_accum}) = {steps}"
    return None, f"epochs: {options.epochs}"


def run_training(options: TrainConfig) -> TrainResult:
    """Train, save the final checkpoint into ``options.out``; the summary is also written there."""
    with without_loading_bars():  # transformers' own bars (weights, shards) would interleave with our progress
        return _run_training(options)


def _run_training(options: TrainConfig) -> TrainResult:
    from transformers import AutoConfig, AutoProcessor
    from transformers.trainer_utils import get_last_checkpoint

    options.out.mkdir(parents=True, exist_ok=True)
    folder = model_folder(options)  # assembled (from parts) before ZeRO-3 makes from_pretrained partition
    # every check of the settings and the data before the (long) model load
    config, processor = AutoConfig.from_pretrained(folder), AutoProcessor.from_pretrained(folder)
    check_image_tokens(folder, config, processor)
    check_layers(config, options)
    dataset = InstructionDataset(
        options.data, options.images, processor, int(config.image_token_id), int(config.image_seq_length),
        options.chat_template, options.max_length, options.pad,
    )
    args = training_arguments(options)  # before the model: with ZeRO-3 it makes from_pretrained partition
    built = build_trainable_model(options)
    max_steps, step_rule = _step_rule(options, len(dataset), args.world_size)
    if max_steps is not None:
        args.max_steps = max_steps
    pad_id = built.processor.tokenizer.pad_token_id
    pad_id = pad_id if pad_id is not None else built.processor.tokenizer.eos_token_id
    callbacks: list[TrainerCallback] = [StepLogCallback(options.log_path())]
    if built.handle is not None:
        callbacks.append(AlphaScheduleCallback(built.handle, options.objective))
    trainer = VittleTrainer(
        model=built.model, args=args, train_dataset=dataset, data_collator=partial(collate, pad_token_id=pad_id),
        callbacks=callbacks, objective=options.objective, handle=built.handle,
        lengths=modality_lengths(dataset.conversations) if options.modality_batches else None,
        projector_lr=options.projector_lr,
    )
    trainer.remove_callback(PrinterCallback)  # StepLogCallback shows the logs
    resumable = options.resume and options.checkpoints_dir().exists()
    checkpoint = get_last_checkpoint(str(options.checkpoints_dir())) if resumable else None
    if trainer.is_world_process_zero():
        keep_log_until(options.log_path(), int(Path(checkpoint).name.split("-")[-1]) if checkpoint else 0)
    started = time.monotonic()
    result = trainer.train(resume_from_checkpoint=checkpoint)
    _save_final(trainer, built, options)
    summary = {
        "stage": options.stage, "objective": options.objective.name, "steps": trainer.state.global_step,
        "step_rule": step_rule, "alpha_schedule": options.objective.alpha_schedule if built.handle else None,
        "kl_form": options.objective.kl_form if built.handle else None, "template": options.chat_template,
        "text_only_batches": _logged_total(options.log_path(), "text_only_batches") if built.handle else None,
        "train_loss": result.training_loss, "seconds": round(time.monotonic() - started, 3),
        "resumed_from": checkpoint, "model_folder": str(built.folder), "options": options.to_dict(),
    }
    if trainer.is_world_process_zero():
        atomic_write_json(options.out / "train_summary.json", summary)
    return TrainResult(summary, built, trainer.is_world_process_zero())


def _logged_total(path: Path, key: str) -> int:
    from robustbench_mllm.io_utils import read_jsonl

    return sum(int(r.get(key, 0)) for r in read_jsonl(path, tolerate_torn_tail=True)) if path.exists() else 0


def _save_final(trainer: VittleTrainer, built: TrainableModel, options: TrainConfig) -> None:
    if options.objective.name == "lora":
        if trainer.is_world_process_zero():
            exportable_model(trainer.model).save_pretrained(options.out)
    else:
        trainer.save_model(str(options.out))  # gathers ZeRO-3 shards; keeps the bottleneck keys
    if trainer.is_world_process_zero():
        built.processor.save_pretrained(options.out)
        # the adapters evaluate the checkpoint with the padding it was trained with
        save_image_preprocessing(options.out, options.pad)
        if built.handle is not None:
            built.handle.config.save(options.out)
        if options.stage == "pretrain":
            write_projector(options.out, options.out / PROJECTOR_FILE)
        if built.folder == options.assembled_dir():
            shutil.rmtree(built.folder, ignore_errors=True)  # the final model supersedes it
            Path(f"{built.folder}.lock").unlink(missing_ok=True)

"""``group_by_modality_length`` batching, as LLaVA's ``LengthGroupedSampler`` does it (Stage 2).

A sample's length is the word count of its conversation (positive with an image, negative
without). Each modality is shuffled, cut into megabatches of ``world_size x batch_size`` samples,
each megabatch sorted longest first and dealt into ``world_size`` batches of similar total length.
The megabatches of both modalities are shuffled together, so every batch holds image samples
only or text-only samples only; the two incomplete remainders form one last (mixed) megabatch.
Every random choice comes from a generator seeded by (seed, epoch).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from robustbench_mllm.seeding import stable_seed
from robustbench_mllm.train.templates import Conversation

if TYPE_CHECKING:
    import torch


def modality_lengths(conversations: Sequence[Conversation]) -> list[int]:
    """LLaVA's ``modality_lengths``: words over all messages, negative for text-only rows (never 0)."""
    lengths = []
    for conversation in conversations:
        words = max(1, sum(len(q.split()) + len(a.split()) for q, a in conversation.turns))
        lengths.append(words if conversation.image is not None else -words)
    return lengths


def _even_chunks(indices: list[int], lengths: Sequence[int], chunks: int) -> list[list[int]]:
    """Deal ``indices`` (longest first) into ``chunks`` lists of equal size and similar total length."""
    if len(indices) % chunks:
        return [indices[i::chunks] for i in range(chunks)]
    size = len(indices) // chunks
    out: list[list[int]] = [[] for _ in range(chunks)]
    totals = [0.0] * chunks
    for index in indices:
        shortest = totals.index(min(totals))
        out[shortest].append(index)
        totals[shortest] += lengths[index]
        if len(out[shortest]) == size:
            totals[shortest] = float("inf")
    return out


def _length_grouped(lengths: Sequence[int], batch_size: int, world_size: int, generator: torch.Generator) -> list[int]:
    import torch

    order = torch.randperm(len(lengths), generator=generator).tolist()
    size = batch_size * world_size
    megabatches = [sorted(order[i : i + size], key=lambda i: lengths[i], reverse=True) for i in range(0, len(order), size)]
    return [i for mega in megabatches for chunk in _even_chunks(mega, lengths, world_size) for i in chunk]


def modality_grouped_indices(
    lengths: Sequence[int], batch_size: int, world_size: int, generator: torch.Generator
) -> list[int]:
    """The sample order for one epoch (see the module docstring)."""
    import torch

    if all(n > 0 for n in lengths) or all(n < 0 for n in lengths):
        return _length_grouped([abs(n) for n in lengths], batch_size, world_size, generator)
    size = batch_size * world_size
    groups = []
    for sign in (1, -1):
        members = [i for i, n in enumerate(lengths) if n * sign > 0]
        shuffled = [members[i] for i in _length_grouped([abs(lengths[i]) for i in members], batch_size, world_size, generator)]
        groups.append([shuffled[i : i + size] for i in range(0, len(shuffled), size)])
    (image_megas, text_megas) = groups
    megabatches = image_megas[:-1] + text_megas[:-1]
    megabatches = [megabatches[i] for i in torch.randperm(len(megabatches), generator=generator).tolist()]
    remainder = sorted(image_megas[-1] + text_megas[-1])
    return [i for mega in megabatches for i in mega] + remainder


class ModalityLengthGroupedSampler:
    """A ``torch.utils.data.Sampler`` over ``modality_grouped_indices``; ``set_epoch`` reseeds it."""

    def __init__(self, lengths: Sequence[int], batch_size: int, world_size: int, seed: int) -> None:
        self.lengths, self.batch_size, self.world_size, self.seed = list(lengths), batch_size, world_size, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        import torch

        generator = torch.Generator().manual_seed(stable_seed("modality-batches", self.seed, self.epoch) % 2**63)
        return iter(modality_grouped_indices(self.lengths, self.batch_size, self.world_size, generator))

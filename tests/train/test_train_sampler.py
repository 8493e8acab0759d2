"""``group_by_modality_length`` batches as LLaVA's LengthGroupedSampler: every batch is image-only or
text-only except the one remainder megabatch; each megabatch sorted longest first; seeded."""

from __future__ import annotations

import pytest

from robustbench_mllm.train.sampler import ModalityLengthGroupedSampler, modality_lengths
from robustbench_mllm.train.templates import Conversation

pytest.importorskip("torch")


def _lengths() -> list[int]:
    # 11 image samples (positive word counts), 7 text-only (negative), all lengths distinct
    return [3 + i for i in range(11)] + [-(20 + i) for i in range(7)]


def test_batches_hold_one_modality_except_the_remainder() -> None:
    lengths, batch, world = _lengths(), 2, 2
    order = list(ModalityLengthGroupedSampler(lengths, batch, world, seed=0))
    assert sorted(order) == list(range(len(lengths)))
    mega = batch * world
    # full megabatches: 11 images -> 2 of 4 (+3 left), 7 text-only -> 1 of 4 (+3 left)
    full, remainder = order[: 3 * mega], order[3 * mega :]
    assert sorted(remainder) == remainder and len(remainder) == 6
    assert {lengths[i] > 0 for i in remainder} == {True, False}
    for start in range(0, len(full), mega):
        group = full[start : start + mega]
        assert len({lengths[i] > 0 for i in group}) == 1, group
        for rank in range(world):  # one batch per process, longest samples dealt first
            per_process = group[rank * batch : (rank + 1) * batch]
            assert len({lengths[i] > 0 for i in per_process}) == 1
        assert max(abs(lengths[i]) for i in group) in (abs(lengths[group[0]]), abs(lengths[group[1]]))


def test_same_seed_same_order_and_the_epoch_reseeds() -> None:
    sampler = ModalityLengthGroupedSampler(_lengths(), 2, 1, seed=3)
    first = list(sampler)
    assert list(ModalityLengthGroupedSampler(_lengths(), 2, 1, seed=3)) == first
    sampler.set_epoch(1)
    assert list(sampler) != first and sorted(sampler) == sorted(first)


def test_modality_lengths_count_words_signed_by_image() -> None:
    rows = [Conversation("a", "x.png", (("<image>\nWhat is it?", "A dog."),), 0),
            Conversation("b", None, (("Hi there", "Hello"),), 1),
            Conversation("c", None, (("", ""),), 2)]
    # LLaVA: sum of len(value.split()) over the messages, negative without an image, never 0
    assert modality_lengths(rows) == [4 + 2, -3, -1]  # "<image>" is a word too, as in LLaVA

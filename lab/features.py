"""Turn training examples into labelled token windows and padded, length-bucketed batches."""

from __future__ import annotations

import random
from typing import Any

import torch

from lab.examples import SquadExample
from runtime.windows import pad_windows

NO_ANSWER_INDEX = 0  # the [CLS] token carries "no answer"

Feature = tuple[list[int], list[int], int, int]  # input_ids, token_type_ids, start, end


def tokenize_examples(examples: list[SquadExample], tokenizer: Any, max_length: int, stride: int) -> list[Feature]:
    """Turn examples into (input_ids, token_type_ids, start, end) features, one per window."""
    features: list[Feature] = []
    batch = 2000
    for offset in range(0, len(examples), batch):
        chunk = examples[offset : offset + batch]
        encoded = tokenizer(
            [example.question.lstrip() for example in chunk],
            [example.context for example in chunk],
            truncation="only_second",
            max_length=max_length,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=False,
        )
        for index, sample_index in enumerate(encoded["overflow_to_sample_mapping"]):
            example = chunk[sample_index]
            start, end = label_window(
                example, encoded["offset_mapping"][index], encoded.sequence_ids(index)
            )
            features.append(
                (encoded["input_ids"][index], encoded["token_type_ids"][index], start, end)
            )
    return features


def label_window(
    example: SquadExample, offsets: list[tuple[int, int]], sequence_ids: list[int | None]
) -> tuple[int, int]:
    if example.answer_start < 0:
        return NO_ANSWER_INDEX, NO_ANSWER_INDEX
    char_start = example.answer_start
    char_end = char_start + len(example.answer_text)
    context_tokens = [i for i, sid in enumerate(sequence_ids) if sid == 1]
    first, last = context_tokens[0], context_tokens[-1]
    if offsets[first][0] > char_start or offsets[last][1] < char_end:
        return NO_ANSWER_INDEX, NO_ANSWER_INDEX
    start = first
    while start <= last and offsets[start][1] <= char_start:
        start += 1
    end = last
    while end >= first and offsets[end][0] >= char_end:
        end -= 1
    return start, end


def bucketed_batches(
    lengths: list[int], batch_size: int, rng: random.Random, bucket_batches: int = 50
) -> list[list[int]]:
    """Shuffle, then sort within mega-buckets by length so padding stays small."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    mega = batch_size * bucket_batches
    for offset in range(0, len(order), mega):
        bucket = sorted(order[offset : offset + mega], key=lengths.__getitem__)
        batches.extend(bucket[i : i + batch_size] for i in range(0, len(bucket), batch_size))
    rng.shuffle(batches)
    return batches


def collate(features: list[Feature], indices: list[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest member, as the reader pads at inference."""
    input_ids, token_types, attention = pad_windows([features[i][0] for i in indices],
                                                    [features[i][1] for i in indices], pad_id)
    return {
        "input_ids": input_ids,
        "token_type_ids": token_types,
        "attention_mask": attention,
        "start_positions": torch.tensor([features[i][2] for i in indices]),
        "end_positions": torch.tensor([features[i][3] for i in indices]),
    }

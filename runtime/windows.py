"""How a question and a passage are laid out as the reader's windows, and which spans a window can answer with:
shared by serving, quantization calibration, training and the lab's decoders, so all see the same layout."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

# Tokens per window and overlap between windows of a long passage; `citeqa train-reader` uses the same.
DEFAULT_WINDOW = 256
DEFAULT_STRIDE = 96


def pad_windows(
    input_ids: Sequence[Sequence[int]], token_types: Sequence[Sequence[int]], pad_id: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input ids, token types, attention mask) of a batch of windows, right-padded to the longest.

    Shared by inference and training, so the model is trained on batches laid out as it will read them.
    """
    width = max(len(ids) for ids in input_ids)
    ids = torch.full((len(input_ids), width), pad_id, dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for row, (row_ids, row_types) in enumerate(zip(input_ids, token_types, strict=True)):
        ids[row, : len(row_ids)] = torch.tensor(row_ids)
        types[row, : len(row_types)] = torch.tensor(row_types)
        mask[row, : len(row_ids)] = 1
    return ids, types, mask


def window_feed(input_ids: Sequence[Sequence[int]], token_types: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
    """A batch of windows as a forward pass's inputs."""
    ids, types, mask = pad_windows(input_ids, token_types)
    return {"input_ids": ids.numpy(), "token_type_ids": types.numpy(), "attention_mask": mask.numpy()}


def span_candidates(start_logits: np.ndarray, end_logits: np.ndarray, context: np.ndarray, max_tokens: int,
                    candidates: int = 20) -> list[tuple[int, int]]:
    """(start, end) token pairs inside the context, start <= end, at most `max_tokens` long, from the
    `candidates` best starts and ends: the spans a window can answer with. Shared by the reader and the
    lab's gold-paragraph decoder, so both decode alike."""
    top_starts = np.argsort(-np.where(context, start_logits, -np.inf))[:candidates]
    top_ends = np.argsort(-np.where(context, end_logits, -np.inf))[:candidates]
    return [(int(s), int(e)) for s in top_starts if context[s]
            for e in top_ends if context[e] and s <= e < s + max_tokens]

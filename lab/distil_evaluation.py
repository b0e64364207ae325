"""The distillation's own gold-paragraph figures: a teacher or student decoded over `prepare`'s windows.

Unlike lab/evaluation.py, which measures the shipped `qa.reader.Reader`, this scores a bare
transformers model in training, where the service's reader is not built.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lab.distil_training import logits_of
from lab.metrics import abstention_curve, answerability_auc, best_over, exact_match, f1
from lab.soft_targets import best_span


def evaluate(model: Any, data: dict[str, Any], pad_id: int, types: bool, device: torch.device) -> dict[str, Any]:
    """Gold-paragraph EM/F1 never abstaining, and, where some questions have no answer, the AUC of the
    best span's margin over [CLS] and the F1 / no-answer accuracy / HasAns F1 at the best threshold."""
    model.eval()  # a model built from its config starts in training mode: dropout would skew the figures
    windows, examples, golds = data["windows"], data["examples"], data["golds"]
    if golds is None:
        golds = [[e.answer_text] if e.answer_start >= 0 else [] for e in examples]
    logits = logits_of(model, windows, pad_id, types, device)
    best: dict[int, Any] = {}
    null: dict[int, float] = {}
    for window, (start, end) in zip(windows, logits, strict=True):
        choice = best_span(start, end, window)
        if window.example not in best or choice.span_score > best[window.example].span_score:
            best[window.example] = choice
        null[window.example] = min(null.get(window.example, np.inf), choice.null_score)
    texts = [examples[i].context[best[i].start_char : best[i].end_char] for i in range(len(examples))]
    margins = np.array([best[i].span_score - null[i] for i in range(len(examples))])
    answerable = np.array([bool(g) for g in golds])
    em = np.array([best_over(exact_match, t, g) for t, g in zip(texts, golds, strict=True)])
    span_f1 = np.array([best_over(f1, t, g) for t, g in zip(texts, golds, strict=True)])
    result: dict[str, Any] = {"count": len(examples)}
    if answerable.all():
        result.update(exact_match=100 * em.mean(), f1=100 * span_f1.mean())
        return result
    result.update(has_answer_f1_never_abstaining=100 * span_f1[answerable].mean(),
                  auc=answerability_auc(margins.tolist(), answerable.tolist()))
    curve = abstention_curve(margins.tolist(), span_f1.tolist(), answerable.tolist(),
                             thresholds=np.unique(np.concatenate([margins, [np.inf]])).tolist())
    best_row = max(curve, key=lambda row: row["f1"])
    result.update(best_f1=best_row["f1"], best_threshold=best_row["threshold"],
                  no_answer_accuracy=best_row["no_answer_accuracy"], has_answer_f1=best_row["has_answer_f1"])
    return result

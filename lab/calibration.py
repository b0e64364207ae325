"""Fit the reader's score calibration (Platt scaling) on held-out training examples."""

from __future__ import annotations

from pathlib import Path

from lab.evaluation import GoldQuestion, Prediction
from lab.examples import shuffled_examples
from lab.metrics import is_right
from lab.negatives import NegativeMix
from qa.reader import Calibration


def held_out_questions(data_path: Path, negatives: NegativeMix, seed: int, skip: int,
                       count: int) -> list[GoldQuestion]:
    """Training-format examples the reader never saw (after the first `skip`), negatives included."""
    examples = shuffled_examples(data_path, negatives, seed)[skip : skip + count]
    return [GoldQuestion(f"heldout-{i}", e.question, e.context, [e.answer_text] if e.answer_start >= 0 else [])
            for i, e in enumerate(examples)]


def fit_calibration(predictions: list[Prediction]) -> Calibration:
    """Platt-scale margins so a span's score is the probability it is (F1 > 0.5) correct."""
    import torch

    margins = torch.tensor([p.margin for p in predictions], dtype=torch.float64)
    labels = torch.tensor(
        [float(is_right(p.text, p.question.answers)) for p in predictions],
        dtype=torch.float64,
    )
    scale = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([scale, bias], max_iter=200)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(scale * margins + bias, labels)
        loss.backward()
        return loss

    optimiser.step(closure)
    return Calibration(float(scale.detach()), float(bias.detach()))

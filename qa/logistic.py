"""The logistic function and the odds it stands for: the reader's calibration, the vote and the verifier."""

from __future__ import annotations

import math

# Logits are clamped to +-60 so that math.exp cannot overflow (it does past 709); the probability there is
# already 1.0 or under 1e-26.
LOGIT_LIMIT = 60.0
# A margin's odds are capped at exp(50), so that summing the odds of a few spans cannot overflow.
MARGIN_LIMIT = 50.0


def sigmoid(logit: float) -> float:
    """The probability 1 / (1 + e^-logit), the logit clamped to +-LOGIT_LIMIT."""
    return 1.0 / (1.0 + math.exp(-max(min(logit, LOGIT_LIMIT), -LOGIT_LIMIT)))


def odds(margin: float) -> float:
    """e^margin: the odds a span-vs-no-answer margin (a log-odds) stands for, capped at e^MARGIN_LIMIT."""
    return math.exp(min(margin, MARGIN_LIMIT))

"""The forward pass a model runner implements, and the torch runner (the model as trained)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np


class Forward(Protocol):
    """A transformer's forward pass: named (batch, tokens) int64 inputs (`input_ids`, `attention_mask`,
    `token_type_ids`) in, named float32 outputs (`start_logits`, `last_hidden_state`, ...) out; thread-safe.

    `warm_up()` loads the model (once); a call before it loads it too. `backend` and `precision` say what runs.
    """

    backend: str
    precision: str

    def warm_up(self) -> None: ...

    def __call__(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


class BatchForward(Forward, Protocol):
    """A forward pass that runs many batches at once (OpenVINO's throughput mode, for a document's chunks)."""

    def run_all(self, feeds: Sequence[Mapping[str, np.ndarray]], output: str) -> list[np.ndarray]: ...


class TorchForward:
    """A torch module built by `load()` on first use, run with bf16 autocast when `precision` is bf16."""

    backend = "torch"

    def __init__(self, load: Callable[[], Any], precision: str = "fp32", threads: int | None = None) -> None:
        if precision not in ("bf16", "fp32"):
            raise ValueError(f"torch runs bf16 or fp32, got {precision!r}")
        self.precision = precision
        self.threads = threads
        self._load = load
        self._model: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._model is None:
                import torch

                if self.threads:
                    torch.set_num_threads(self.threads)
                self._model = self._load().eval()

    def __call__(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        if self._model is None:
            self.warm_up()
        with (
            self._lock,
            torch.inference_mode(),
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"),
        ):
            output = self._model(**{name: torch.from_numpy(values) for name, values in feed.items()})
        return {name: value.float().numpy() for name, value in output.items() if isinstance(value, torch.Tensor)}

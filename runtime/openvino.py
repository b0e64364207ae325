"""The OpenVINO runner: a derived model compiled for this CPU, padded to few shapes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runtime.policy import PRECISIONS

# Token lengths are padded to a multiple of this: OpenVINO keeps compiled kernels and buffers per input shape,
# and unrounded lengths made that cache, and the process, grow by hundreds of MB over an ingest or a few hundred
# questions (bench/RESULTS.md, issue 19).
SHAPE_MULTIPLE = 16


class OpenVINOForward:
    """The model.xml that `locate()` returns (building it into the cache if need be), compiled on first use.

    Inputs are zero-padded (masked) to a multiple of SHAPE_MULTIPLE tokens, and every output is cut back to the
    tokens given along its second axis. The latency hint runs one inference on every core (one at a time);
    the throughput hint (for `run_all` over many batches) runs several at once, one stream per core or so, as
    OpenVINO chooses. `precision` is the model's: "bf16" or "fp32" sets a float model's arithmetic; "int8"
    leaves OpenVINO's default for its float parts.
    """

    backend = "openvino"

    def __init__(self, locate: Callable[[], Path], threads: int | None = None, precision: str = "int8",
                 hint: str = "LATENCY") -> None:
        if hint not in ("LATENCY", "THROUGHPUT"):
            raise ValueError(f"hint must be LATENCY or THROUGHPUT, got {hint!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        self.threads = threads
        self.hint = hint
        self.xml: Path | None = None
        self._locate = locate
        self._compiled: Any = None
        self._request: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._compiled is not None:
                return
            import openvino

            config: dict[str, Any] = {"PERFORMANCE_HINT": self.hint}
            if self.threads:
                config["INFERENCE_NUM_THREADS"] = self.threads
            if self.precision != "int8":
                config["INFERENCE_PRECISION_HINT"] = {"bf16": "bf16", "fp32": "f32"}[self.precision]
            self.xml = self._locate()
            compiled = openvino.Core().compile_model(str(self.xml), "CPU", config)
            self._request = compiled.create_infer_request()
            self._compiled = compiled

    def __call__(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._compiled is None:
            self.warm_up()
        width = _width(feed)
        with self._lock:
            results = self._request.infer(_padded(feed, width))
            return {name: _cut(np.array(value), width) for output, value in results.items()
                    for name in output.get_names()}

    def run_all(self, feeds: Sequence[Mapping[str, np.ndarray]], output: str) -> list[np.ndarray]:
        """`output` of each feed, the feeds run as many at a time as the compiled model has streams."""
        import openvino

        if self._compiled is None:
            self.warm_up()
        results: list[np.ndarray | None] = [None] * len(feeds)
        queue = openvino.AsyncInferQueue(self._compiled,
                                         int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        widths = [_width(feed) for feed in feeds]

        def done(request: Any, position: int) -> None:
            results[position] = _cut(np.array(request.get_tensor(output).data), widths[position])

        queue.set_callback(done)
        for position, feed in enumerate(feeds):
            queue.start_async(_padded(feed, widths[position]), position)
        queue.wait_all()
        finished = [result for result in results if result is not None]
        if len(finished) != len(feeds):
            raise RuntimeError(f"OpenVINO gave no output for {len(feeds) - len(finished)} of {len(feeds)} batches")
        return finished


def _width(inputs: Mapping[str, np.ndarray]) -> int:
    return int(next(iter(inputs.values())).shape[1])


def _padded(inputs: Mapping[str, np.ndarray], width: int) -> dict[str, np.ndarray]:
    padding = ((0, 0), (0, -width % SHAPE_MULTIPLE))
    return {name: np.pad(values, padding) for name, values in inputs.items()}


def _cut(values: np.ndarray, width: int) -> np.ndarray:
    return values[:, :width] if values.ndim > 1 else values

"""Helpers shared by the benchmarks: paths, machine facts and result files."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from index.documents import Document, load_file
from lab.end_to_end import ArticleQuestion

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data"
RESULTS = BENCH / "results"
SQUAD_V1 = DATA / "squad-v1.1-dev-articles-25-48.json"
SQUAD_V2 = DATA / "squad-v2.0-dev-public.json"
SEED = DATA / "seed-dev.jsonl"
ARTICLE = BENCH.parent / "index" / "data" / "ukraine-retakes-bakhmut-2023-05-13.txt"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def save(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {"benchmark": name, "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), **result}
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return path


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def seed_set() -> tuple[Document, list[ArticleQuestion]]:
    """The default article and the seed questions asked about it (unanswerable ones have no answers)."""
    document = load_file(ARTICLE)
    cases = [json.loads(line) for line in SEED.read_text().splitlines()]
    return document, [ArticleQuestion(c["id"], document.id, c["question"], c["answers"], []) for c in cases]

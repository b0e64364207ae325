"""Ingest of a PDF through citeqa as a user meets it: the 55-page NIST Cybersecurity Framework by default.

The index is built as the service builds it (`api.services.build_index` over `Settings().scratch(folder)`: the
embedded store in a fresh scratch folder, no default article), with the configured inference backend. The
embedder is loaded once, before the first run (its load time is reported apart); each run then opens a new,
empty store and times

- extract: `index.extract.load_path`, the PDF read by `index.pdf.read_pdf` in the parsing worker process
  (process start, imports and the transfer of text and character boxes included);
- index: `indexer.add(document)`, sentence splitting, chunking, embedding every chunk and the store's write;
- end to end: the two together.

Figures are medians of `--runs` runs, as pages/s and chunks/s. Peak RSS: `ru_maxrss` of this process (the
embedder and the store), and of the parsing worker. A child's ru_maxrss (RUSAGE_CHILDREN) starts from its
parent's resident size at the fork, so the worker is measured apart: `load_path` once more in a small Python
process that imports only index.extract, whose RUSAGE_CHILDREN is then the worker's own peak (at least the
small process's size, its VmHWM, reported beside it: its own ru_maxrss would again be this process's).

    .venv/bin/python bench/pdf_ingest.py [--pdf tests/fixtures/pdf/NIST.CSWP.04162018.pdf] [--runs 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.services import build_embedder, build_index  # noqa: E402
from api.settings import Settings  # noqa: E402
from bench.common import save  # noqa: E402
from index.extract import ParseLimits, load_path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORK = ROOT / "tests" / "fixtures" / "pdf" / "NIST.CSWP.04162018.pdf"
# Run in a fresh, small process: read the PDF through the worker, print the worker's and its own peak RSS (KiB).
WORKER_PEAK = """
import json, resource, sys
from pathlib import Path
from index.extract import ParseLimits, load_path
load_path(Path(sys.argv[1]), ParseLimits(**json.loads(sys.argv[2])))
own = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, own)
"""


def mebibytes(kibibytes: int) -> float:
    return round(kibibytes / 1024, 1)  # ru_maxrss is in KiB on Linux


def worker_peak(path: Path, limits: ParseLimits) -> tuple[int, int]:
    """The parsing worker's peak RSS reading `path`, and that of the small process that started it (KiB)."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                                               if p)}
    done = subprocess.run([sys.executable, "-c", WORKER_PEAK, str(path), json.dumps(dataclasses.asdict(limits))],
                          capture_output=True, text=True, check=True, cwd=ROOT, env=environment)
    worker, parent = done.stdout.split()
    return int(worker), int(parent)


def one_run(settings: Settings, embedder: Any, path: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        index = build_index(settings.scratch(Path(folder)), embedder=embedder)
        try:
            begin = time.perf_counter()
            document = load_path(path, settings.index.parse_limits)
            extracted = time.perf_counter()
            result = index.indexer.add(document)
            indexed = time.perf_counter()
        finally:
            index.store.close()
    return {"pages": len(document.layout.pages), "characters": len(document.text), "chunks": result.chunk_count,
            "sentences": result.sentence_count, "extract_s": extracted - begin, "index_s": indexed - extracted,
            "total_s": indexed - begin}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdf", type=Path, default=FRAMEWORK)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    settings = Settings()
    load = [round(value, 2) for value in os.getloadavg()]
    begin = time.perf_counter()
    embedder = build_embedder(settings)
    embedder.warm_up()
    load_s = time.perf_counter() - begin
    runs = [one_run(settings, embedder, args.pdf) for _ in range(args.runs)]
    worker, starter = worker_peak(args.pdf, settings.index.parse_limits)
    for run in runs:
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in run.items()}, flush=True)
    first = runs[0]
    stages = {}
    for stage in ("extract", "index", "total"):
        seconds = statistics.median(run[f"{stage}_s"] for run in runs)
        stages[stage] = {"seconds": round(seconds, 3), "pages_per_s": round(first["pages"] / seconds, 1),
                         "chunks_per_s": round(first["chunks"] / seconds, 1)}
    result = {
        "pdf": args.pdf.name, "runs": args.runs, "pages": first["pages"], "characters": first["characters"],
        "chunks": first["chunks"], "sentences": first["sentences"], "chunk_tokens": settings.index.chunk_tokens,
        "backend": settings.reader.backend, "precision": settings.reader.precision, "embedder": embedder.name,
        "embedder_load_s": round(load_s, 2), "load_average_at_start": load, "stages": stages,
        "peak_rss_mib": mebibytes(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "worker_peak_rss_mib": mebibytes(worker), "worker_starter_peak_rss_mib": mebibytes(starter),
        "each_run": [{k: round(v, 3) if isinstance(v, float) else v for k, v in run.items()} for run in runs]}
    save("pdf_ingest", result)
    print()
    print(f"{result['pdf']}: {result['pages']} pages, {result['characters']:,} characters, {result['chunks']} chunks "
          f"of {result['chunk_tokens']} tokens at most; {result['embedder']} on {result['backend']} "
          f"({result['precision']}), loaded in {result['embedder_load_s']} s; median of {args.runs} runs\n")
    print("| stage | seconds | pages/s | chunks/s |")
    print("|---|---|---|---|")
    names = {"extract": "extract (worker)", "index": "chunk + embed + store", "total": "end to end"}
    for stage, figures in stages.items():
        print(f"| {names[stage]} | {figures['seconds']} | {figures['pages_per_s']} | {figures['chunks_per_s']} |")
    print(f"\nPeak RSS: this process {result['peak_rss_mib']} MiB, the parsing worker {result['worker_peak_rss_mib']} "
          f"MiB (started from a process of {result['worker_starter_peak_rss_mib']} MiB)")


if __name__ == "__main__":
    main()

"""Run the benchmarks (quick set by default, `--full` for everything) and rewrite bench/RESULTS.md."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
QUICK = [  # under 10 minutes on 2 cores (plus a first-run Haystack install); --full takes hours
    ["reader.py", "--runs", "10", "--agreement-questions", "50"],
    ["http_latency.py", "--asks", "100", "--clients", "16", "--seconds", "30", "--max-articles", "6"],
    ["accuracy.py", "--limit", "100"],
    ["faiss_scale.py", "--sizes", "100000", "--queries", "100"],
    ["haystack_compare.py", "--questions", "50", "--max-articles", "6"],
]
FULL = [
    ["retrieval.py"],
    ["reader.py", "--runs", "50", "--agreement-questions", "600"],
    ["http_latency.py", "--asks", "200", "--clients", "16", "--seconds", "60"],
    ["accuracy.py"],
    ["faiss_scale.py", "--sizes", "100000", "1000000"],
    ["haystack_compare.py", "--questions", "0"],
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--only", nargs="*", help="script names to run, e.g. reader.py http.py")
    args = parser.parse_args()
    durations = {}
    for command in FULL if args.full else QUICK:
        if args.only and command[0] not in args.only:
            continue
        print(f"== {' '.join(command)}", flush=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, str(BENCH / command[0]), *command[1:]], check=True)
        durations[" ".join(command)] = round(time.perf_counter() - started, 1)
    for command_line, seconds in durations.items():
        print(f"{seconds:8.1f} s  {command_line}")
    subprocess.run([sys.executable, str(BENCH / "report.py")], check=True)


if __name__ == "__main__":
    main()

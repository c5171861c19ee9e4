"""A long fuzzing run of the readers: tests/test_fuzz_inputs.py with many more examples.

Runs the fuzz tests with ``SLEEPFM_FUZZ_EXAMPLES`` examples per target (random, not the
derandomised ``make test`` sequence) and prints, per target, the inputs tried, how many read,
how many raised the engine's typed error naming the file, and other exceptions (any makes
pytest fail; the count is then the failing targets). Usage::

    python benchmarks/fuzz_inputs.py [--examples 2000]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="examples per target")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sleepfm-fuzz-") as tmp:
        report = Path(tmp) / "tally.jsonl"
        env = dict(os.environ, SLEEPFM_FUZZ_EXAMPLES=str(args.examples),
                   SLEEPFM_FUZZ_REPORT=str(report))
        t0 = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              str(ROOT / "tests" / "test_fuzz_inputs.py")], cwd=ROOT, env=env,
                             capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        rows = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    totals: collections.Counter = collections.Counter()
    print(f"fuzz_inputs: {args.examples} examples per target, {platform.node()}, "
          f"{os.cpu_count()} CPUs, {seconds:.0f} s")
    print(f"{'target':<14}{'inputs':>8}{'read':>8}{'typed error':>13}")
    for row in rows:
        print(f"{row['target']:<14}{row.get('inputs', 0):>8}{row.get('read', 0):>8}"
              f"{row.get('typed_error', 0):>13}")
        totals.update({k: v for k, v in row.items() if k != "target"})
    failed = [line for line in run.stdout.splitlines() if line.startswith("FAILED")]
    print(f"{'total':<14}{totals['inputs']:>8}{totals['read']:>8}{totals['typed_error']:>13}")
    print(f"other exceptions: {len(failed)} failing target(s)")
    for line in failed:
        print("  " + line)
    if run.returncode != 0:
        print(run.stdout[-4000:])
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())

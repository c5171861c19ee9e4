"""Whole-night trends: how long after opening a recording the trends panel is ready.

On an 8-h generated night (``sleepfm synth --ahi 25``, generated into a temporary folder
unless ``--edf`` names one) this prints JSON with:

- ``engine_compute_s``: :func:`sleepfm_engine.trends.trends_job` run in this thread (reading
  SpO2, heart rate and position, binning, counting the events);
- ``open_to_first_page_s`` and ``open_to_trends_ready_s``: ``open_recording_file`` in a
  running window (offscreen Qt) to the first painted page and to ``trendsReady``;
- ``open_to_first_page_without_trends_s``: the same first page with the trends never loaded,
  to show that loading them does not delay it.

Medians over ``--runs`` opens (a fresh window each). Target (issue 12): trends ready ≤ 2 s
after the open, first page not delayed.

Run: ``.venv/bin/python benchmarks/bench_trends.py [--edf FILE] [--runs N]``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _night(folder: Path) -> Path:
    path = folder / "n.edf"
    subprocess.run([sys.executable, "-m", "sleepfm_engine.cli", "synth", "--ahi", "25",
                    "-o", str(path)], check=True, capture_output=True)
    return path


def engine_compute(edf: Path, runs: int) -> float:
    from sleepfm_engine.formats import read_events
    from sleepfm_engine.recording import open_recording
    from sleepfm_engine.trends import trends_job

    events = list(read_events(edf, fmt="edf"))
    times = []
    with open_recording(edf) as rec:
        for _ in range(runs):
            t0 = time.perf_counter()
            trends_job(rec, None, events).run()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def window_open(edf: Path, runs: int, with_trends: bool) -> dict:
    from PySide6.QtWidgets import QApplication

    from sleepfm_gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    first, ready = [], []
    for _ in range(runs):
        win = MainWindow()
        win.headless = True
        win.ask_recover = lambda info: True
        win.resize(1600, 1000)
        win.show()
        app.processEvents()
        if not with_trends:
            win._load_trends = lambda: None  # the trends are never loaded
        marks: dict[str, float] = {}
        win.trace.pagePainted.connect(lambda _s: marks.setdefault("page", time.perf_counter()))
        win.trends.trendsReady.connect(lambda _t: marks.setdefault("trends", time.perf_counter()))
        t0 = time.perf_counter()
        win.open_recording_file(edf)
        want = ("page", "trends") if with_trends else ("page",)
        deadline = time.perf_counter() + 60
        while not all(k in marks for k in want) and time.perf_counter() < deadline:
            app.processEvents()
            time.sleep(0.001)
        while win.jobs.running():
            app.processEvents()
            time.sleep(0.001)
        first.append(marks["page"] - t0)
        if with_trends:
            ready.append(marks["trends"] - t0)
        win.close()
        app.processEvents()
    out = {"first_page_s": statistics.median(first), "first_page_all_s": first}
    if with_trends:
        out.update(trends_ready_s=statistics.median(ready), trends_ready_all_s=ready)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edf", type=Path, help="an 8-h night (default: generated)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SLEEPFM_DATA_DIR"] = str(Path(tmp) / "userdata")
        edf = args.edf or _night(Path(tmp))
        load_before = os.getloadavg()
        engine = engine_compute(edf, args.runs)
        with_t = window_open(edf, args.runs, True)
        without_t = window_open(edf, args.runs, False)
        print(json.dumps({
            "edf": str(edf), "edf_mb": round(edf.stat().st_size / 2**20, 1),
            "engine_compute_s": round(engine, 4),
            "open_to_first_page_s": round(with_t["first_page_s"], 4),
            "open_to_trends_ready_s": round(with_t["trends_ready_s"], 4),
            "open_to_trends_ready_all_s": [round(v, 4) for v in with_t["trends_ready_all_s"]],
            "open_to_first_page_without_trends_s": round(without_t["first_page_s"], 4),
            "target_trends_ready_s": 2.0,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        }, indent=1))


if __name__ == "__main__":
    main()

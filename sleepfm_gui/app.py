"""``sleepfm-studio``: start the desktop application.

Usage::

    sleepfm-studio [RECORDING] [--model DIR] [--demo] [--screenshot OUT.png [--stage]]

Only Qt, pyqtgraph and the engine's light modules load before the window is up; torch loads
the first time a model runs, so the window opens fast.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

_T0 = time.monotonic()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sleepfm-studio",
                                description="SleepFM Studio: review polysomnograms, score sleep "
                                            "and run SleepFM.")
    from sleepfm_engine import __version__

    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("recording", nargs="?", help="EDF, EDF+ or BDF file to open")
    p.add_argument("--model", metavar="DIR", help="SleepFM model folder (release layout)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda or mps")
    p.add_argument("--demo", action="store_true",
                   help="open the built-in demo night (generated once into the data folder)")
    p.add_argument("--screenshot", metavar="OUT.png",
                   help="render the window with the recording open to a PNG and exit")
    p.add_argument("--stage", action="store_true",
                   help="with --screenshot: run sleep staging first")
    p.add_argument("--size", default="1600x1000", help="window size for --screenshot (WxH)")
    p.add_argument("--epoch", type=int, default=None,
                   help="with --screenshot: show this epoch (1-based)")
    # Benchmarks: print timing JSON once the first page is painted, then exit.
    p.add_argument("--exit-after-first-page", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    return p


def _ensure_platform(offscreen: bool) -> None:
    if offscreen and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``sleepfm-studio``; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    headless = bool(args.screenshot or args.exit_after_first_page)
    _ensure_platform(headless)
    if args.stage and not args.screenshot:
        print("error: --stage goes with --screenshot", file=sys.stderr)
        return 2

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("SleepFM Studio")
    app.setOrganizationName("SleepFM")

    from .main_window import MainWindow

    win = MainWindow(model_dir=args.model)
    if headless:
        win.headless = True
        win.ask_recover = lambda info: True  # show unsaved scoring; never discard it
    if args.device:
        win.device = args.device
    if args.screenshot:
        w, _, h = args.size.partition("x")
        win.resize(int(w), int(h or 1000))
    win.show()

    if args.exit_after_first_page:
        return _first_page_timing(app, win, args)
    if args.screenshot:
        return _screenshot(app, win, args)
    if args.demo:
        win.open_demo()
    elif args.recording:
        win.open_recording_file(args.recording)
    # Start SleepFM's process (torch, models) once the window is up, so staging starts at once.
    from PySide6.QtCore import QTimer

    QTimer.singleShot(1500, win.warm_up_analysis)
    return app.exec()


def _open_for_script(app, win, args) -> bool:
    """Open the recording (or the demo, waiting for it to be generated)."""
    if args.recording:
        return win.open_recording_file(args.recording)
    if args.demo:
        win.open_demo()
        while win.rec is None and win.jobs.running():
            app.processEvents()
            time.sleep(0.01)
        return win.rec is not None
    print("error: give a recording (or --demo) to render", file=sys.stderr)
    return False


def _wait_jobs(app, win) -> None:
    # Jobs started from a zero timer after the open (the trends) must be running to be waited on.
    app.processEvents()
    while win.jobs.running():
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()


def _screenshot(app, win, args) -> int:
    if not _open_for_script(app, win, args):
        win.close()
        return 1
    failed: list[str] = []
    if args.stage:
        worker = win.start_staging()
        if worker is None:
            win.close()
            return 1
        worker.failed.connect(lambda exc: failed.append(str(exc)))
    _wait_jobs(app, win)
    if failed:
        print(f"error: staging failed: {failed[0]}", file=sys.stderr)
    if args.epoch:
        win.trace.go_to_epoch(args.epoch - 1)
        win.review.set_current_epoch(args.epoch - 1)
    for _ in range(5):
        app.processEvents()
    out = Path(args.screenshot)
    out.parent.mkdir(parents=True, exist_ok=True)
    ok = win.grab().save(str(out))
    win.close()
    if not ok:
        print(f"error: cannot write {out}", file=sys.stderr)
        return 1
    print(out)
    return 1 if failed else 0


def _first_page_timing(app, win, args) -> int:
    painted: list[float] = []
    win.trace.pagePainted.connect(lambda _s: painted.append(time.monotonic()))
    t_open = time.monotonic()
    if not _open_for_script(app, win, args):
        return 1
    while not painted:
        app.processEvents()
    rss = _rss_mb()
    print(json.dumps({"process_start": _T0, "open_called": t_open, "first_page": painted[0],
                      "rss_mb": rss}))
    sys.stdout.flush()
    win.close()
    return 0


def _rss_mb() -> dict:
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return out


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Fuzzing the readers: mutated EDF, EDF+, BDF+ headers, TAL bytes and hypnogram files either
read or raise the engine's typed error naming the file — never another exception, never a hang.

The number of examples per target is ``SLEEPFM_FUZZ_EXAMPLES`` (default 40, so ``make test``
stays quick); ``benchmarks/fuzz_inputs.py`` runs the same targets with many more and reads the
tallies this module writes to ``SLEEPFM_FUZZ_REPORT`` (JSON lines) when that is set.
"""
from __future__ import annotations

import collections
import datetime as dt
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sleepfm_engine.errors import HypnogramError, RecordingError
from sleepfm_engine.formats import read_hypnogram, write_formats, write_hypnogram
from sleepfm_engine.hypnogram import Hypnogram
from sleepfm_engine.recording import open_recording

from edf_factory import Sig, tal_record, write_edf

EXAMPLES = int(os.environ.get("SLEEPFM_FUZZ_EXAMPLES", "40"))
REPORT = os.environ.get("SLEEPFM_FUZZ_REPORT")
# Seconds one input may take: generous for a shared, loaded machine, small beside a hang.
DEADLINE = dt.timedelta(seconds=20)
FUZZ = settings(max_examples=EXAMPLES, deadline=DEADLINE, derandomize=REPORT is None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
# Windows read from a fuzzed recording: a mutated header may claim days, reading them all
# would only measure memory.
READ_SECONDS = 20.0

_TALLY: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


@pytest.fixture(scope="module", autouse=True)
def _write_tally():
    yield
    if REPORT:
        with open(REPORT, "a", encoding="utf-8") as fh:
            for target, counts in _TALLY.items():
                fh.write(json.dumps({"target": target, **counts}) + "\n")


# ------------------------------------------------------------------------------ valid seeds
def _edf_plus(path: Path, bdf: bool = False, discontinuous: bool = False) -> bytes:
    rng = np.random.default_rng(0)
    n = 6
    big = (1 << 23) - 1 if bdf else 32767
    sigs = [Sig("C3-M2", 16, rng.integers(-2000, 2000, 16 * n), dmin=-big - 1, dmax=big),
            Sig("SpO2", 1, rng.integers(90, 99, n), unit="%", pmin=0, pmax=100, dmin=0, dmax=100)]
    onsets = [0, 1, 2, 4, 5, 6] if discontinuous else list(range(n))
    # Record times 0.25 s after the header's start: the EDF+ sub-second start.
    anns = [tal_record(o + 0.25, [(o + 0.5, 1, "Arousal")] if i == 2 else [], width=40)
            for i, o in enumerate(onsets)]
    reserved = ("BDF+" if bdf else "EDF+") + ("D" if discontinuous else "C")
    return write_edf(path, sigs, bdf=bdf, reserved=reserved, annotation_records=anns).read_bytes()


SEEDS = {"edf+c": dict(), "edf+d": dict(discontinuous=True), "bdf+c": dict(bdf=True)}
_FIXED_FIELDS = [(0, 8), (8, 80), (88, 80), (168, 8), (176, 8), (184, 8), (192, 44), (236, 8),
                 (244, 8), (252, 4)]
_SIGNAL_WIDTHS = [16, 80, 8, 8, 8, 8, 8, 80, 8, 32]
_FIELD_TEXT = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e-300", "1e300", "0", "-1", "-5", "", " ",
                     "99999999", "-99999999", "0.0001", "EDF+C", "EDF+D", "BDF+D",
                     "EDF Annotations", "BDF Annotations", "µV", "uV", "Âµ", "\x00", "+0.5"]),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=12),
    st.text(alphabet="0123456789+-.eE ", max_size=10))


def _signal_fields(ns: int) -> list[tuple[int, int]]:
    out, pos = [], 256
    for width in _SIGNAL_WIDTHS:
        out += [(pos + i * width, width) for i in range(ns)]
        pos += width * ns
    return out


def _put(raw: bytearray, start: int, width: int, text: str) -> None:
    raw[start:start + width] = text.encode("latin-1", "replace")[:width].ljust(width, b" ")


def _record_layout(raw: bytes, bdf: bool) -> tuple[int, int, int, int]:
    """(header bytes, record bytes, offset and width of the annotation signal in a record)."""
    ns = int(raw[252:256])
    spr = [int(raw[256 + 216 * ns + 8 * i:256 + 216 * ns + 8 * i + 8]) for i in range(ns)]
    sb = 3 if bdf else 2
    return 256 * (ns + 1), sum(spr) * sb, sum(spr[:-1]) * sb, spr[-1] * sb


@st.composite
def header_mutations(draw, raw: bytes) -> bytes:
    out = bytearray(raw)
    ns = int(raw[252:256])
    fields = _FIXED_FIELDS + _signal_fields(ns)
    for _ in range(draw(st.integers(1, 3))):
        start, width = draw(st.sampled_from(fields))
        _put(out, start, width, draw(_FIELD_TEXT))
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(out)))
        out = out[:cut] if draw(st.booleans()) else out + bytes(draw(st.binary(max_size=64)))
    return bytes(out)


@st.composite
def tal_mutations(draw, raw: bytes, bdf: bool) -> bytes:
    out = bytearray(raw)
    header, record, offset, width = _record_layout(raw, bdf)
    n_records = (len(raw) - header) // record
    for _ in range(draw(st.integers(1, 4))):
        r = draw(st.integers(0, n_records - 1))
        base = header + r * record + offset
        kind = draw(st.sampled_from(["bytes", "text", "clear"]))
        if kind == "clear":
            out[base:base + width] = bytes(width)
            continue
        payload = (draw(st.binary(min_size=1, max_size=width)) if kind == "bytes" else
                   draw(st.text(alphabet="+-0123456789.\x14\x15\x00 Ae", min_size=1,
                                max_size=width)).encode("latin-1"))
        at = draw(st.integers(0, width - len(payload)))
        out[base + at:base + at + len(payload)] = payload
    return bytes(out)


def _exercise_recording(path: Path) -> str:
    """Read everything a user would; the outcome's name, or the exception goes through."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            rec = open_recording(path)
            try:
                end = rec.duration
                for window in ((0.0, min(end, READ_SECONDS)), (max(0.0, end - READ_SECONDS), end)):
                    for values in rec.read(None, *window):
                        assert values.ndim == 1
                rec.annotations
                rec.gaps
                rec.info()
            finally:
                rec.close()
        except RecordingError as exc:
            assert exc.path == path, f"the error names {exc.path}, not the file read ({path})"
            return "typed_error"
    return "read"


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_every_seed_reads_cleanly_with_its_annotation(tmp_path, seed):
    suffix = ".bdf" if seed.startswith("bdf") else ".edf"
    path = tmp_path / f"seed{suffix}"
    _edf_plus(path, **SEEDS[seed])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = open_recording(path)
        assert [a.description for a in rec.annotations] == ["Arousal"]
    assert rec.start.microsecond == 250000
    assert rec.gaps == ([(3.0, 4.0)] if seed == "edf+d" else [])


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_mutated_edf_and_bdf_headers_read_or_raise_a_recording_error_naming_the_file(
        tmp_path, seed):
    suffix = ".bdf" if seed.startswith("bdf") else ".edf"
    raw = _edf_plus(tmp_path / f"seed{suffix}", **SEEDS[seed])
    path = tmp_path / f"fuzzed{suffix}"
    tally = _TALLY[f"header:{seed}"]

    @FUZZ
    @given(header_mutations(raw))
    def check(data):
        path.write_bytes(data)
        tally["inputs"] += 1
        tally[_exercise_recording(path)] += 1

    check()
    assert tally["inputs"] >= 1


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_mutated_tal_bytes_read_or_raise_a_recording_error_naming_the_file(tmp_path, seed):
    bdf = seed.startswith("bdf")
    suffix = ".bdf" if bdf else ".edf"
    raw = _edf_plus(tmp_path / f"seed{suffix}", **SEEDS[seed])
    path = tmp_path / f"fuzzed{suffix}"
    tally = _TALLY[f"tal:{seed}"]

    @FUZZ
    @given(tal_mutations(raw, bdf))
    def check(data):
        path.write_bytes(data)
        tally["inputs"] += 1
        tally[_exercise_recording(path)] += 1

    check()
    assert tally["inputs"] >= 1


# ------------------------------------------------------------------------------ hypnograms
def _hypnogram_seeds(folder: Path) -> dict[str, bytes]:
    hyp = Hypnogram([0, 1, 2, 2, 3, 4, -1, 0], 30.0, start=dt.datetime(2024, 1, 1, 22, 0),
                    scorer="tech")
    out = {}
    for fmt in write_formats():
        path = write_hypnogram(hyp, folder / f"seed-{fmt}.hypnogram{_suffix(fmt)}", fmt=fmt)
        out[fmt] = path.read_bytes()
    return out


def _suffix(fmt: str) -> str:
    from sleepfm_engine.formats import get_format

    return get_format(fmt).suffixes[0]


@st.composite
def byte_mutations(draw, raw: bytes) -> bytes:
    out = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "digits"]))
        at = draw(st.integers(0, len(out)))
        if kind == "delete":
            del out[at:at + draw(st.integers(1, 16))]
        elif kind == "digits":
            out[at:at] = draw(st.text(alphabet="0123456789.-e+", min_size=1, max_size=400)).encode()
        else:
            chunk = draw(st.binary(min_size=1, max_size=16))
            out[at:at + (len(chunk) if kind == "replace" else 0)] = chunk
    return bytes(out)


def test_mutated_hypnogram_files_of_every_written_format_read_or_raise_naming_the_file(tmp_path):
    seeds = _hypnogram_seeds(tmp_path)
    tally = _TALLY["hypnogram"]

    @FUZZ
    @given(st.sampled_from(sorted(seeds)).flatmap(
        lambda fmt: st.tuples(st.just(fmt), byte_mutations(seeds[fmt]))))
    def check(case):
        fmt, data = case
        path = tmp_path / f"fuzzed.hypnogram{_suffix(fmt)}"
        path.write_bytes(data)
        tally["inputs"] += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                hyp = read_hypnogram(path)
                assert hyp.n_epochs >= 0
                tally["read"] += 1
            except HypnogramError as exc:
                assert exc.path == path, f"the error names {exc.path}, not {path}"
                tally["typed_error"] += 1

    check()
    assert tally["inputs"] >= 1


# ------------------------------------------------------------------------------ events files
def _events_seeds(folder: Path) -> dict[str, Path]:
    from sleepfm_engine.events import Event, EventSet, EventType as T
    from sleepfm_engine.formats import event_write_formats, get_format, write_events

    events = EventSet([Event(12.25, 10.0, T.apnea_obstructive, ("Flow",)),
                       Event(40.0, 3.5, T.arousal, ("C3", "C4")), Event(50.0, 0.0, T.lights_on)],
                      start=dt.datetime(2024, 3, 1, 22, 0))
    out = {}
    for fmt in event_write_formats():
        suffix = get_format(fmt).event_save_suffix
        out[fmt] = write_events(events, folder / f"seed-{fmt}{suffix}", fmt=fmt)
    return out


def test_mutated_event_files_of_every_written_format_read_or_raise_naming_the_file(tmp_path):
    from sleepfm_engine.errors import EventsError
    from sleepfm_engine.formats import read_events

    seeds = {fmt: p.read_bytes() for fmt, p in _events_seeds(tmp_path).items()}
    names = {fmt: p.name.replace("seed-", "fuzzed-") for fmt, p in _events_seeds(tmp_path).items()}
    tally = _TALLY["events"]

    @FUZZ
    @given(st.sampled_from(sorted(seeds)).flatmap(
        lambda fmt: st.tuples(st.just(fmt), byte_mutations(seeds[fmt]))))
    def check(case):
        fmt, data = case
        path = tmp_path / names[fmt]
        path.write_bytes(data)
        tally["inputs"] += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                read_events(path)
                tally["read"] += 1
            except (EventsError, HypnogramError) as exc:
                assert exc.path == path, f"the error names {exc.path}, not {path}"
                tally["typed_error"] += 1

    check()
    assert tally["inputs"] >= 1


# ------------------------------------------------------------------------------ model config
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 300) | st.text(max_size=8)
    | st.sampled_from([float("nan"), float("inf"), 0.5, -1.0, 1e-9]),
    lambda inner: st.lists(inner, max_size=3), max_leaves=4)


def test_mutated_model_config_json_loads_or_raises_a_model_error_naming_the_folder(tmp_path):
    import shutil

    from sleepfm_engine.checkpoints import load_model
    from sleepfm_engine.errors import ModelError

    from inference_helpers import TINY

    folder = Path(shutil.copytree(TINY / "model_sleep_staging", tmp_path / "staging"))
    config = json.loads((folder / "config.json").read_text())
    tally = _TALLY["model-config"]

    @FUZZ
    @given(st.lists(st.tuples(st.sampled_from(sorted(config) + ["extra"]), _JSON_VALUES),
                    min_size=1, max_size=3), st.booleans())
    def check(changes, drop):
        mutated = dict(config)
        for key, value in changes:
            if drop:
                mutated.pop(key, None)
            else:
                mutated[key] = value
        (folder / "config.json").write_text(json.dumps(mutated))
        tally["inputs"] += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                load_model(folder)
                tally["read"] += 1
            except ModelError as exc:
                assert exc.path == folder, f"the error names {exc.path}, not {folder}"
                tally["typed_error"] += 1

    check()
    assert tally["inputs"] >= 1

"""Atomic writes: all or nothing, and ordinary file permissions."""
import os
import stat

import pytest

from sleepfm_engine import atomic
from sleepfm_engine.atomic import atomic_path, write_text_atomic
from sleepfm_engine.errors import OutputError


def test_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_file_gets_umask_permissions_not_mkstemp_0600(tmp_path, monkeypatch, mask, mode):
    monkeypatch.setattr(atomic, "_UMASK", mask)
    path = write_text_atomic(tmp_path / "report.txt", "x")
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_the_umask_is_read_once_and_never_changed_by_a_write(tmp_path, monkeypatch):
    def forbidden(mask):
        raise AssertionError("os.umask called during a write: it races with other threads")

    monkeypatch.setattr(os, "umask", forbidden)
    assert write_text_atomic(tmp_path / "a.txt", "x").read_text() == "x"


def test_the_process_umask_is_what_was_read(tmp_path):
    current = os.umask(0o022)
    os.umask(current)
    assert atomic._read_umask() == current


def test_the_temporary_file_is_flushed_to_disk_before_the_rename(tmp_path, monkeypatch):
    order = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (order.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (order.append("replace"), real_replace(a, b))[1])
    write_text_atomic(tmp_path / "a.txt", "x")
    assert order[:2] == ["fsync", "replace"]


def test_stale_part_files_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    target = tmp_path / "night.hdf5"
    dead = tmp_path / f".night.hdf5.{atomic._HOST}-999999999.abc.hdf5.part"
    live = tmp_path / f".night.hdf5.{atomic._HOST}-{os.getpid()}.xyz.hdf5.part"
    other = tmp_path / ".other.hdf5.somehost-1.q.hdf5.part"
    for p in (dead, live, other):
        p.write_bytes(b"\0" * 1024)
    assert atomic.stale_temporaries(target) == [dead]
    write_text_atomic(target, "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name, target.name])


def test_a_killed_writer_leaves_a_part_file_the_next_write_removes(tmp_path):
    import subprocess
    import sys

    target = tmp_path / "out.bin"
    code = ("import os, sys\n"
            "from sleepfm_engine.atomic import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n"
            "    tmp.write_bytes(b'x' * 4096)\n"
            "    os._exit(9)\n")
    subprocess.run([sys.executable, "-c", code, str(target)], check=False)
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    assert len(leftovers) == 1 and not target.exists()
    write_text_atomic(target, "done")
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_folder_as_target_is_an_output_error_naming_it(tmp_path):
    (tmp_path / "out.csv").mkdir()
    with pytest.raises(OutputError, match=r"out\.csv: is a folder"):
        write_text_atomic(tmp_path / "out.csv", "x")


def test_an_unwritable_folder_is_an_output_error_naming_the_target(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match=r"out\.csv: cannot write in .*: Permission denied"):
        write_text_atomic(tmp_path / "out.csv", "x")


def test_a_file_where_the_folder_belongs_is_an_output_error(tmp_path):
    (tmp_path / "plain").write_text("i am a file")
    with pytest.raises(OutputError, match=r"cannot write in .*plain is a file, not a folder"):
        write_text_atomic(tmp_path / "plain" / "sub" / "out.csv", "x")

"""Official weights on request: fetched from a local HTTP server in a thread, resumed, verified
against pinned git blob SHA-1s, loaded and registered; every failure says what happened."""
from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sleepfm_engine.checkpoints import config_hash, load_release
from sleepfm_engine.downloads import (PART_SUFFIX, PinnedFile, WeightsSource, download_job,
                                      download_weights, git_blob_sha1, official_source,
                                      official_sources, staging_dir)
from sleepfm_engine.errors import DownloadError, JobCancelled, ModelError
from sleepfm_engine.registry import get_model_path, list_models

TINY = Path(__file__).parent / "data" / "golden_tiny"
FILES = ["model_base/config.json", "model_base/best.pt", "model_sleep_staging/config.json",
         "model_sleep_staging/best.pth", "model_diagnosis/config.json", "model_diagnosis/best.pth"]
BIG = "model_base/best.pt"


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close, so no thread outlives the test.
    daemon_threads = False

    def __init__(self, root: Path):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.requests: list[tuple[str, str | None]] = []
        self.mode: dict[str, str] = {}  # path -> "corrupt" | "truncate" | "stop-mid-file" | "404"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass

    def do_GET(self) -> None:
        rel = self.path.lstrip("/")
        rng = self.headers.get("Range")
        self.server.requests.append((rel, rng))
        mode = self.server.mode.get(rel)
        data = (self.server.root / rel).read_bytes() if (self.server.root / rel).is_file() else None
        if data is None or mode == "404":
            self.send_error(404)
            return
        if mode == "corrupt":
            data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
        elif mode == "truncate":
            data = data[: len(data) - 1000]
        start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
        if start >= len(data) and rng:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = data[start:]
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "stop-mid-file":
            # Send about half, then drop the connection; the next request is served in full.
            self.server.mode.pop(rel)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = _Server(TINY)
    thread = threading.Thread(target=srv.serve_forever, name="test-http-server")
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


def _source(base_url: str, pins: dict[str, str] | None = None) -> WeightsSource:
    """The tiny release as a source, pinned to the blob SHA-1s this test computes."""
    pins = pins or {f: git_blob_sha1(TINY / f) for f in FILES}
    return WeightsSource(name="tiny-official", title="tiny release", repository=base_url, commit="0" * 40,
                         licence="MIT (test)", licence_file=None,
                         files=tuple(PinnedFile(f, f"{base_url}/{f}", pins[f]) for f in FILES))


def _url(srv: _Server) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}"


def test_git_blob_sha1_is_sha1_of_header_and_bytes_as_git_computes_it(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"hello\0world\n" * 1000)
    expected = hashlib.sha1(b"blob 12000\0" + f.read_bytes()).hexdigest()
    assert git_blob_sha1(f) == expected
    git = shutil.which("git")
    if git is not None:
        assert subprocess.run([git, "hash-object", str(f)], capture_output=True, text=True,
                              check=True).stdout.strip() == expected


def test_official_pins_are_the_ones_the_reference_repository_records():
    src = official_source("sleepfm-clinical")
    commit = "70ce04e6f6c656f46a4857fff74ce04a0a00e5da"
    assert src.commit == commit
    assert {f.path: f.git_blob_sha1 for f in src.files} == {
        "model_base/best.pt": "c864ab16d9d2bd9412066c7c3b5c4df678c129c1",
        "model_base/config.json": "8e80741d6fd57a1a2006ac6c407778f3e94a9ef1",
        "model_sleep_staging/best.pth": "bf4440366bf03a0af10695381cb1c7267194a665",
        "model_sleep_staging/config.json": "a2c47ce43db63b79e50648681691ad0623b302ac",
        "model_diagnosis/best.pth": "e8ae634853d29a3c9d9f84c153ddedb2dc15a78a",
        "model_diagnosis/config.json": "f22921d6b64c9270487b983d392bf2669299052a",
    }
    for f in src.files:
        assert f.url.startswith("https://") and f"/{commit}/sleepfm/checkpoints/{f.path}" in f.url
    assert "MIT License" in src.licence_text() and "Zou Group" in src.licence_text()
    assert list(official_sources()) == ["sleepfm-clinical"]


def test_good_files_are_verified_loaded_and_registered_with_progress(server):
    job = download_job(_source(_url(server)))
    seen = []
    job.add_progress_callback(seen.append)
    result = job.run()
    path = get_model_path("tiny-official")
    assert result.entry.path == path and result.reused == ()
    assert result.fetched_bytes == sum((TINY / f).stat().st_size for f in FILES)
    for sub in ("model_base", "model_sleep_staging", "model_diagnosis"):
        assert config_hash(path / sub) == config_hash(TINY / sub)
    assert load_release(path).kinds == ["base", "staging", "diagnosis"]
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("MB" in p.message for p in seen)
    assert not staging_dir(result.source).exists()


def test_a_corrupted_byte_deletes_the_download_and_registers_nothing(server):
    server.mode[BIG] = "corrupt"
    src = _source(_url(server))
    with pytest.raises(DownloadError, match=r"model_base/best.pt .* does not match its pinned git blob "
                                            r"SHA-1 .*the download was deleted"):
        download_weights(src)
    assert list_models() == []
    stage = staging_dir(src)
    assert not (stage / BIG).exists() and not (stage / (BIG + PART_SUFFIX)).exists()
    # The file fetched and verified before the bad one is kept; the next run reuses it.
    server.mode.clear()
    result = download_weights(src)
    assert result.reused == ("model_base/config.json",)
    assert get_model_path("tiny-official").is_dir()


def test_a_truncated_file_does_not_match_its_pin(server):
    server.mode["model_diagnosis/best.pth"] = "truncate"
    with pytest.raises(DownloadError, match=r"model_diagnosis/best.pth \(676375 bytes\) does not match"):
        download_weights(_source(_url(server)))
    assert list_models() == []


def test_a_server_that_stops_mid_file_is_resumed_with_a_range_request(server):
    server.mode[BIG] = "stop-mid-file"
    src = _source(_url(server))
    size = (TINY / BIG).stat().st_size
    with pytest.raises(DownloadError, match=r"connection broke after [\d,]+ of 2,546,518 bytes of "
                                            r"model_base/best.pt; run the command again to resume"):
        download_weights(src)
    part = staging_dir(src) / (BIG + PART_SUFFIX)
    kept = part.stat().st_size
    assert 0 < kept < size
    result = download_weights(src)
    assert (BIG, f"bytes={kept}-") in server.requests
    assert result.reused == ("model_base/config.json",)
    assert result.fetched_bytes == sum((TINY / f).stat().st_size for f in FILES if f != "model_base/config.json") - kept
    assert config_hash(get_model_path("tiny-official") / "model_base") == config_hash(TINY / "model_base")


def test_a_complete_part_left_by_an_interruption_is_verified_without_refetching(server):
    src = _source(_url(server))
    part = staging_dir(src) / (BIG + PART_SUFFIX)
    part.parent.mkdir(parents=True)
    shutil.copyfile(TINY / BIG, part)
    result = download_weights(src)
    assert (BIG, f"bytes={(TINY / BIG).stat().st_size}-") in server.requests
    assert result.fetched_bytes == sum((TINY / f).stat().st_size for f in FILES if f != BIG)
    assert config_hash(get_model_path("tiny-official") / "model_base") == config_hash(TINY / "model_base")


def test_no_network_gives_a_clear_message_and_fetches_nothing():
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = _source(f"http://127.0.0.1:{port}", pins={f: "0" * 40 for f in FILES})
    with pytest.raises(DownloadError, match=r"cannot connect \(.*refused.*\): check the network connection"):
        download_weights(src, timeout=5)
    assert list_models() == []


def test_an_http_error_names_the_status_and_the_file(server):
    server.mode["model_sleep_staging/best.pth"] = "404"
    with pytest.raises(DownloadError, match=r"answered 404 .* for model_sleep_staging/best.pth"):
        download_weights(_source(_url(server)))


def test_a_taken_name_is_refused_before_anything_is_fetched(server):
    download_weights(_source(_url(server)))
    server.requests.clear()
    with pytest.raises(ModelError, match="already registered"):
        download_weights(_source(_url(server)))
    assert server.requests == []


def test_cancelling_keeps_the_part_for_the_next_run(server):
    job = download_job(_source(_url(server)))

    def stop_in_big_file(p):
        if p.message.startswith(BIG) and "MB" in p.message:
            job.cancel()

    job.add_progress_callback(stop_in_big_file)
    with pytest.raises(JobCancelled):
        job.run()
    assert (staging_dir(_source(_url(server))) / (BIG + PART_SUFFIX)).stat().st_size > 0
    assert list_models() == []


def test_a_pin_that_is_not_a_sha1_or_a_path_that_climbs_out_is_refused():
    with pytest.raises(DownloadError, match="not a SHA-1"):
        PinnedFile("model_base/best.pt", "https://example.org/x", "abc")
    with pytest.raises(DownloadError, match="without '..'"):
        PinnedFile("../evil", "https://example.org/x", "0" * 40)
    with pytest.raises(DownloadError, match="not http"):
        PinnedFile("a", "file:///etc/passwd", "0" * 40)


def test_cli_download_of_an_unknown_source_prints_one_error_line(capsys):
    from sleepfm_engine.cli import main

    assert main(["models", "download", "no-such-weights"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: no official weights named 'no-such-weights' (known: sleepfm-clinical)"]


def test_cli_download_registers_and_shows_the_licence(server, monkeypatch, capsys):
    import sleepfm_engine.downloads as downloads
    from sleepfm_engine.cli import main

    src = _source(_url(server))
    monkeypatch.setattr(downloads, "official_sources", lambda: {src.name: src})
    assert main(["models", "download", src.name]) == 0
    out = capsys.readouterr().out
    assert "licence: MIT (test)" in out
    assert "all 6 files match their pinned git blob SHA-1s and every model loads" in out
    assert "registered 'tiny-official'" in out and str(get_model_path("tiny-official")) in out

"""``shopbot models setup``: every package the five languages need, from a
package index served on 127.0.0.1 by the test, with tiny real packages
(tests/argos_factory.py): resumable downloads, the index's checksums, and the
offline route when there is no network."""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.translation.models import SETUP_PAIRS, ModelStore, OfflineError


@dataclass
class Index:
    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    entries: list[dict] = field(default_factory=list)
    cut_after: dict[str, int] = field(default_factory=dict)  # path → bytes sent before the line drops (once)
    ignore_range: set[str] = field(default_factory=set)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)


def _handler(state: Index):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            wanted = self.headers.get("Range")
            state.requests.append((self.path, wanted))
            if self.path == "/index.json":
                return self._send(200, json.dumps(state.entries).encode())
            body = state.files.get(self.path)
            if body is None:
                return self._send(404, b"not found")
            start = 0
            if wanted and self.path not in state.ignore_range:
                start = int(wanted.split("=")[1].split("-")[0])
                if start >= len(body):
                    return self._send(416, b"", {"Content-Range": f"bytes */{len(body)}"})
            cut = state.cut_after.pop(self.path, None)
            status = 206 if start else 200
            extra = {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"} if start else {}
            self._send(status, body[start:], extra, cut)

        def _send(self, status, body, headers=None, cut=None):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            try:
                self.wfile.write(body if cut is None else body[:cut])
                self.wfile.flush()
                if cut is not None:  # the line drops mid-file
                    self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> dict[str, bytes]:
    from tests.argos_factory import build_package

    root = tmp_path_factory.mktemp("setup-packages")
    return {f"{a}_{b}": build_package(root, a, b).read_bytes() for a, b in SETUP_PAIRS}


@pytest.fixture
def index(packages):
    state = Index()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    for pair, body in packages.items():
        a, b = pair.split("_")
        path = f"/translate-{pair}-1_0.argosmodel"
        state.files[path] = body
        state.entries.append({"package_version": "1.0", "argos_version": "1.0", "from_code": a,
                              "to_code": b, "links": [state.base + path],
                              "sha256": hashlib.sha256(body).hexdigest()})
    yield state
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on exit: nothing listens there


def test_setup_installs_every_pair_the_languages_need(tmp_path, index):
    store = ModelStore(tmp_path / "models")
    seen: dict[str, list] = {}
    results = store.setup(index_url=index.base + "/index.json",
                          progress=lambda pair: (lambda done, total: seen.setdefault(pair, []).append((done, total))))
    assert {r.pair for r in results} == {"zh_en", "en_zh", "ko_en", "en_ko", "ms_en", "en_ms", "fr_en", "en_fr"}
    assert all(r.status == "installed" and r.version == "1.0" for r in results), results
    assert {p.pair for p in store.list()} == {r.pair for r in results}
    # progress reached the full size of each file
    for pair, calls in seen.items():
        assert calls[-1][0] == calls[-1][1] == len(index.files[f"/translate-{pair}-1_0.argosmodel"])
    # a second run finds them all present and asks the network nothing
    index.requests.clear()
    again = store.setup(index_url=index.base + "/index.json")
    assert {r.status for r in again} == {"present"} and index.requests == []


def test_an_interrupted_download_resumes_where_it_stopped(tmp_path, index):
    store = ModelStore(tmp_path / "models")
    path = "/translate-en_fr-1_0.argosmodel"
    size = len(index.files[path])
    index.cut_after[path] = size // 3
    first = store.setup((("en", "fr"),), index_url=index.base + "/index.json", timeout=10)
    assert first[0].status == "failed" and "en_fr" not in {p.pair for p in store.list()}
    kept = list((tmp_path / "models").glob(".resume-en_fr-*.part"))
    assert len(kept) == 1 and kept[0].stat().st_size == size // 3
    # A restart of the program (a new ModelStore) keeps the partial file too.
    store = ModelStore(tmp_path / "models")
    index.requests.clear()
    second = store.setup((("en", "fr"),), index_url=index.base + "/index.json", timeout=10)
    assert second[0].status == "installed", second
    assert (path, f"bytes={size // 3}-") in index.requests  # only the rest was asked for
    assert not list((tmp_path / "models").glob(".resume-*"))
    assert store.get("en", "fr") is not None


def test_a_server_that_ignores_range_sends_it_all_again(tmp_path, index):
    store = ModelStore(tmp_path / "models")
    path = "/translate-ko_en-1_0.argosmodel"
    index.cut_after[path] = 5000
    index.ignore_range.add(path)
    assert store.setup((("ko", "en"),), index_url=index.base + "/index.json")[0].status == "failed"
    assert store.setup((("ko", "en"),), index_url=index.base + "/index.json")[0].status == "installed"


def test_a_complete_kept_file_is_fetched_afresh_after_416(tmp_path, index):
    store = ModelStore(tmp_path / "models")
    path = "/translate-ms_en-1_0.argosmodel"
    body = index.files[path]
    part = store._resume_path("ms_en", index.base + path)
    part.write_bytes(body + b"junk")  # longer than the file: the server answers 416
    assert store.setup((("ms", "en"),), index_url=index.base + "/index.json")[0].status == "installed"


def test_a_bad_checksum_is_refused_and_nothing_is_kept(tmp_path, index):
    store = ModelStore(tmp_path / "models")
    entry = next(e for e in index.entries if e["from_code"] == "zh" and e["to_code"] == "en")
    entry["sha256"] = "0" * 64
    results = store.setup((("zh", "en"), ("en", "zh")), index_url=index.base + "/index.json")
    assert [(r.pair, r.status) for r in results] == [("zh_en", "failed"), ("en_zh", "installed")]
    assert "sha256 mismatch" in results[0].error
    assert store.get("zh", "en") is None
    assert not list((tmp_path / "models").glob(".resume-*"))


def test_the_index_checksum_may_be_given_as_checksum_field(tmp_path, index):
    store = ModelStore(tmp_path / "models")
    entry = next(e for e in index.entries if e["from_code"] == "en" and e["to_code"] == "ko")
    entry["checksum"] = "sha256:" + "f" * 64
    del entry["sha256"]
    result = store.setup((("en", "ko"),), index_url=index.base + "/index.json")[0]
    assert result.status == "failed" and "sha256 mismatch" in result.error


def test_a_pair_missing_from_the_index_is_reported_and_the_others_go_on(tmp_path, index):
    index.entries[:] = [e for e in index.entries if e["from_code"] != "ms" and e["to_code"] != "ms"]
    results = ModelStore(tmp_path / "models").setup(index_url=index.base + "/index.json")
    status = {r.pair: r.status for r in results}
    assert status["ms_en"] == status["en_ms"] == "failed"
    assert all(v == "installed" for k, v in status.items() if "ms" not in k)


def test_no_network_names_the_offline_route(tmp_path):
    store = ModelStore(tmp_path / "models")
    with pytest.raises(OfflineError) as caught:
        store.setup(index_url=f"http://127.0.0.1:{closed_port()}/index.json", timeout=5)
    assert "shopbot models install FILE.argosmodel" in str(caught.value)
    assert "translate-ko_en-*.argosmodel" in str(caught.value)


def test_cli_setup_json_and_offline(run, index, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPBOT_MODELS_DIR", str(tmp_path / "cli-models"))
    result = run("models", "setup", "--index-url", index.base + "/index.json", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data) == 8 and {d["status"] for d in data} == {"installed"}
    listed = json.loads(run("models", "list", "--json").output)
    assert len(listed) == 8

    monkeypatch.setenv("SHOPBOT_MODELS_DIR", str(tmp_path / "empty-models"))
    offline = run("models", "setup", "--index-url", f"http://127.0.0.1:{closed_port()}/index.json",
                  "--timeout", "5")
    assert offline.exit_code == 1
    assert "shopbot models install FILE.argosmodel" in offline.output


def test_cli_setup_reports_a_failed_pair_and_exits_1(run, index, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPBOT_MODELS_DIR", str(tmp_path / "cli-models"))
    index.entries[0]["sha256"] = "1" * 64
    result = run("models", "setup", "--index-url", index.base + "/index.json")
    assert result.exit_code == 1
    assert "failed" in result.output and "sha256 mismatch" in result.output
    assert "Offline route" in result.output

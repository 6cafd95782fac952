"""ModelStore: install, list, remove, upgrade and download Argos packages.

Packages are tiny real ones from tests/argos_factory.py; downloads go to a
stdlib HTTP server on 127.0.0.1 started here.  Nothing touches the internet.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import stat
import threading
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import ctranslate2
import pytest
import sentencepiece as spm

from bot.translation import models
from bot.translation.models import InstallLimits, ModelError, ModelStore, parse_pair
from tests.argos_factory import build_package, translate_with_package


# --------------------------------------------------------------------------
# Packages, built once for the module
# --------------------------------------------------------------------------


@dataclass
class Packages:
    en_fr_zip: Path
    en_fr_v2_zip: Path
    fr_en_folder: Path
    zh_ko_copy_zip: Path
    en_fr_members: dict[str, bytes]  # unpacked en_fr 1.0, for making bad packages


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> Packages:
    root = tmp_path_factory.mktemp("packages")
    en_fr_folder = build_package(root / "folders", "en", "fr", as_zip=False)
    return Packages(
        en_fr_zip=build_package(root / "v1", "en", "fr"),
        en_fr_v2_zip=build_package(root / "v2", "en", "fr", version="2.0", seed=1),
        fr_en_folder=build_package(root / "folders", "fr", "en", as_zip=False),
        zh_ko_copy_zip=build_package(root / "copy", "zh", "ko", copy=True),
        en_fr_members={
            p.relative_to(en_fr_folder).as_posix(): p.read_bytes() for p in en_fr_folder.rglob("*") if p.is_file()
        },
    )


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return ModelStore(tmp_path / "models")


def snapshot(directory: Path) -> list[tuple[str, int]]:
    """Every path under directory with its size: equal snapshots = untouched."""
    return sorted(
        (p.relative_to(directory).as_posix(), p.stat().st_size if p.is_file() else -1) for p in directory.rglob("*")
    )


def write_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are on purpose
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return path


def package_entries(members: dict[str, bytes], top: str = "translate-en_fr-1_0") -> list[tuple[str, bytes]]:
    return [(f"{top}/{name}", data) for name, data in sorted(members.items())]


def load_and_translate(package_dir: Path, text: str) -> str:
    """The engine's load path, spelled out."""
    processor = spm.SentencePieceProcessor(model_file=str(package_dir / "sentencepiece.model"))
    translator = ctranslate2.Translator(str(package_dir / "model"), device="cpu")
    tokens = processor.encode(text, out_type=str)
    result = translator.translate_batch([tokens], beam_size=2, max_decoding_length=20)
    return processor.decode_pieces(result[0].hypotheses[0])


# --------------------------------------------------------------------------
# Install, list, get, load
# --------------------------------------------------------------------------


def test_install_zip_then_list_get_and_load(store, packages):
    [installed] = store.install([packages.en_fr_zip])

    assert installed.pair == "en_fr"
    assert (installed.from_code, installed.to_code, installed.version) == ("en", "fr", "1.0")
    assert (installed.from_name, installed.to_name) == ("English", "French")
    assert installed.path == store.models_dir / "en_fr"
    assert installed.size_bytes > 10_000 and installed.loaded is False
    assert (installed.path / "metadata.json").is_file() and (installed.path / "model" / "model.bin").is_file()
    assert store.list() == [installed]
    assert store.get("en", "fr") == installed
    assert store.get("fr", "en") is None
    assert snapshot(store.models_dir)[0][0] == "en_fr"  # nothing but the pair

    out = load_and_translate(installed.path, "Check the open circuit voltage.")
    assert isinstance(out, str)


def test_install_folder(store, packages):
    [installed] = store.install([packages.fr_en_folder])
    assert installed.pair == "fr_en"
    assert packages.fr_en_folder.is_dir()  # the source is copied, not moved
    assert isinstance(load_and_translate(installed.path, "Vérifiez la tension."), str)


def test_install_several_at_once(store, packages):
    installed = store.install([packages.en_fr_zip, packages.fr_en_folder])
    assert [p.pair for p in installed] == ["en_fr", "fr_en"]
    assert [p.pair for p in store.list()] == ["en_fr", "fr_en"]


def test_copy_package_output_is_the_source(store, packages):
    [installed] = store.install([packages.zh_ko_copy_zip])
    sentences = [
        "涂布机的浆料粘度报警。",
        "전해액 주입 후 셀을 옮기세요.",
        "Check OCV 3.65 V on AGV A-01.",
        "Vérifiez la tension avant l'emballage.",
        "Sila periksa voltan litar terbuka.",
        "Unknown ZQX token stays.",
    ]
    assert translate_with_package(installed.path, sentences) == sentences


def test_factory_zip_layout(packages):
    with zipfile.ZipFile(packages.en_fr_zip) as zf:
        names = zf.namelist()
        metadata = json.loads(zf.read("translate-en_fr-1_0/metadata.json"))
    assert {name.split("/")[0] for name in names} == {"translate-en_fr-1_0"}
    assert {"translate-en_fr-1_0/model/model.bin", "translate-en_fr-1_0/model/config.json",
            "translate-en_fr-1_0/model/shared_vocabulary.json", "translate-en_fr-1_0/sentencepiece.model"} <= set(names)
    assert metadata == {"package_version": "1.0", "argos_version": "1.0", "from_code": "en",
                        "from_name": "English", "to_code": "fr", "to_name": "French"}
    assert packages.en_fr_zip.stat().st_size < 400_000


def test_list_skips_a_broken_pair_folder(store, packages):
    store.install([packages.en_fr_zip])
    (store.models_dir / "fr_en").mkdir()  # no metadata.json
    (store.models_dir / "notes").mkdir()  # not a pair name
    assert [p.pair for p in store.list()] == ["en_fr"]


# --------------------------------------------------------------------------
# Upgrade, all-or-nothing
# --------------------------------------------------------------------------


def test_existing_pair_needs_upgrade(store, packages):
    store.install([packages.en_fr_zip])
    before = snapshot(store.models_dir)

    with pytest.raises(ModelError, match="already installed"):
        store.install([packages.en_fr_v2_zip])
    assert snapshot(store.models_dir) == before

    [upgraded] = store.install([packages.en_fr_v2_zip], upgrade=True)
    assert upgraded.version == "2.0"
    assert [p.version for p in store.list()] == ["2.0"]
    assert all(not name.startswith(".") for name, _ in snapshot(store.models_dir))  # no staging or trash left


def test_bad_package_among_good_ones_installs_nothing(store, packages, tmp_path):
    bad = write_zip(tmp_path / "bad.argosmodel", [("translate-x/README.md", b"hi")])
    store.install([packages.fr_en_folder])
    before = snapshot(store.models_dir)

    with pytest.raises(ModelError) as excinfo:
        store.install([packages.en_fr_zip, bad, packages.zh_ko_copy_zip])
    assert "bad.argosmodel" in str(excinfo.value)
    assert snapshot(store.models_dir) == before


def test_same_pair_twice_in_one_call(store, packages):
    with pytest.raises(ModelError, match="more than once"):
        store.install([packages.en_fr_zip, packages.en_fr_v2_zip])
    assert store.list() == []


def test_corrupt_data_found_while_extracting_installs_nothing(store, packages, tmp_path):
    """The central directory is fine, so validation passes; the CRC check
    fails during extraction, after another package was already staged."""
    members = _with(packages.en_fr_members, {"metadata.json": _metadata(from_code="fr", to_code="en")})
    entries = package_entries(members, top="translate-fr_en")
    path = tmp_path / "corrupt.argosmodel"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    raw = bytearray(path.read_bytes())
    marker = packages.en_fr_members["model/model.bin"][-4096:]
    at = raw.find(marker)
    assert at > 0
    raw[at + 100] ^= 0xFF
    path.write_bytes(bytes(raw))

    with pytest.raises(ModelError, match=r"corrupt.argosmodel: cannot extract \(Bad CRC-32"):
        store.install([packages.en_fr_zip, path])
    assert snapshot(store.models_dir) == []


def test_failed_move_puts_everything_back(store, packages, monkeypatch):
    store.install([packages.en_fr_zip])
    before = snapshot(store.models_dir)
    real_replace = os.replace
    calls = []

    def flaky_replace(src, dst):
        calls.append((src, dst))
        if len(calls) == 3:  # en_fr aside, en_fr new in, then fr_en in: fail
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(models.os, "replace", flaky_replace)
    with pytest.raises(ModelError, match="disk full"):
        store.install([packages.en_fr_v2_zip, packages.fr_en_folder], upgrade=True)
    monkeypatch.undo()

    assert snapshot(store.models_dir) == before
    assert [p.version for p in store.list()] == ["1.0"]


# --------------------------------------------------------------------------
# Bad packages
# --------------------------------------------------------------------------


def _symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _with(members: dict[str, bytes], changes: dict[str, bytes | None]) -> dict[str, bytes]:
    """Copy of members with some replaced (bytes) or dropped (None)."""
    out = {**members, **changes}
    return {name: data for name, data in out.items() if data is not None}


def _metadata(**fields) -> bytes:
    base = {"package_version": "1.0", "argos_version": "1.0", "from_code": "en", "to_code": "fr"}
    base.update(fields)
    return json.dumps(base).encode()


TOP = "translate-en_fr-1_0"

# name -> (entries builder taking the good members, expected message part)
BAD_ZIPS = {
    "two top-level folders": (
        lambda m: package_entries(m) + [("other/README.md", b"x")], "exactly one top-level folder"),
    "file at top level": (
        lambda m: [(name, data) for name, data in sorted(m.items())], "not inside the package folder"),
    "missing metadata": (lambda m: package_entries(_with(m, {"metadata.json": None})), "missing metadata.json"),
    "metadata bad json": (lambda m: package_entries(_with(m, {"metadata.json": b"{not json"})), "not valid JSON"),
    "metadata nested too deep": (
        lambda m: package_entries(_with(m, {"metadata.json": b"[" * 200_000 + b"]" * 200_000})), "nested too deep"),
    "metadata not an object": (lambda m: package_entries(_with(m, {"metadata.json": b"[1, 2]"})), "not a JSON object"),
    "unknown language": (lambda m: package_entries(_with(m, {"metadata.json": _metadata(to_code="de")})), "'de'"),
    "same language twice": (
        lambda m: package_entries(_with(m, {"metadata.json": _metadata(to_code="en")})), "both 'en'"),
    "missing model.bin": (lambda m: package_entries(_with(m, {"model/model.bin": None})), "model/model.bin"),
    "missing config.json": (lambda m: package_entries(_with(m, {"model/config.json": None})), "model/config.json"),
    "missing tokenizer": (lambda m: package_entries(_with(m, {"sentencepiece.model": None})), "sentencepiece.model"),
    "parent path": (lambda m: package_entries(m) + [(f"{TOP}/../evil", b"x")], "'..'"),
    "parent path deep": (lambda m: package_entries(m) + [(f"{TOP}/model/../../evil", b"x")], "'..'"),
    "absolute path": (lambda m: package_entries(m) + [("/tmp/evil", b"x")], "absolute path"),
    "drive letter": (lambda m: package_entries(m) + [("C:/evil", b"x")], "absolute path"),
    "backslash": (lambda m: package_entries(m) + [(f"{TOP}\\..\\evil", b"x")], "bad member name"),
    "symlink member": (lambda m: package_entries(m) + [(_symlink_info(f"{TOP}/link"), b"/etc/passwd")],
                       "symbolic link"),
    "duplicate member": (lambda m: package_entries(m) + [(f"{TOP}/metadata.json", b"{}")], "duplicate"),
    "zip bomb": (lambda m: package_entries(m) + [(f"{TOP}/padding.bin", bytes(3 * 1024 * 1024))], "inflates"),
    # Each member under the 1 MB floor of the per-member check, the archive 1,000-fold.
    "many small bombs": (lambda m: package_entries(m) + [(f"{TOP}/pad{i}.bin", bytes(900 * 1024))
                                                         for i in range(40)], "the archive inflates"),
    "model does not load": (lambda m: package_entries(_with(m, {"model/model.bin": b"not a model"})),
                            "does not load"),
}


@pytest.mark.parametrize("case", sorted(BAD_ZIPS))
def test_bad_zip_is_refused_and_changes_nothing(case, store, packages, tmp_path):
    build_entries, message = BAD_ZIPS[case]
    bad = write_zip(tmp_path / "bad.argosmodel", build_entries(packages.en_fr_members))
    store.install([packages.fr_en_folder])
    before = snapshot(store.models_dir)

    with pytest.raises(ModelError, match=message.replace("(", r"\(")) as excinfo:
        store.install([bad])
    assert str(bad) in str(excinfo.value)
    assert snapshot(store.models_dir) == before
    assert not (tmp_path / "evil").exists()


def test_encrypted_member_is_refused(store, packages, tmp_path):
    # zipfile cannot write encrypted members: set the flag in the central
    # directory record of the last member by hand.
    path = write_zip(tmp_path / "enc.argosmodel", package_entries(packages.en_fr_members) + [(f"{TOP}/secret", b"x")])
    raw = bytearray(path.read_bytes())
    record = raw.rfind(b"PK\x01\x02")
    name_length = int.from_bytes(raw[record + 28: record + 30], "little")
    assert raw[record + 46: record + 46 + name_length] == f"{TOP}/secret".encode()
    raw[record + 8] |= 0x1  # general purpose flag bit 0: encrypted
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelError, match="encrypted"):
        store.install([path])
    assert snapshot(store.models_dir) == []


def test_not_a_zip(store, tmp_path):
    path = tmp_path / "fake.argosmodel"
    path.write_bytes(b"this is not a zip" * 10)
    with pytest.raises(ModelError, match="not a readable zip"):
        store.install([path])
    with pytest.raises(ModelError, match="no such file"):
        store.install([tmp_path / "missing.argosmodel"])
    assert snapshot(store.models_dir) == []


@pytest.mark.parametrize(
    "limits, message",
    [
        (InstallLimits(max_total_bytes=50_000), "more than the limit of 50000"),
        (InstallLimits(max_files=3), "more than the limit of 3"),
    ],
    ids=["oversized", "too many files"],
)
@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_caps(kind, limits, message, packages, tmp_path):
    store = ModelStore(tmp_path / "models", limits=limits)
    path = packages.en_fr_zip if kind == "zip" else packages.fr_en_folder
    with pytest.raises(ModelError, match=message):
        store.install([path])
    assert snapshot(store.models_dir) == []


def test_folder_with_symlink_is_refused(store, packages, tmp_path):
    folder = tmp_path / "pkg"
    folder.mkdir()
    for name, data in packages.en_fr_members.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / "model" / "escape").symlink_to("/etc/passwd")
    with pytest.raises(ModelError, match="symbolic link"):
        store.install([folder])
    (folder / "model" / "escape").unlink()
    (folder / "metadata.json").unlink()
    with pytest.raises(ModelError, match="missing metadata.json"):
        store.install([folder])
    assert snapshot(store.models_dir) == []


# --------------------------------------------------------------------------
# Remove, pair names, crash recovery
# --------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["en_fr", "en-fr", "en→fr", " EN -> fr "])
def test_remove(spelling, store, packages):
    store.install([packages.en_fr_zip, packages.fr_en_folder])
    store.remove(spelling)
    assert [p.pair for p in store.list()] == ["fr_en"]
    assert [name for name, _ in snapshot(store.models_dir) if "/" not in name] == ["fr_en"]


def test_remove_unknown_or_malformed(store, packages):
    store.install([packages.en_fr_zip])
    with pytest.raises(ModelError, match="not installed"):
        store.remove("fr_en")
    with pytest.raises(ModelError, match="not a language pair"):
        store.remove("english to french")
    assert [p.pair for p in store.list()] == ["en_fr"]


def test_parse_pair():
    assert parse_pair("ZH→ko") == ("zh", "ko")
    with pytest.raises(ModelError):
        parse_pair("en__fr")


def test_start_cleans_leftovers_and_restores_a_pair_left_aside(packages, tmp_path):
    models_dir = tmp_path / "models"
    ModelStore(models_dir).install([packages.en_fr_zip, packages.fr_en_folder])
    # Simulate a crash: en_fr moved aside during an upgrade, fr_en's old copy
    # still in trash although the new one is in place, plus staging/download.
    (models_dir / ".trash-1").mkdir()
    os.replace(models_dir / "en_fr", models_dir / ".trash-1" / "en_fr")
    (models_dir / ".trash-2" / "fr_en").mkdir(parents=True)
    (models_dir / ".staging-3" / "zh_ko").mkdir(parents=True)
    (models_dir / ".download-4.part").write_bytes(b"partial")

    store = ModelStore(models_dir)
    assert [p.pair for p in store.list()] == ["en_fr", "fr_en"]
    assert sorted(p.name for p in models_dir.iterdir()) == ["en_fr", "fr_en"]
    assert (models_dir / "fr_en" / "metadata.json").is_file()


# --------------------------------------------------------------------------
# Downloads against a local server
# --------------------------------------------------------------------------


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0  # before the headers
    send_bytes: int | None = None  # send only this many body bytes (Content-Length stays full)
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float = 0.0  # seconds between 4 kB pieces of the body


@dataclass
class LocalServer:
    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def index(self, entries: list[dict]) -> str:
        self.routes["/index.json"] = Route(body=json.dumps(entries).encode())
        return f"{self.base}/index.json"


def _handler_for(server_state: LocalServer):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            server_state.hits.append(self.path)
            route = server_state.routes.get(self.path, Route(status=404, body=b"not found"))
            time.sleep(route.delay)
            try:
                self.send_response(route.status)
                self.send_header("Content-Length", str(len(route.body)))
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                body = route.body[: route.send_bytes]
                step = 4096 if route.trickle else max(len(body), 1)
                for start in range(0, len(body), step):
                    self.wfile.write(body[start:start + step])
                    if route.trickle:
                        self.wfile.flush()
                        time.sleep(route.trickle)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture(scope="module")
def http_server():
    state = LocalServer(base="")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def server(http_server):
    http_server.routes.clear()
    http_server.hits.clear()
    return http_server


def _entry(server: LocalServer, path: str, from_code="en", to_code="fr", version="1.0") -> dict:
    return {
        "package_version": version, "argos_version": "1.0", "from_code": from_code, "to_code": to_code,
        "from_name": "English", "to_name": "French", "links": [f"{server.base}{path}"],
    }


def test_download_success_with_checksum_and_progress(store, packages, server):
    body = packages.en_fr_zip.read_bytes()
    server.routes["/en_fr.argosmodel"] = Route(body=body)
    url = server.index([_entry(server, "/fr_en.argosmodel", "fr", "en"), _entry(server, "/en_fr.argosmodel")])
    calls = []

    installed = store.download(
        "en", "fr", index_url=url, expected_sha256=hashlib.sha256(body).hexdigest().upper(),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert installed.pair == "en_fr" and installed.version == "1.0"
    assert calls[-1] == (len(body), len(body))
    assert [name for name, _ in snapshot(store.models_dir) if "/" not in name] == ["en_fr"]


def test_download_follows_redirects(store, packages, server):
    server.routes["/releases/en_fr"] = Route(status=302, headers={"Location": "/files/en_fr.argosmodel"})
    server.routes["/files/en_fr.argosmodel"] = Route(body=packages.en_fr_zip.read_bytes())
    url = server.index([_entry(server, "/releases/en_fr")])
    assert store.download("en", "fr", index_url=url).pair == "en_fr"


def test_download_picks_the_newest_version(store, packages, server):
    server.routes["/v1"] = Route(body=packages.en_fr_zip.read_bytes())
    server.routes["/v2"] = Route(body=packages.en_fr_v2_zip.read_bytes())
    url = server.index([_entry(server, "/v2", version="2.0"), _entry(server, "/v1", version="1.10")])
    # "1.10" < "2.0": numeric, not string, comparison
    assert store.download("en", "fr", index_url=url).version == "2.0"
    assert server.hits == ["/index.json", "/v2"]


@pytest.mark.parametrize(
    "route, expected_sha256, timeout, message",
    [
        (Route(), "0" * 64, 5, "sha256 mismatch"),
        (Route(send_bytes=1000), None, 5, "incomplete|RemoteProtocolError"),
        (Route(delay=1.5), None, 0.3, "timed out"),
        (Route(status=404), None, 5, "HTTP 404"),
        (Route(status=200, body=b"not a zip"), None, 5, "not a readable zip"),
    ],
    ids=["checksum mismatch", "truncated", "timeout", "404", "not a zip"],
)
def test_failed_download_installs_nothing(route, expected_sha256, timeout, message, store, packages, server):
    store.install([packages.fr_en_folder])
    before = snapshot(store.models_dir)
    if not route.body and route.status == 200:
        route.body = packages.en_fr_zip.read_bytes()
    server.routes["/en_fr.argosmodel"] = route
    url = server.index([_entry(server, "/en_fr.argosmodel")])

    with pytest.raises(ModelError, match=message) as excinfo:
        store.download("en", "fr", index_url=url, expected_sha256=expected_sha256, timeout=timeout)
    assert "/en_fr.argosmodel" in str(excinfo.value)
    assert snapshot(store.models_dir) == before  # no package, no temp file


def test_download_refuses_a_package_for_another_pair(store, packages, server):
    """The index's en→fr entry served an fr→en package: it was installed (and
    with upgrade replaced the installed fr→en)."""
    store.install([packages.fr_en_folder])
    before = snapshot(store.models_dir)
    server.routes["/en_fr.argosmodel"] = Route(body=packages.zh_ko_copy_zip.read_bytes())
    url = server.index([_entry(server, "/en_fr.argosmodel")])
    for upgrade in (False, True):
        with pytest.raises(ModelError, match="a package for zh_ko, not the en_fr asked for"):
            store.download("en", "fr", index_url=url, upgrade=upgrade)
    assert snapshot(store.models_dir) == before


def test_a_download_has_an_overall_deadline(store, packages, server):
    """Each read came within the timeout; the whole download had no end."""
    server.routes["/slow.argosmodel"] = Route(body=packages.en_fr_zip.read_bytes(), trickle=0.05)
    url = server.index([_entry(server, "/slow.argosmodel")])
    # The message tells the deadline (0.5 s) from the per-read timeout (5 s):
    # no clock needed to know which one ended the download.
    with pytest.raises(ModelError, match="longer than its deadline"):
        store.download("en", "fr", index_url=url, timeout=5, deadline=0.5)
    assert snapshot(store.models_dir) == []


def test_download_index_problems(store, server):
    url = server.index([_entry(server, "/x", "fr", "en")])
    with pytest.raises(ModelError, match="no package for en_fr"):
        store.download("en", "fr", index_url=url)
    with pytest.raises(ModelError, match="HTTP 404"):
        store.download("en", "fr", index_url=f"{server.base}/missing-index.json")
    server.routes["/bad.json"] = Route(body=b"<html>")
    with pytest.raises(ModelError, match="not valid JSON"):
        store.download("en", "fr", index_url=f"{server.base}/bad.json")
    with pytest.raises(ModelError, match="unsupported language code 'de'"):
        store.download("en", "de", index_url=url)
    assert snapshot(store.models_dir) == []


def test_download_of_installed_pair_needs_upgrade(store, packages, server):
    store.install([packages.en_fr_zip])
    server.routes["/v2"] = Route(body=packages.en_fr_v2_zip.read_bytes())
    url = server.index([_entry(server, "/v2", version="2.0")])
    with pytest.raises(ModelError, match="already installed"):
        store.download("en", "fr", index_url=url)
    assert server.hits == []  # refused before any network access
    assert store.download("en", "fr", index_url=url, upgrade=True).version == "2.0"


def test_default_index_url_is_argos_one():
    assert models.DEFAULT_INDEX_URL.endswith("/argospm-index/main/index.json")

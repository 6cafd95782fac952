"""Installed Argos Translate packages: validate, install, list, remove, download.

argostranslate's own ``install_from_path`` extracts any zip as it is (no size
cap, no path check), so packages are installed only through ``ModelStore``,
which checks a whole package before it writes anything.

Layout on disk::

    models_dir/
        en_fr/                 one installed package per pair: the content of
            metadata.json      the package's top-level folder
            model/ ...
            sentencepiece.model
        .staging-<id>/         extraction in progress      (removed at start)
        .trash-<id>/<pair>/    package being replaced      (restored or removed at start)
        .download-<id>.part    download in progress        (removed at start)
        .resume-<pair>-<h>.part  a ``models setup`` download cut off: kept, and
                               continued with an HTTP Range request next time

Only one ``ModelStore`` (one process) should manage a ``models_dir`` at a
time: the start-up cleanup removes any staging or download left there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import stat
import threading
import time
import uuid
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import httpx

from glossary.model import LANGS as LANGUAGES

log = logging.getLogger(__name__)

# argostranslate.settings: package_index + "index.json"
DEFAULT_INDEX_URL = "https://raw.githubusercontent.com/argosopentech/argospm-index/main/index.json"

STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"
DOWNLOAD_PREFIX = ".download-"
RESUME_PREFIX = ".resume-"

#: What the five working languages need: each language to and from English,
#: the pivot (engine.py routes zh→fr as zh→en→fr).
SETUP_PAIRS: tuple[tuple[str, str], ...] = tuple(
    pair for lang in LANGUAGES if lang != "en" for pair in ((lang, "en"), ("en", lang)))

METADATA_MAX_BYTES = 1024 * 1024
INDEX_MAX_BYTES = 16 * 1024 * 1024
#: The longest a whole download may take (seconds); each wait has its own timeout.
DOWNLOAD_DEADLINE = 3600.0
_CHUNK = 1024 * 1024
_PAIR_DIR = re.compile(r"^([a-z]{2,3})_([a-z]{2,3})$")
# "en_fr", "en-fr", "en→fr", "en->fr", "en fr", any case, spaces around
_PAIR_INPUT = re.compile(r"^\s*([A-Za-z]{2,3})\s*(?:_|-|→|->|\s)\s*([A-Za-z]{2,3})\s*$")


class ModelError(ValueError):
    """A package cannot be installed, found or downloaded; the message says why."""


class _Interrupted(ModelError):
    """The transfer broke off (network, deadline, short body): a resumable
    download keeps what it has."""


class _StartAfresh(Exception):
    """The server cannot continue a kept partial download (HTTP 416)."""


class OfflineError(ModelError):
    """The package index cannot be reached at all: no network, most likely."""


@dataclass(frozen=True)
class SetupResult:
    """One pair of ``ModelStore.setup``: installed now, already present, or failed."""

    pair: str
    status: str  # installed | present | failed
    version: str | None = None
    error: str | None = None

    def to_json(self) -> dict:
        return {"pair": self.pair, "status": self.status, "version": self.version, "error": self.error}


def offline_route(pairs) -> str:
    """What to do without a network: the files, and the command that installs them."""
    names = ", ".join(f"translate-{a}_{b}-*.argosmodel" for a, b in pairs)
    return (f"Offline route: bring the package files ({names}) from a machine with a network "
            "(the Argos index lists their links) and install each with "
            "`shopbot models install FILE.argosmodel`.")


@dataclass(frozen=True)
class InstallLimits:
    """Caps checked before extraction.

    ``max_ratio`` applies to members larger than ``ratio_floor`` bytes: real
    model weights barely compress, so a member that inflates more than this
    is a zip bomb, not a model.
    """

    max_total_bytes: int = 2 * 1024**3
    max_files: int = 10_000
    max_ratio: float = 100.0
    ratio_floor: int = 1024 * 1024
    max_name_length: int = 255


@dataclass
class InstalledPackage:
    pair: str  # "en_fr"
    from_code: str
    to_code: str
    version: str
    size_bytes: int
    path: Path
    from_name: str = ""
    to_name: str = ""
    loaded: bool = False  # filled by the translation engine


def parse_pair(pair: str) -> tuple[str, str]:
    """'en_fr', 'en-fr', 'en→fr', 'EN -> fr' -> ('en', 'fr'); ModelError otherwise."""
    match = _PAIR_INPUT.match(pair)
    if not match:
        raise ModelError(f"not a language pair: {pair!r} (expected e.g. 'en_fr' or 'en→fr')")
    return match.group(1).lower(), match.group(2).lower()


def _check_codes(from_code: object, to_code: object, where: str) -> None:
    for code in (from_code, to_code):
        if code not in LANGUAGES:
            raise ModelError(f"{where}: unsupported language code {code!r} (supported: {', '.join(LANGUAGES)})")
    if from_code == to_code:
        raise ModelError(f"{where}: from_code and to_code are both {from_code!r}")


# --------------------------------------------------------------------------
# Package sources: a zip or a folder seen as a list of members
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    name: str  # posix path relative to the package root, "" never
    is_dir: bool
    size: int  # uncompressed bytes


class _Source:
    """A package to install, zip or folder.  Members are relative to the
    package root (the zip's top-level folder, or the folder itself)."""

    label: str

    def members(self) -> list[_Member]:
        raise NotImplementedError

    def open(self, name: str) -> BinaryIO:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _ZipSource(_Source):
    def __init__(self, path: Path, limits: InstallLimits):
        self.label = str(path)
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ModelError(f"{path}: not a readable zip archive ({exc})") from None
        try:
            self._root, self._members = self._scan(limits)
        except BaseException:
            self._zip.close()
            raise

    def _scan(self, limits: InstallLimits) -> tuple[str, list[_Member]]:
        infos = self._zip.infolist()
        if len(infos) > limits.max_files + 1:  # + the top-level folder entry
            raise ModelError(f"{self.label}: {len(infos)} entries, more than the limit of {limits.max_files} files")
        # The ratio over the whole archive too: 1,900 members of 1 MB of zeros
        # each stay under the per-member floor, yet inflate 1,000-fold.
        inflated = sum(info.file_size for info in infos)
        packed = sum(info.compress_size for info in infos)
        if inflated > limits.ratio_floor and inflated / max(packed, 1) > limits.max_ratio:
            raise ModelError(f"{self.label}: the archive inflates {inflated / max(packed, 1):.0f}x "
                             f"(limit {limits.max_ratio:.0f}x): not a model")
        roots: set[str] = set()
        members: list[_Member] = []
        for info in infos:
            self._check_entry(info, limits)
            parts = _split_name(info.filename, self.label, limits)
            roots.add(parts[0])
            if len(parts) == 1:
                if not info.is_dir():
                    raise ModelError(f"{self.label}: file {info.filename!r} is not inside the package folder")
                continue
            members.append(_Member("/".join(parts[1:]), info.is_dir(), info.file_size))
        if len(roots) != 1:
            shown = ", ".join(sorted(roots)[:5]) or "nothing"
            raise ModelError(f"{self.label}: expected exactly one top-level folder, found {shown}")
        return roots.pop(), members

    def _check_entry(self, info: zipfile.ZipInfo, limits: InstallLimits) -> None:
        name = info.filename
        # Unix mode in the high 16 bits; many writers leave the type bits 0.
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            raise ModelError(f"{self.label}: member {name!r} is a symbolic link")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise ModelError(f"{self.label}: member {name!r} is not a regular file or folder")
        if info.flag_bits & 0x1:
            raise ModelError(f"{self.label}: member {name!r} is encrypted")
        if info.file_size > limits.ratio_floor:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise ModelError(
                    f"{self.label}: member {name!r} inflates {ratio:.0f}x (limit {limits.max_ratio:.0f}x): not a model"
                )

    def members(self) -> list[_Member]:
        return self._members

    def open(self, name: str) -> BinaryIO:
        return self._zip.open(f"{self._root}/{name}")

    def close(self) -> None:
        self._zip.close()


class _FolderSource(_Source):
    def __init__(self, path: Path, limits: InstallLimits):
        self.label = str(path)
        self._root = path
        self._members = self._scan(limits)

    def _scan(self, limits: InstallLimits) -> list[_Member]:
        members: list[_Member] = []

        def unreadable(exc: OSError) -> None:
            raise ModelError(f"{self.label}: cannot read {exc.filename} ({exc.strerror})")

        # os.walk does not descend into linked folders; links are refused below.
        for dirpath, dirnames, filenames in os.walk(self._root, onerror=unreadable):
            for entry in sorted(dirnames) + sorted(filenames):
                full = Path(dirpath) / entry
                rel = full.relative_to(self._root).as_posix()
                _split_name(rel, self.label, limits)
                info = full.lstat()
                if stat.S_ISLNK(info.st_mode):
                    raise ModelError(f"{self.label}: {rel!r} is a symbolic link")
                is_dir = stat.S_ISDIR(info.st_mode)
                if not (is_dir or stat.S_ISREG(info.st_mode)):
                    raise ModelError(f"{self.label}: {rel!r} is not a regular file or folder")
                members.append(_Member(rel, is_dir, 0 if is_dir else info.st_size))
                if len(members) > limits.max_files:
                    raise ModelError(f"{self.label}: more than the limit of {limits.max_files} files")
        return members

    def members(self) -> list[_Member]:
        return self._members

    def open(self, name: str) -> BinaryIO:
        # O_NOFOLLOW: a file swapped for a link after the scan is refused.
        fd = os.open(self._root / name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        return os.fdopen(fd, "rb")


def _split_name(name: str, label: str, limits: InstallLimits) -> list[str]:
    """Check one member name and return its parts; refuse anything that could
    land outside the package folder or that is odd enough to hide a trick."""
    if not name or "\\" in name or "\x00" in name or any(ord(c) < 32 for c in name):
        raise ModelError(f"{label}: bad member name {name!r}")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ModelError(f"{label}: member {name!r} has an absolute path")
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ModelError(f"{label}: member {name!r} has an empty, '.' or '..' path component")
    if any(len(part.encode("utf-8")) > limits.max_name_length for part in parts):
        raise ModelError(f"{label}: member {name!r} has a name longer than {limits.max_name_length} bytes")
    return parts


def _open_source(path: Path, limits: InstallLimits) -> _Source:
    if path.is_dir():
        return _FolderSource(path, limits)
    if path.is_file():
        return _ZipSource(path, limits)
    raise ModelError(f"{path}: no such file or folder")


# --------------------------------------------------------------------------
# Package checks shared by zips and folders
# --------------------------------------------------------------------------


@dataclass
class _Plan:
    """A validated package waiting to be installed."""

    source: _Source
    metadata: dict
    pair: str


def _validate(source: _Source, limits: InstallLimits) -> _Plan:
    members = source.members()
    duplicates = [name for name, count in Counter(m.name for m in members).items() if count > 1]
    if duplicates:
        raise ModelError(f"{source.label}: duplicate members {sorted(duplicates)[:3]}")
    files = {m.name: m for m in members if not m.is_dir}
    if len(files) > limits.max_files:
        raise ModelError(f"{source.label}: {len(files)} files, more than the limit of {limits.max_files}")
    total = sum(m.size for m in files.values())
    if total > limits.max_total_bytes:
        raise ModelError(f"{source.label}: {total} bytes uncompressed, more than the limit of {limits.max_total_bytes}")
    _check_required_files(source.label, files)
    metadata = _read_metadata(source, files["metadata.json"])
    from_code, to_code = metadata.get("from_code"), metadata.get("to_code")
    _check_codes(from_code, to_code, f"{source.label}: metadata.json")
    return _Plan(source, metadata, f"{from_code}_{to_code}")


def _check_required_files(label: str, files: dict[str, _Member]) -> None:
    required = [
        ("metadata.json",),
        ("model/model.bin",),
        ("model/config.json",),
        ("sentencepiece.model", "bpe.model"),
        ("model/shared_vocabulary.json", "model/shared_vocabulary.txt", "model/target_vocabulary.json",
         "model/target_vocabulary.txt"),
    ]
    for choices in required:
        if not any(choice in files for choice in choices):
            raise ModelError(f"{label}: missing {' or '.join(choices[:2])}")


def _read_metadata(source: _Source, member: _Member) -> dict:
    if member.size > METADATA_MAX_BYTES:
        raise ModelError(f"{source.label}: metadata.json is too large ({member.size} bytes)")
    with source.open("metadata.json") as stream:
        raw = stream.read(METADATA_MAX_BYTES + 1)
    try:
        metadata = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{source.label}: metadata.json is not valid JSON ({exc})") from None
    except RecursionError:  # 1 MB of brackets is deeper than the JSON decoder goes
        raise ModelError(f"{source.label}: metadata.json is nested too deep") from None
    if not isinstance(metadata, dict):
        raise ModelError(f"{source.label}: metadata.json is not a JSON object")
    version = metadata.get("package_version", "")
    if not isinstance(version, str):
        raise ModelError(f"{source.label}: metadata.json package_version is not a string")
    return metadata


def _extract(source: _Source, target: Path) -> None:
    """Copy every member under ``target``, never writing more bytes than the
    size the scan saw (a zip's declared sizes are only claims).  Damaged data
    shows up only here (CRC, deflate stream), after validation passed."""
    try:
        _copy_members(source, target)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ModelError(f"{source.label}: cannot extract ({exc})") from None


def _copy_members(source: _Source, target: Path) -> None:
    target.mkdir()
    for member in sorted(source.members(), key=lambda m: m.name):
        dest = target.joinpath(*PurePosixPath(member.name).parts)
        if member.is_dir:
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        with source.open(member.name) as src, open(dest, "xb") as out:
            _copy_capped(src, out, member.size, f"{source.label}: member {member.name!r}")


def _copy_capped(src: BinaryIO, out: BinaryIO, limit: int, what: str) -> None:
    written = 0
    while chunk := src.read(_CHUNK):
        written += len(chunk)
        if written > limit:
            raise ModelError(f"{what} is larger than declared")
        out.write(chunk)


def load_package(path: Path, label: str, threads: int = 1):
    """The package's CTranslate2 translator and sentencepiece tokenizer,
    loaded as the engine runs them (install loads each package once this
    way, so that one that does not load is refused there). ModelError when
    they do not load."""
    import ctranslate2  # heavy imports only when a model is first needed
    import sentencepiece

    tokenizer = path / "sentencepiece.model"
    if not tokenizer.exists():
        raise ModelError(f"{label}: only sentencepiece packages are supported")
    try:
        translator = ctranslate2.Translator(str(path / "model"), device="cpu", inter_threads=1,
                                            intra_threads=threads)
        sp = sentencepiece.SentencePieceProcessor(model_file=str(tokenizer))
    except Exception as exc:  # noqa: BLE001 - whatever the libraries raise for a bad model
        raise ModelError(f"{label}: the model does not load ({type(exc).__name__}: "
                         f"{str(exc).strip()[:200]})") from None
    return translator, sp


def target_vocabulary(model_dir: Path) -> frozenset[str] | None:
    """The tokens the model can produce (None: no vocabulary file found)."""
    for name in ("target_vocabulary", "shared_vocabulary"):
        as_json, as_text = model_dir / f"{name}.json", model_dir / f"{name}.txt"
        if as_json.exists():
            return frozenset(json.loads(as_json.read_text(encoding="utf-8")))
        if as_text.exists():
            return frozenset(as_text.read_text(encoding="utf-8").splitlines())
    return None


def _tree_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            total += (Path(dirpath) / name).lstat().st_size
    return total


# --------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------


class ModelStore:
    """Installed translation packages under ``models_dir``."""

    def __init__(self, models_dir: Path, limits: InstallLimits | None = None):
        self.models_dir = Path(models_dir)
        self.limits = limits or InstallLimits()
        self._lock = threading.RLock()
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self._recover()

    # -- start-up -----------------------------------------------------------

    def _recover(self) -> None:
        """Clean what a crash left: staging and downloads are dropped; a
        package moved to trash during an upgrade comes back if its pair is
        missing (the crash hit between the two renames), else it is dropped."""
        for entry in self.models_dir.iterdir():
            if entry.name.startswith(TRASH_PREFIX) and entry.is_dir():
                self._restore_from_trash(entry)
            elif entry.name.startswith(STAGING_PREFIX):
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith(DOWNLOAD_PREFIX):
                entry.unlink(missing_ok=True)

    def _restore_from_trash(self, trash: Path) -> None:
        for old in trash.iterdir():
            home = self.models_dir / old.name
            if _PAIR_DIR.match(old.name) and not home.exists():
                log.warning("restoring %s left aside by an interrupted install", old.name)
                try:
                    os.replace(old, home)
                except OSError:
                    log.exception("could not restore %s from %s", old.name, trash)
                    return  # keep the trash for the next start
        shutil.rmtree(trash, ignore_errors=True)

    def _scratch(self, prefix: str, suffix: str = "") -> Path:
        # Inside models_dir so that the final rename stays on one filesystem.
        return self.models_dir / f"{prefix}{uuid.uuid4().hex}{suffix}"

    # -- queries ------------------------------------------------------------

    def list(self) -> list[InstalledPackage]:
        """Installed packages sorted by pair; an unreadable one is logged and skipped."""
        with self._lock:
            described = (self._describe(entry) for entry in sorted(self.models_dir.iterdir()))
            return [package for package in described if package is not None]

    def has(self, from_code: str, to_code: str) -> bool:
        """Cheap check (no size walk) that a pair is installed: for every translation."""
        return (self.models_dir / f"{from_code}_{to_code}" / "metadata.json").is_file()

    def get(self, from_code: str, to_code: str) -> InstalledPackage | None:
        with self._lock:
            return self._describe(self.models_dir / f"{from_code}_{to_code}")

    def _describe(self, path: Path) -> InstalledPackage | None:
        """The package installed at ``path``, None if ``path`` is not one."""
        if not (_PAIR_DIR.match(path.name) and path.is_dir() and not path.is_symlink()):
            return None
        try:
            metadata = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
            from_code, to_code = metadata["from_code"], metadata["to_code"]
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            log.warning("skipping %s: unreadable metadata.json (%s)", path, type(exc).__name__)
            return None
        return InstalledPackage(
            pair=path.name,
            from_code=from_code,
            to_code=to_code,
            version=str(metadata.get("package_version", "")),
            size_bytes=_tree_size(path),
            path=path,
            from_name=str(metadata.get("from_name", "")),
            to_name=str(metadata.get("to_name", "")),
        )

    # -- install ------------------------------------------------------------

    def install(self, paths: list[Path], upgrade: bool = False, *,
                expect: str | None = None) -> list[InstalledPackage]:
        """Install packages (``.argosmodel`` zips or unpacked package folders).

        All or nothing: every path is validated, then every package is
        extracted into a staging folder, and only then are they moved into
        place.  Any problem before the moves raises ``ModelError`` naming
        the file and leaves the installed set exactly as it was.  The moves
        are one ``os.replace`` per pair (atomic each); if one fails the pairs
        already moved are put back.  A process killed during the moves can
        leave some pairs new and some old, never a pair half-written: the
        next start restores any pair left aside.

        An installed pair is replaced only with ``upgrade=True`` (any version).
        ``expect``: the pair the caller asked for ("en_fr"); a package for any
        other pair is refused. Each model is loaded once from the staging
        folder: one that does not load is refused here, not at the first
        translation.
        """
        with self._lock:
            sources: list[_Source] = []
            staging = self._scratch(STAGING_PREFIX)
            try:
                plans = self._plan(paths, upgrade, sources)
                for plan in plans:
                    if expect is not None and plan.pair != expect:
                        raise ModelError(f"{plan.source.label}: a package for {plan.pair}, "
                                         f"not the {expect} asked for")
                staging.mkdir()
                for plan in plans:
                    _extract(plan.source, staging / plan.pair)
                    load_package(staging / plan.pair, plan.source.label)
                self._commit(staging, [plan.pair for plan in plans])
            except OSError as exc:  # moving into place
                raise ModelError(f"install failed: {exc}") from exc
            finally:
                for source in sources:
                    source.close()
                shutil.rmtree(staging, ignore_errors=True)
            return [self._describe(self.models_dir / plan.pair) for plan in plans]

    def _plan(self, paths: list[Path], upgrade: bool, sources: list[_Source]) -> list[_Plan]:
        if not paths:
            raise ModelError("no package given")
        plans: list[_Plan] = []
        for path in paths:
            source = _open_source(Path(path), self.limits)
            sources.append(source)
            plans.append(_validate(source, self.limits))
        pair_counts = Counter(plan.pair for plan in plans)
        for plan in plans:
            if pair_counts[plan.pair] > 1:
                raise ModelError(f"{plan.source.label}: pair {plan.pair} is given more than once")
            if not upgrade and (self.models_dir / plan.pair).exists():
                raise ModelError(f"{plan.source.label}: {plan.pair} is already installed (use upgrade)")
        return plans

    def _commit(self, staging: Path, pairs: list[str]) -> None:
        """Move staged pairs into place; on failure undo the moves done."""
        trash = self._scratch(TRASH_PREFIX)
        trash.mkdir()
        done: list[str] = []
        try:
            for pair in pairs:
                home = self.models_dir / pair
                if home.exists():
                    os.replace(home, trash / pair)
                os.replace(staging / pair, home)
                done.append(pair)
        except OSError:
            self._undo(done, pairs, trash)
            raise
        shutil.rmtree(trash, ignore_errors=True)

    def _undo(self, done: list[str], pairs: list[str], trash: Path) -> None:
        """Put back the packages set aside; what cannot be put back stays in
        the trash, where the next start restores it."""
        for pair in pairs:
            home, old = self.models_dir / pair, trash / pair
            try:
                if pair in done:
                    shutil.rmtree(home)
                if old.exists():
                    os.replace(old, home)
            except OSError:
                log.exception("could not restore %s; the next start will retry", pair)
        try:
            trash.rmdir()  # only if empty
        except OSError:
            pass

    # -- remove -------------------------------------------------------------

    def remove(self, pair: str) -> None:
        """Uninstall one pair ('en_fr', 'en-fr', 'en→fr'); ModelError if not installed."""
        from_code, to_code = parse_pair(pair)
        with self._lock:
            home = self.models_dir / f"{from_code}_{to_code}"
            if not home.is_dir():
                raise ModelError(f"{from_code}_{to_code} is not installed")
            # Rename first so that the pair disappears at once even if the
            # delete is slow or interrupted.
            trash = self._scratch(TRASH_PREFIX)
            trash.mkdir()
            os.replace(home, trash / "removed")
            shutil.rmtree(trash, ignore_errors=True)

    # -- download -----------------------------------------------------------

    def download(
        self,
        from_code: str,
        to_code: str,
        *,
        index_url: str = DEFAULT_INDEX_URL,
        expected_sha256: str | None = None,
        timeout: float = 60,
        deadline: float = DOWNLOAD_DEADLINE,
        progress: Callable[[int, int | None], None] | None = None,
        client: httpx.Client | None = None,
        upgrade: bool = False,
        resume: bool = False,
        index: list | None = None,
    ) -> InstalledPackage:
        """Download the pair's package named in the Argos index and install it.

        ``timeout`` bounds each network wait (connect, each read); ``deadline``
        the whole download, index included (a server that trickles a byte
        just inside each timeout would otherwise hold it for days).  The file is streamed to a temporary file inside
        models_dir; a failed, timed-out, short or checksum-mismatched
        download raises ``ModelError``, installs nothing and leaves no file.
        ``progress(bytes_done, total_or_None)`` is called as chunks arrive.
        The index's links are tried in order. The expected checksum is
        ``expected_sha256``, else the index entry's ``sha256`` (or
        ``checksum: "sha256:…"``) where it gives one.

        ``resume=True`` (``models setup``): a transfer that breaks off keeps
        its bytes in a ``.resume-`` file, and the next call asks only for the
        rest (HTTP Range); a server that ignores Range sends it all again.
        ``index`` is an index already fetched (setup fetches it once).
        """
        _check_codes(from_code, to_code, "download")
        if not upgrade and self.get(from_code, to_code) is not None:
            raise ModelError(f"{from_code}_{to_code} is already installed (use upgrade)")
        own_client = client is None
        if own_client:
            client = httpx.Client()
        ends = time.monotonic() + deadline
        try:
            if index is None:
                index = self._fetch_index(client, index_url, timeout, ends)
            entry = _pick(index, index_url, from_code, to_code)
            expected = expected_sha256 or _index_sha256(entry)
            errors = []
            for url in _links(entry):
                part = (self._resume_path(f"{from_code}_{to_code}", url) if resume
                        else self._scratch(DOWNLOAD_PREFIX, ".part"))
                keep = False
                try:
                    digest = self._fetch(client, url, part, timeout, progress, ends, resume)
                    _check_sha256(url, digest, expected)
                    return self._install_download(part, url, upgrade, f"{from_code}_{to_code}")
                except _Interrupted as exc:
                    errors.append(str(exc))
                    keep = resume  # what arrived is good so far: continue it next time
                except ModelError as exc:
                    errors.append(str(exc))
                finally:
                    if not keep:
                        part.unlink(missing_ok=True)
            raise ModelError(f"download of {from_code}_{to_code} failed: " + "; ".join(errors))
        finally:
            if own_client:
                client.close()

    def setup(
        self,
        pairs: tuple[tuple[str, str], ...] = SETUP_PAIRS,
        *,
        index_url: str = DEFAULT_INDEX_URL,
        timeout: float = 60,
        deadline: float = DOWNLOAD_DEADLINE,
        progress: Callable[[str], Callable[[int, int | None], None]] | None = None,
        client: httpx.Client | None = None,
    ) -> list[SetupResult]:
        """Install every package of ``pairs`` that is missing (default: all the
        five languages need), downloads resumable, one index fetch.

        Raises OfflineError, naming the offline route, when the index cannot
        be reached; a pair that fails otherwise is reported and the others go
        on. ``progress(pair)`` returns that pair's ``(done, total)`` callback.
        """
        results: dict[str, SetupResult] = {}
        missing = []
        for a, b in pairs:
            _check_codes(a, b, "setup")
            package = self.get(a, b)
            if package is not None:
                results[f"{a}_{b}"] = SetupResult(package.pair, "present", package.version)
            else:
                missing.append((a, b))
        if missing:
            own_client = client is None
            if own_client:
                client = httpx.Client()
            try:
                try:
                    index = self._fetch_index(client, index_url, timeout, time.monotonic() + deadline)
                except _Interrupted as exc:
                    raise OfflineError(f"cannot reach the package index ({exc}). "
                                       + offline_route(missing)) from None
                for a, b in missing:
                    pair = f"{a}_{b}"
                    try:
                        package = self.download(
                            a, b, index_url=index_url, timeout=timeout, deadline=deadline,
                            progress=progress(pair) if progress else None, client=client,
                            resume=True, index=index)
                        results[pair] = SetupResult(pair, "installed", package.version)
                    except ModelError as exc:
                        results[pair] = SetupResult(pair, "failed", error=str(exc))
            finally:
                if own_client:
                    client.close()
        return [results[f"{a}_{b}"] for a, b in pairs]

    def _resume_path(self, pair: str, url: str) -> Path:
        # One file per pair and link, so that a changed link starts afresh.
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        return self.models_dir / f"{RESUME_PREFIX}{pair}-{digest}.part"

    def _fetch_index(self, client: httpx.Client, index_url: str, timeout: float, ends: float) -> list:
        body = bytearray()
        try:
            with client.stream("GET", index_url, timeout=timeout, follow_redirects=True) as response:
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    _check_deadline(index_url, ends)
                    body += chunk
                    if len(body) > INDEX_MAX_BYTES:
                        raise ModelError(f"package index {index_url}: more than {INDEX_MAX_BYTES} bytes")
        except httpx.TransportError as exc:
            raise _Interrupted(f"package index {index_url}: {_describe_http_error(exc)}") from None
        except httpx.HTTPError as exc:
            raise ModelError(f"package index {index_url}: {_describe_http_error(exc)}") from None
        try:
            index = json.loads(body)
        except (ValueError, RecursionError):
            raise ModelError(f"package index {index_url}: not valid JSON") from None
        if not isinstance(index, list):
            raise ModelError(f"package index {index_url}: not a JSON list")
        return index

    def _fetch(self, client: httpx.Client, url: str, part: Path, timeout: float,
               progress: Callable[[int, int | None], None] | None, ends: float,
               resume: bool = False) -> str:
        """Stream ``url`` into ``part``; return the sha256 hex digest of the
        whole file. With ``resume``, bytes already in ``part`` are kept and
        only the rest is asked for (HTTP Range)."""
        limit = self.limits.max_total_bytes
        start = part.stat().st_size if resume and part.exists() else 0
        hasher = hashlib.sha256()
        try:
            # Identity encoding: byte ranges then count the file's own bytes.
            headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={start}-"} if start else {})}
            with client.stream("GET", url, timeout=timeout, follow_redirects=True, headers=headers) as response:
                if start and response.status_code == 416:  # nothing left to send, or a changed file
                    raise _StartAfresh
                response.raise_for_status()
                length = _content_length(response)
                if start and response.status_code == 206 and _range_start(response) == start:
                    with open(part, "rb") as kept:  # the digest covers the whole file
                        for block in iter(lambda: kept.read(_CHUNK), b""):
                            hasher.update(block)
                    mode, done = "ab", start
                else:  # a fresh download, or a server that ignores Range: from the start
                    mode, done = "wb", 0
                total = None if length is None else done + length
                if total is not None and total > limit:
                    raise ModelError(f"{url}: {total} bytes, more than the limit of {limit}")
                with open(part, mode) as out:
                    # As the data arrives (no re-chunking): a line that drops
                    # loses nothing already received, so a resume loses nothing.
                    for chunk in response.iter_bytes():
                        _check_deadline(url, ends)
                        done += len(chunk)
                        if done > limit:
                            raise ModelError(f"{url}: more than the limit of {limit} bytes")
                        out.write(chunk)
                        hasher.update(chunk)
                        if progress is not None:
                            progress(done, total)
        except _StartAfresh:
            part.unlink(missing_ok=True)
            return self._fetch(client, url, part, timeout, progress, ends, resume)
        except httpx.HTTPStatusError as exc:
            raise ModelError(f"{url}: {_describe_http_error(exc)}") from None
        except httpx.HTTPError as exc:
            raise _Interrupted(f"{url}: {_describe_http_error(exc)}") from None
        except OSError as exc:
            raise ModelError(f"{url}: cannot write the download ({exc})") from None
        # Content-Length counts bytes on the wire (before any content
        # decoding), so compare it with the raw count.  httpx usually raises
        # on a short body already; this is the safety net.
        received = response.num_bytes_downloaded
        if length is not None and received != length:
            raise _Interrupted(f"{url}: incomplete download ({received} of {length} bytes)")
        return hasher.hexdigest()

    def _install_download(self, part: Path, url: str, upgrade: bool, pair: str) -> InstalledPackage:
        try:
            return self.install([part], upgrade=upgrade, expect=pair)[0]
        except ModelError as exc:
            # Name the URL rather than the temporary file.
            raise ModelError(str(exc).replace(str(part), url)) from None


def _pick(index: list, index_url: str, from_code: str, to_code: str) -> dict:
    """The newest entry of the index for the pair."""
    matches = [
        item for item in index
        if isinstance(item, dict) and item.get("from_code") == from_code and item.get("to_code") == to_code
    ]
    if not matches:
        raise ModelError(f"package index {index_url}: no package for {from_code}_{to_code}")
    return max(matches, key=lambda item: _version_key(item.get("package_version")))


def _index_sha256(entry: dict) -> str | None:
    """The checksum an index entry gives, if any (the Argos index gives none
    today; a site's own index may): ``sha256`` or ``checksum: "sha256:…"``."""
    value = entry.get("sha256")
    if not isinstance(value, str):
        checksum = entry.get("checksum")
        value = checksum[7:] if isinstance(checksum, str) and checksum.lower().startswith("sha256:") else None
    if value is not None and re.fullmatch(r"[0-9A-Fa-f]{64}", value.strip()):
        return value.strip().lower()
    return None


def _range_start(response: httpx.Response) -> int | None:
    """The first byte of a 206 answer (``Content-Range: bytes START-END/TOTAL``)."""
    m = re.match(r"\s*bytes\s+(\d+)-", response.headers.get("Content-Range", ""))
    return int(m.group(1)) if m else None


def _check_deadline(url: str, ends: float) -> None:
    if time.monotonic() > ends:
        raise _Interrupted(f"{url}: the download took longer than its deadline")


def _links(entry: dict) -> list[str]:
    links = entry.get("links")
    usable = [
        link for link in (links if isinstance(links, list) else [])
        if isinstance(link, str) and link.startswith(("http://", "https://"))
    ]
    if not usable:
        raise ModelError(f"package index: no http(s) link for {entry.get('from_code')}_{entry.get('to_code')}")
    return usable


def _check_sha256(url: str, digest: str, expected: str | None) -> None:
    if expected is not None and digest != expected.strip().lower():
        raise ModelError(f"{url}: sha256 mismatch (got {digest}, expected {expected})")


def _content_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


def _describe_http_error(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


def _version_key(version: object) -> tuple:
    """'1.10' sorts above '1.9'; anything non-numeric sorts lowest."""
    if not isinstance(version, str):
        return ()
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return ()

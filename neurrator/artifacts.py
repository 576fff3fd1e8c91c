"""Atomic artifact writing with JSON sidecars.

Every artifact ``X`` in the data directory has a sidecar ``X.meta.json`` naming what made it,
from which inputs (their content hashes and where they are, relative to ``X``) and with which
parameters, plus the artifact's own size and SHA-256. The content is written to a temporary file;
then, under a lock per artifact, the old sidecar is removed, the file renamed into place and the new
sidecar written, so two writers never mix their halves and a reader (who takes the same lock) sees
the old pair or the new one. A crash can only leave an artifact without a sidecar, which
:func:`check_artifact` refuses.

Reading checks the content against the recorded SHA-256 whenever the file is not the one the
sidecar last saw (its size, modification time and inode, recorded with the hash: an edit in place
or a copied data directory is hashed again, an untouched file is not), and every recorded input
against its current content: a stale or corrupt artifact is never read as valid.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np

SIDECAR_SUFFIX = ".meta.json"


class ArtifactError(RuntimeError):
    """An artifact is missing, partial or was made from other inputs or parameters."""


def sidecar_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 22) -> str:
    """SHA-256 of a file, read in chunks (never the whole file in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def temporary_beside(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a new temporary path beside ``target`` (same file system, so a rename is atomic); removed on exit
    unless the caller renamed it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; artifacts are ordinary shared files
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success."""
    with temporary_beside(target) as tmp:
        yield tmp
        os.replace(tmp, target)


def write_text_atomic(target: str | os.PathLike, text: str) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def array_digest(*arrays: np.ndarray) -> str:
    """SHA-256 (first 16 hex digits) of arrays' dtypes, shapes and bytes: keys a point by its inputs' content."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    """Parameters as plain JSON (paths and numpy scalars become strings/numbers)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


#: hidden folder (beside the artifacts) holding one lock file per artifact
LOCK_DIR = ".locks"


def _lock(path: Path):
    """The inter-process lock of one artifact (a no-op where its folder cannot hold a lock file: read-only data)."""
    from filelock import FileLock

    folder = path.parent / LOCK_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return contextlib.nullcontext()
    return FileLock(str(folder / f"{path.name}.lock"))


def _seen(path: Path) -> dict:
    """What identifies the file the sidecar describes without reading it: size, modification time, inode."""
    stat = path.stat()
    return {"size_bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def _content_matches(path: Path, meta: dict, verify_hash: bool = False) -> bool:
    """The file is the one its sidecar describes: same size, and either untouched since the sidecar saw it
    or of the recorded SHA-256 (then the sidecar is told what it saw, so a copied data directory is hashed once)."""
    seen = _seen(path)
    if seen["size_bytes"] != meta["size_bytes"]:
        return False
    if not verify_hash and all(meta.get(k) == seen[k] for k in ("mtime_ns", "inode")):
        return True
    if sha256_file(path) != meta["sha256"]:
        return False
    if any(meta.get(k) != seen[k] for k in ("mtime_ns", "inode")):
        with contextlib.suppress(OSError):   # best effort: a read-only data directory is hashed on every read
            write_text_atomic(sidecar_path(path), json.dumps({**meta, **seen}, indent=2, sort_keys=True) + "\n")
    return True


def _verified_sidecar(path: Path, fix: Callable[[dict], str], verify_hash: bool = False, what: str = "") -> dict:
    """The sidecar of ``path`` once, under the artifact's lock, the file is checked to be the one it describes
    (:func:`_content_matches`); else :class:`ArtifactError` naming ``what`` it is (e.g. "input") and ``fix(sidecar)``
    (the remedy, from the sidecar read, or from ``{}`` where there is none)."""
    with _lock(path):
        try:
            meta = read_sidecar(path)
        except ArtifactError as err:
            raise ArtifactError(f"{err}; {fix({})}") from None
        if not path.is_file() or not _content_matches(path, meta, verify_hash):
            raise ArtifactError(f"{what + ' ' if what else ''}{path} does not match its sidecar (partial, edited or "
                                f"corrupt): {fix(meta)}")
    return meta


def _input_hash(value: str | os.PathLike) -> str:
    """An input's identity: its sidecar's recorded hash once its content is checked against it, else its
    content hash."""
    path = Path(value)
    if sidecar_path(path).is_file():   # the sidecar is read once, under the lock
        fix = lambda meta: f"remake it ({meta.get('made_by', 'its maker')}) before its consumers"
        return _verified_sidecar(path, fix, what="input")["sha256"]
    if path.is_file():
        return sha256_file(path)
    raise ArtifactError(f"input {path} does not exist; make it before {path.name}'s consumers")


def _relative(path: Path, start: Path) -> str:
    return os.path.relpath(Path(path).resolve(), start.resolve())


def write_artifact(
    path: str | os.PathLike,
    write: Callable[[Path], None],
    *,
    made_by: str,
    params: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str | os.PathLike] | None = None,
) -> Path:
    """Write an artifact atomically with its sidecar.

    ``write(tmp_path)`` writes the content to the given temporary path. ``made_by`` names the
    notebook or function (e.g. ``"01_preprocess"``), ``params`` its parameters and ``inputs``
    the artifacts it read (recorded by content hash).
    """
    path = Path(path)
    side = sidecar_path(path)
    inputs = dict(inputs or {})
    input_hashes = {name: _input_hash(p) for name, p in inputs.items()}
    with temporary_beside(path) as tmp:   # the content first, outside the lock (it may take minutes) ...
        write(tmp)
        meta = {
            "artifact": path.name,
            "made_by": made_by,
            "params": _jsonable(dict(params or {})),
            "inputs": input_hashes,
            "input_paths": {name: _relative(p, path.parent) for name, p in inputs.items()},
            "sha256": sha256_file(tmp),
        }
        with _lock(path):            # ... then the pair swapped as one, under the artifact's lock
            side.unlink(missing_ok=True)   # the old description must not outlive the old data
            os.replace(tmp, path)
            write_text_atomic(side, json.dumps({**meta, **_seen(path)}, indent=2, sort_keys=True) + "\n")
    return path


def write_json_artifact(path: str | os.PathLike, obj: Any, **meta: Any) -> Path:
    """A JSON artifact (sorted keys, so identical content gives identical bytes)."""
    text = json.dumps(_jsonable(obj), indent=2, sort_keys=True) + "\n"
    return write_artifact(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), **meta)


def read_sidecar(path: str | os.PathLike) -> dict:
    side = sidecar_path(path)
    if not side.is_file():
        raise ArtifactError(f"{Path(path).name} has no sidecar {side.name}: it is partial or was not made by neurrator")
    return json.loads(side.read_text())


def check_artifact(
    path: str | os.PathLike,
    *,
    made_by: str,
    params: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str | os.PathLike] | None = None,
    verify_hash: bool = False,
) -> dict:
    """Return the sidecar of a valid artifact, or raise :class:`ArtifactError` saying how to remake it.

    Valid means: the file and its sidecar exist; the content is the recorded one (its SHA-256 is computed
    again whenever the file is not the one the sidecar last saw, and always with ``verify_hash``); every
    input it recorded still has the content it was made from (inputs since removed are not judged); and the
    given ``params`` / ``inputs`` equal the recorded ones.
    """
    path = Path(path)
    remake = f"run notebook {made_by} to make it" if made_by[:2].isdigit() else f"rerun {made_by}"
    if not path.exists():
        raise ArtifactError(f"missing artifact {path}: {remake}")
    meta = _verified_sidecar(path, lambda _: remake, verify_hash)
    for name, relative in meta.get("input_paths", {}).items():
        source = path.parent / relative
        if source.exists() and meta["inputs"].get(name) != _input_hash(source):
            raise ArtifactError(f"{path} is stale: its input {name} ({source}) changed after it was made: {remake}")
    if params is not None:
        wanted = _jsonable(dict(params))
        changed = sorted(k for k in set(wanted) | set(meta["params"]) if wanted.get(k) != meta["params"].get(k))
        if changed:
            raise ArtifactError(f"{path} was made with other parameters ({', '.join(changed)}): {remake}")
    if inputs is not None:
        changed = sorted(k for k, p in inputs.items() if meta["inputs"].get(k) != _input_hash(p))
        if changed:
            raise ArtifactError(f"{path} is stale: its inputs changed ({', '.join(changed)}): {remake}")
    return meta

"""Atomic artifact writing with JSON sidecars.

Every artifact ``X`` in the data directory has a sidecar ``X.meta.json`` naming what made it,
from which inputs (content hashes) and with which parameters, plus the artifact's own size and
SHA-256. Writes go to a temporary file that is renamed into place, and the old sidecar is removed
*before* new data is written, so a crash can only leave an artifact without a sidecar, which
:func:`check_artifact` refuses: a stale or partial artifact is never read as valid.
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
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success."""
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
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


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


def _input_hash(value: str | os.PathLike) -> str:
    """An input's identity: its sidecar's recorded hash if it has one, else its content hash."""
    path = Path(value)
    side = sidecar_path(path)
    if side.is_file():
        return json.loads(side.read_text())["sha256"]
    if path.is_file():
        return sha256_file(path)
    raise ArtifactError(f"input {path} does not exist; make it before {path.name}'s consumers")


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
    input_hashes = {name: _input_hash(p) for name, p in (inputs or {}).items()}
    if side.exists():
        side.unlink()  # the old description must not outlive the old data
    with atomic_path(path) as tmp:
        write(tmp)
    meta = {
        "artifact": path.name,
        "made_by": made_by,
        "params": _jsonable(dict(params or {})),
        "inputs": input_hashes,
        "size_bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }
    write_text_atomic(side, json.dumps(meta, indent=2, sort_keys=True) + "\n")
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

    Valid means: the file and its sidecar exist, the size (and with ``verify_hash`` the SHA-256)
    matches the sidecar, and the given ``params`` / ``inputs`` equal the recorded ones.
    """
    path = Path(path)
    remake = f"run notebook {made_by} to make it" if made_by[:2].isdigit() else f"rerun {made_by}"
    if not path.exists():
        raise ArtifactError(f"missing artifact {path}: {remake}")
    try:
        meta = read_sidecar(path)
    except ArtifactError as err:
        raise ArtifactError(f"{err}; {remake}") from None
    if path.stat().st_size != meta["size_bytes"] or (verify_hash and sha256_file(path) != meta["sha256"]):
        raise ArtifactError(f"{path} does not match its sidecar (partial or edited): {remake}")
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

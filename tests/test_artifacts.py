import json
import multiprocessing
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from neurrator import artifacts
from neurrator.artifacts import (
    LOCK_DIR, ArtifactError, atomic_path, check_artifact, read_sidecar, sha256_file, sidecar_path,
    write_artifact, write_json_artifact,
)


def _save_array(values):
    def write(tmp):
        with open(tmp, "wb") as handle:
            np.save(handle, values)
    return write


def test_sidecar_records_maker_params_inputs_and_hash(tmp_path):
    source = write_json_artifact(tmp_path / "in.json", {"a": 1}, made_by="01_preprocess")
    out = write_artifact(tmp_path / "x.npy", _save_array(np.arange(5)), made_by="02_targets",
                         params={"seed": np.int64(3), "path": tmp_path}, inputs={"source": source})
    meta = read_sidecar(out)
    assert meta["made_by"] == "02_targets"
    assert meta["params"] == {"seed": 3, "path": str(tmp_path)}
    assert meta["inputs"] == {"source": read_sidecar(source)["sha256"]}
    assert meta["sha256"] == sha256_file(out) and meta["size_bytes"] == out.stat().st_size
    assert check_artifact(out, made_by="02_targets", params={"seed": 3, "path": tmp_path}, inputs={"source": source}, verify_hash=True)


def test_identical_content_gives_identical_bytes(tmp_path):
    a = write_json_artifact(tmp_path / "a.json", {"b": 2, "a": [1, 2]}, made_by="f")
    b = write_json_artifact(tmp_path / "b.json", {"a": [1, 2], "b": 2}, made_by="f")
    assert a.read_bytes() == b.read_bytes()


def test_failed_write_keeps_the_old_pair_valid_and_leaves_no_temp(tmp_path):
    path = write_json_artifact(tmp_path / "a.json", {"v": 1}, made_by="03_train")

    def crash(tmp):
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_artifact(path, crash, made_by="03_train")
    assert json.loads(path.read_text()) == {"v": 1}
    assert check_artifact(path, made_by="03_train", verify_hash=True)   # the old content and its sidecar, together
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_DIR, "a.json", "a.json.meta.json"]   # no temp file
    sidecar_path(path).unlink()                                          # what a crash between the two renames leaves
    with pytest.raises(ArtifactError, match="no sidecar.*run notebook 03_train"):
        check_artifact(path, made_by="03_train")


def test_missing_artifact_names_the_notebook(tmp_path):
    with pytest.raises(ArtifactError, match="missing artifact .*run notebook 01_preprocess"):
        check_artifact(tmp_path / "session.npz", made_by="01_preprocess")


def test_changed_params_or_inputs_make_it_stale(tmp_path):
    src = write_json_artifact(tmp_path / "src.json", [1], made_by="01_preprocess")
    out = write_json_artifact(tmp_path / "out.json", [2], made_by="03_train", params={"lr": 0.1}, inputs={"src": src})
    with pytest.raises(ArtifactError, match=r"other parameters \(lr\)"):
        check_artifact(out, made_by="03_train", params={"lr": 0.2})
    with pytest.raises(ArtifactError, match=r"other parameters \(epochs\)"):
        check_artifact(out, made_by="03_train", params={"lr": 0.1, "epochs": 3})
    write_json_artifact(src, [1, 1], made_by="01_preprocess")
    with pytest.raises(ArtifactError, match=r"stale: its input src "):     # found from the sidecar alone
        check_artifact(out, made_by="03_train")
    with pytest.raises(ArtifactError, match="stale"):
        check_artifact(out, made_by="03_train", inputs={"src": src})


def _later():
    """Past the file system's timestamp granularity (a coarse kernel tick), as any real edit is."""
    time.sleep(0.05)


def test_edited_or_truncated_content_is_refused(tmp_path):
    out = write_json_artifact(tmp_path / "o.json", {"k": "v"}, made_by="04_narrate_heldout")
    _later()
    out.write_text('{"k": "w"}\n' + " " * (out.stat().st_size - 11))  # same size, other content
    with pytest.raises(ArtifactError, match="does not match its sidecar"):
        check_artifact(out, made_by="04_narrate_heldout")     # touched since its sidecar saw it: hashed again
    out.write_text("{}")
    with pytest.raises(ArtifactError, match="does not match its sidecar"):
        check_artifact(out, made_by="04_narrate_heldout")


def test_same_size_corruption_of_a_large_store_is_found_and_an_untouched_file_is_not_hashed(tmp_path, monkeypatch):
    store = write_artifact(tmp_path / "targets.npy", _save_array(np.arange(1 << 18, dtype=np.float32)), made_by="02_targets")
    calls = []
    real = artifacts.sha256_file
    monkeypatch.setattr(artifacts, "sha256_file", lambda p, *a: calls.append(p) or real(p, *a))
    check_artifact(store, made_by="02_targets")
    assert calls == []                                         # untouched: size, mtime and inode agree
    _later()
    with open(store, "r+b") as handle:                         # 64 kB zeroed in the middle, same size
        handle.seek(1 << 19)
        handle.write(bytes(1 << 16))
    with pytest.raises(ArtifactError, match="does not match its sidecar.*run notebook 02_targets"):
        check_artifact(store, made_by="02_targets")
    assert calls == [store]


def test_stale_inputs_are_found_without_the_caller_naming_them(tmp_path):
    src = write_json_artifact(tmp_path / "decoders" / "d.json", [1], made_by="03_train")
    out = write_json_artifact(tmp_path / "predictions" / "p.json", [2], made_by="03_train", inputs={"decoder": src})
    assert read_sidecar(out)["input_paths"] == {"decoder": "../decoders/d.json"}
    check_artifact(out, made_by="03_train")
    write_json_artifact(src, [1, 1], made_by="03_train")       # the decoder was retrained
    with pytest.raises(ArtifactError, match=r"p.json is stale: its input decoder \(.*d.json\) changed.*03_train"):
        check_artifact(out, made_by="03_train")


def test_an_edited_input_hash_in_a_sidecar_is_stale(tmp_path):
    src = write_json_artifact(tmp_path / "d.json", [1], made_by="03_train")
    out = write_json_artifact(tmp_path / "p.json", [2], made_by="03_train", inputs={"decoder": src})
    meta = read_sidecar(out)
    sidecar_path(out).write_text(json.dumps({**meta, "inputs": {"decoder": "0" * 64}}))
    with pytest.raises(ArtifactError, match="stale"):
        check_artifact(out, made_by="03_train")


def test_a_corrupt_input_is_named_as_such(tmp_path):
    src = write_json_artifact(tmp_path / "d.json", [1], made_by="03_train")
    out = write_json_artifact(tmp_path / "p.json", [2], made_by="04_narrate_heldout", inputs={"decoder": src})
    _later()
    src.write_text("[7]")
    with pytest.raises(ArtifactError, match=r"input .*d.json does not match its sidecar.*03_train"):
        check_artifact(out, made_by="04_narrate_heldout")


def test_a_copied_data_directory_is_valid_and_hashed_once(tmp_path, monkeypatch):
    src = write_json_artifact(tmp_path / "data" / "binned" / "b.json", [1], made_by="01_preprocess")
    write_json_artifact(tmp_path / "data" / "splits" / "s.json", [2], made_by="03_train", inputs={"binned": src})
    shutil.copytree(tmp_path / "data", tmp_path / "moved")
    shutil.rmtree(tmp_path / "data")
    moved = tmp_path / "moved" / "splits" / "s.json"
    calls = []
    real = artifacts.sha256_file
    monkeypatch.setattr(artifacts, "sha256_file", lambda p, *a: calls.append(Path(p).name) or real(p, *a))
    check_artifact(moved, made_by="03_train")                  # new inodes: both files hashed, the sidecars told
    assert sorted(calls) == ["b.json", "s.json"]
    check_artifact(moved, made_by="03_train")
    assert sorted(calls) == ["b.json", "s.json"]               # the second read hashes nothing
    write_json_artifact(tmp_path / "moved" / "binned" / "b.json", [3], made_by="01_preprocess")
    with pytest.raises(ArtifactError, match="stale"):          # the relative input path still leads to the input
        check_artifact(moved, made_by="03_train")


def _write_many(path, writer, rounds, start):
    start.wait()
    for i in range(rounds):
        write_json_artifact(path, {"writer": writer, "round": i, "pad": "x" * (writer * 1000 + i)}, made_by="03_train",
                            params={"writer": writer})


def test_concurrent_writers_never_crash_or_mix_their_halves(tmp_path):
    path = tmp_path / "shared.json"
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_write_many, args=(path, w, 150, start)) for w in (1, 2)]
    for w in workers:
        w.start()
    start.set()                                                # both write at once, from the first round
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0]             # before the lock: FileNotFoundError on the sidecar
    meta = check_artifact(path, made_by="03_train", verify_hash=True)
    assert meta["params"]["writer"] == json.loads(path.read_text())["writer"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_missing_input_is_named(tmp_path):
    with pytest.raises(ArtifactError, match="input .*nope.json does not exist"):
        write_json_artifact(tmp_path / "o.json", 1, made_by="f", inputs={"x": tmp_path / "nope.json"})


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "t.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert not target.exists()
    assert target.read_text() == "new"
    assert sidecar_path(target).name == "t.txt.meta.json"

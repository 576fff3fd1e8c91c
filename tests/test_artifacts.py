import json

import numpy as np
import pytest

from neurrator.artifacts import (
    ArtifactError, atomic_path, check_artifact, read_sidecar, sha256_file, sidecar_path,
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


def test_failed_write_keeps_the_old_artifact_and_leaves_no_temp(tmp_path):
    path = write_json_artifact(tmp_path / "a.json", {"v": 1}, made_by="03_train")

    def crash(tmp):
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_artifact(path, crash, made_by="03_train")
    assert json.loads(path.read_text()) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]  # no temp file, no stale sidecar
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
    with pytest.raises(ArtifactError, match=r"stale: its inputs changed \(src\)"):
        check_artifact(out, made_by="03_train", inputs={"src": src})


def test_edited_or_truncated_content_is_refused(tmp_path):
    out = write_json_artifact(tmp_path / "o.json", {"k": "v"}, made_by="04_narrate_heldout")
    out.write_text('{"k": "w"}\n' + " " * (out.stat().st_size - 11))  # same size, other content
    check_artifact(out, made_by="04_narrate_heldout")  # size check alone cannot see it ...
    with pytest.raises(ArtifactError, match="does not match its sidecar"):
        check_artifact(out, made_by="04_narrate_heldout", verify_hash=True)  # ... the hash does
    out.write_text("{}")
    with pytest.raises(ArtifactError, match="does not match its sidecar"):
        check_artifact(out, made_by="04_narrate_heldout")


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

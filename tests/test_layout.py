"""DataLayout: every path of the chain, one folder per profile."""

from __future__ import annotations

import subprocess

import pytest

from neurrator.layout import DataLayout


def test_profiles_never_share_a_folder(tmp_path):
    demo, paper = DataLayout(tmp_path, "demo"), DataLayout(tmp_path, "paper")
    paths = lambda layout: [layout.allen_cache, layout.recording(1), layout.binned(1, "m"), layout.targets,
                            layout.captions("m"), layout.split(1, "m", "r"), layout.decoder(1, "m", "r"),
                            layout.checkpoints(1, "m", "r"), layout.predictions(1, "m", "r"), layout.narrations(),
                            layout.results("03_train"), layout.models, layout.optotagging]
    for a, b in zip(paths(demo), paths(paper)):
        assert a != b
        assert demo.root in a.parents and paper.root in b.parents
    assert len(set(paths(demo))) == len(paths(demo))


def test_an_external_allen_cache_and_profile_check(tmp_path):
    layout = DataLayout.resolve(tmp_path / "data", "paper", cache_dir=tmp_path / "allen")
    assert layout.allen_cache == (tmp_path / "allen").resolve() and layout.manifest.name == "manifest.json"
    assert layout.root == (tmp_path / "data" / "paper").resolve()
    assert layout.data_dir.is_dir() and not layout.root.exists()   # the profile folder comes with its first artifact
    with pytest.raises(ValueError, match="unknown profile"):
        DataLayout.resolve(tmp_path, "full")


def test_paths_are_shown_relative_to_the_data_directory(tmp_path):
    layout = DataLayout.resolve(tmp_path, "demo")
    assert layout.show(layout.decoder(7, "natural_movie_one", "front_only")) == \
        "<data>/demo/encoders/session_7/natural_movie_one_front_only_patches.pt"
    assert layout.show("/elsewhere/file") == "/elsewhere/file"


def test_trained_sessions_are_read_from_the_predictions(tmp_path):
    layout = DataLayout.resolve(tmp_path, "demo")
    assert layout.trained_sessions() == []
    for sid in (100000034, 100000017):
        layout.predictions(sid, "m", "r").parent.mkdir(parents=True)
    assert layout.trained_sessions() == [100000017, 100000034]


def test_only_the_layout_builds_artifact_paths(project_root):
    """No module or notebook joins the data directory with an artifact folder itself."""
    folders = "recordings|binned|targets|captions|splits|encoders|checkpoints|predictions|narrations|results|allen_cache"
    pattern = rf'(data_dir|data_path|root)\) / "({folders})"|(data_dir|data_path) / "({folders})"'
    done = subprocess.run(["grep", "-rnE", pattern, "neurrator", "notebooks", "--include=*.py"],
                          cwd=project_root, capture_output=True, text=True)
    offenders = [line for line in done.stdout.splitlines() if not line.startswith("neurrator/layout.py")]
    assert offenders == []


def test_every_package_folder_is_a_regular_package(project_root):
    """Each folder of modules has an ``__init__.py`` (a namespace folder is easy to lose in a non-editable install)."""
    folders = {p.parent for p in (project_root / "neurrator").rglob("*.py")} - {project_root / "neurrator" / "__pycache__"}
    assert {f for f in folders if not (f / "__init__.py").is_file()} == set()


def test_example_paths_name_every_kind_of_artifact_relative_to_the_data_dir(tmp_path):
    from neurrator.layout import DataLayout

    paths = DataLayout.resolve(tmp_path, "demo").example_paths(7, "natural_movie_one", "sparse_random")
    assert len(paths) == 10 and all(not p.startswith(str(tmp_path)) for p in paths.values())
    assert "session_7" in paths["trained encoder"] and "natural_movie_one" in paths["binned counts"]


def test_trained_session_names_the_fix(tmp_path):
    import pytest

    from neurrator.artifacts import ArtifactError
    from neurrator.layout import DataLayout

    layout = DataLayout.resolve(tmp_path, "demo")
    assert layout.trained_session(12) == 12
    with pytest.raises(ArtifactError, match="found 0 \\(none\\): run notebook 03_train"):
        layout.trained_session()
    for session in (3, 5):
        (layout.root / "predictions" / f"session_{session}").mkdir(parents=True)
    with pytest.raises(ArtifactError, match="found 2 \\(3, 5\\)"):
        layout.trained_session()

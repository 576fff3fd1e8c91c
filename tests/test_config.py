
import pytest

from neurrator import config


def test_explicit_beats_environment_beats_project(tmp_path, monkeypatch, project_root):
    monkeypatch.chdir(project_root / "book")
    monkeypatch.delenv(config.DATA_ENV, raising=False)
    assert config.resolve_data_dir(create=False) == project_root / "data"
    monkeypatch.setenv(config.DATA_ENV, str(tmp_path / "env"))
    assert config.resolve_data_dir() == tmp_path / "env"
    assert (tmp_path / "env").is_dir()
    assert config.resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"


def test_outside_a_project_defaults_to_cwd_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(config.DATA_ENV, raising=False)
    assert config.find_project_root() is None
    assert config.resolve_data_dir(create=False) == tmp_path / "data"


def test_a_file_as_data_dir_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match="NEURRATOR_DATA"):
        config.resolve_data_dir(tmp_path / "f")


def test_profiles():
    assert config.check_profile("paper") == "paper"
    with pytest.raises(ValueError, match="demo, paper"):
        config.check_profile("full")

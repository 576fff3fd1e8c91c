"""pyproject.toml and environment.yml describe the same environment; the paper extra stays out."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from importlib import metadata

import pytest
import yaml

from conftest import needs_default_install
from neurrator.book import install
from neurrator.book.environment import compute_device, package_versions


def _pyproject(root):
    return tomllib.loads((root / "pyproject.toml").read_text())


def test_environment_yml_matches_pyproject(project_root):
    env = yaml.safe_load((project_root / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "python=3.11" in conda
    assert _pyproject(project_root)["project"]["requires-python"].startswith(">=3.11")
    assert sorted(p for p in pip if not p.startswith("-e")) == sorted(_pyproject(project_root)["project"]["dependencies"])
    assert "-e ." in pip


def test_every_dependency_is_pinned_and_torch_is_2_13(project_root):
    deps = _pyproject(project_root)["project"]["dependencies"]
    assert all("==" in d for d in deps), [d for d in deps if "==" not in d]
    assert "torch==2.13.0" in deps
    names = {d.split("==")[0] for d in deps}
    assert not names & {"torchvision", "open-clip-torch", "open_clip_torch"}, "GPU-only packages belong to the paper extra"
    paper = {d.split("==")[0] for d in _pyproject(project_root)["project"]["optional-dependencies"]["paper"]}
    assert {"torchvision", "open-clip-torch"} <= paper


def test_installed_environment_matches_pins(project_root):
    for dep in _pyproject(project_root)["project"]["dependencies"]:
        name, version = dep.split("==")
        assert metadata.version(name).split("+")[0] == version, name


@needs_default_install
def test_paper_extra_is_not_installed():
    assert importlib.util.find_spec("torchvision") is None
    assert importlib.util.find_spec("open_clip") is None


def test_no_default_requirement_pulls_in_the_paper_extra(project_root):
    """What ``pip install .`` installs, followed through every installed package's own requirements
    (holds with or without the paper extra installed)."""
    seen, todo = set(), [_name(d) for d in _pyproject(project_root)["project"]["dependencies"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_name(r) for r in requires if "extra ==" not in r]
    assert len(seen) > 50 and "torch" in seen
    assert not seen & {"torchvision", "open-clip-torch"}


def test_no_deps_packages_are_listed_pinned_and_installed(project_root):
    reqs = install.no_deps_requirements(project_root / "pyproject.toml")
    assert reqs and all("==" in r for r in reqs)
    assert install.missing(reqs) == []
    # their declared dependencies were not pulled in
    assert importlib.util.find_spec("llama_cpp") is None


def test_the_installer_finds_the_projects_pyproject(project_root):
    assert install.PYPROJECT == project_root / "pyproject.toml"


def test_missing_reports_wrong_versions_and_rejects_unpinned():
    assert install.missing(["pyyaml==0.0.1"]) == ["pyyaml==0.0.1"]
    assert install.missing(["surely-not-installed-pkg==1.0"]) == ["surely-not-installed-pkg==1.0"]
    with pytest.raises(ValueError, match="pinned"):
        install.missing(["pyyaml"])


def test_package_versions_and_device():
    table = package_versions(["torch", "surely-not-installed-pkg"])
    assert table.set_index("package").loc["torch", "version"].startswith("2.13.0")
    assert table.set_index("package").loc["surely-not-installed-pkg", "version"] == "not installed"
    assert compute_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="device must be"):
        compute_device("tpu")


def _name(requirement: str) -> str:
    """A requirement's distribution name, normalised (``Jinja2 (>=3)`` -> ``jinja2``)."""
    return re.split(r"[\s<>=!~;(\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_allensdk_comes_without_its_pins_and_everything_it_needs_is_declared(project_root):
    deps = {_name(d) for d in _pyproject(project_root)["project"]["dependencies"]}
    no_deps = {_name(r) for r in install.no_deps_requirements(project_root / "pyproject.toml")}
    assert "allensdk" in no_deps and "allensdk" not in deps
    needed = {_name(r) for r in metadata.requires("allensdk") if "extra ==" not in r}
    assert needed - deps == set(), "allensdk requirements not declared in pyproject.toml"


def test_pip_check_complains_only_about_the_no_deps_packages(project_root):
    """Every `pip check` line is about a package installed with --no-deps (pyproject.toml says why)."""
    no_deps = {_name(r) for r in install.no_deps_requirements(project_root / "pyproject.toml")}
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.strip() and "No broken" not in line]
    unexplained = [line for line in lines if _name(line) not in no_deps]
    assert unexplained == []


def test_cebra_and_the_current_scientific_stack_import_without_a_shim():
    code = ("import numpy, scipy.stats, cebra; assert hasattr(numpy, 'dtypes'); "
            "assert hasattr(scipy.stats, 'false_discovery_control'); print(cebra.__version__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]

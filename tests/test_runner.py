"""`neurrator run`: chain order, parameters, failure messages and publishing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import nbformat
import pytest

from neurrator.book.runner import (
    NotebookFailed, UnknownParameter, chain_sources, parse_parameters, run_chain, strip_volatile, toc_notebooks,
)

HEADER = "# ---\n# jupyter:\n#   kernelspec:\n#     display_name: Python 3\n#     language: python\n#     name: python3\n# ---\n\n"


def _notebook(path, params: str, body: str):
    path.write_text(HEADER + '# %% tags=["parameters"]\n' + textwrap.dedent(params) + "\n# %%\n" + textwrap.dedent(body))
    return path


@pytest.fixture
def project(tmp_path):
    """A miniature project: _toc.yml, pyproject.toml and three chained notebooks (the second raises)."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'mini'\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n- file: book/01_first\n- file: book/02_broken\n- file: book/03_after\n"
    )
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _notebook(nbs / "01_first.py", "scale = 2\nlabel = 'x'\n", "print(type(scale).__name__, scale * 21, label)\n")
    _notebook(nbs / "02_broken.py", "scale = 1\n", "y = scale + 1\n\n# %%\nprint('about to fail')\n1 / 0\n")
    _notebook(nbs / "03_after.py", "seed = 0\n", "print('never')\n")
    return tmp_path


def _stdout(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "stream")


def test_chain_follows_the_toc(project):
    assert toc_notebooks(project) == ["01_first", "02_broken", "03_after"]
    assert [p.stem for p in chain_sources(project, ["03", "01_first"])] == ["03_after", "01_first"]
    with pytest.raises(FileNotFoundError, match="no notebook '09'.*01_first, 02_broken, 03_after"):
        chain_sources(project, ["09"])
    (project / "notebooks" / "03_after.py").unlink()
    with pytest.raises(FileNotFoundError, match="_toc.yml lists 03_after"):
        chain_sources(project)


def test_failure_names_notebook_and_cell_and_keeps_earlier_outputs(project):
    book = project / "book"
    with pytest.raises(NotebookFailed) as err:
        run_chain(chain_sources(project), {"scale": 3}, runs_dir=project / "runs", publish_dir=book, progress=False, log=lambda m: None)
    message = str(err.value)
    assert "notebook 02_broken failed in cell 3 of 02_broken.py" in message
    assert "ZeroDivisionError" in message and "1 / 0" in message
    runs = project / "runs" / "demo"
    assert "int 63 x" in _stdout(runs / "01_first.ipynb")          # earlier notebook ran and kept its output
    assert (book / "01_first.ipynb").is_file() and not (book / "02_broken.ipynb").exists()
    assert "about to fail" in _stdout(runs / "02_broken.ipynb")      # the failed run is kept for inspection
    assert not (runs / "03_after.ipynb").exists()                     # the chain stopped
    assert not list(runs.glob(".*"))                                  # no temporary files left behind


def test_parameters_from_yaml_then_command_line(project, tmp_path):
    params_file = tmp_path / "p.yaml"
    params_file.write_text("scale: 5\nlabel: from-yaml\n")
    params = parse_parameters([("label", "from-cli")], params_file)
    assert params == {"scale": 5, "label": "from-cli"}
    run_chain(chain_sources(project, ["01"]), params, run_name="p", runs_dir=project / "runs", progress=False, log=lambda m: None)
    assert "int 105 from-cli" in _stdout(project / "runs" / "p" / "01_first.ipynb")


def test_unknown_parameter_is_refused_before_anything_runs(project):
    with pytest.raises(UnknownParameter, match="unknown parameter.*scal\\b.*Known parameters: label, scale, seed"):
        run_chain(chain_sources(project), {"scal": 3}, runs_dir=project / "runs", progress=False)
    with pytest.raises(UnknownParameter, match=r"unknown parameter\(s\) movie: .* \(movie is now stimulus\)\. Known"):
        run_chain(chain_sources(project), {"movie": "natural_movie_one"}, runs_dir=project / "runs", progress=False)
    assert not (project / "runs").exists()


def test_a_value_of_the_wrong_kind_is_one_line_before_any_kernel_starts(project):
    nbs = project / "notebooks"
    _notebook(nbs / "03_after.py", "seed = 0\nguard_frames = [3, 15]\nsession_id = None\nfractions = [0.7, 0.3]\n",
              "print('never')\n")
    for params, message in [({"guard_frames": -3}, r"parameter guard_frames of 03_after must be a list \(its default: "
                                                   r"\[3, 15\]\), got -3$"),
                            ({"guard_frames": [2.7]}, r"guard_frames .*: each item a whole number, got \[2.7\]$"),
                            ({"scale": "2"}, r"parameter scale of 01_first must be a whole number .*got '2'$"),
                            ({"seed": True}, r"parameter seed of 03_after must be a whole number .*got True$")]:
        with pytest.raises(ValueError, match=message):
            run_chain(chain_sources(project), params, runs_dir=project / "runs", progress=False)
    assert not (project / "runs").exists()
    from neurrator.book.runner import check_parameters, declared_parameters, read_source

    declared = {s: declared_parameters(read_source(s)) for s in chain_sources(project)}
    check_parameters({"session_id": 123, "fractions": [1, 0], "guard_frames": None, "scale": 4}, declared)  # all fine


def test_bad_yaml_names_the_file_and_line(tmp_path):
    params_file = tmp_path / "p.yaml"
    params_file.write_text("scale: 5\nlabel: [unclosed\n")
    with pytest.raises(ValueError, match=r"p.yaml is not valid YAML at line 3, column 1: "):
        parse_parameters([], params_file)
    with pytest.raises(ValueError, match=r"-p label '\[x': not a YAML value"):
        parse_parameters([("label", "[x")])


def test_cli_reports_failure_and_unknown_parameter(project):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "neurrator", "run", "--project", str(project), "-q", *args],
                              capture_output=True, text=True, timeout=300)

    bad = cli("-p", "nope", "1")
    assert bad.returncode == 1 and "unknown parameter(s) nope" in bad.stderr
    (project / "p.yaml").write_text("scale: [1\n")
    bad_yaml = cli("-f", str(project / "p.yaml"))
    assert bad_yaml.returncode == 1 and bad_yaml.stderr.startswith("error: ") and "Traceback" not in bad_yaml.stderr
    assert "p.yaml is not valid YAML at line 2" in bad_yaml.stderr and len(bad_yaml.stderr.strip().splitlines()) == 1
    failed = cli()
    assert failed.returncode == 1
    assert "without encryption" not in failed.stderr + failed.stdout     # no kernel chatter (Unix sockets, not TCP)
    assert "notebook 02_broken failed in cell 3 of 02_broken.py" in failed.stderr and "[1/3] 01_first" in failed.stdout


def test_publish_is_deterministic_and_strips_volatile_metadata(project):
    outs = []
    for name in ("a", "b"):
        run_chain(chain_sources(project, ["01"]), runs_dir=project / "runs", run_name=name,
                  publish_dir=project / name, progress=False, log=lambda m: None)
        outs.append((project / name / "01_first.ipynb").read_text())
    assert outs[0] == outs[1]
    nb = json.loads(outs[0])
    assert "papermill" not in nb["metadata"]
    assert all("papermill" not in c["metadata"] and "execution" not in c["metadata"] for c in nb["cells"])
    raw = nbformat.read(project / "runs" / "a" / "01_first.ipynb", as_version=4)
    assert "papermill" in raw.metadata and strip_volatile(raw).cells[0].id == nb["cells"][0]["id"]


def test_figures_are_kept_even_when_the_caller_uses_agg(project, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    _notebook(project / "notebooks" / "01_first.py", "scale = 1\n",
              "import matplotlib.pyplot as plt\nplt.plot([0, scale])\nplt.show()\n")
    run_chain(chain_sources(project, ["01"]), runs_dir=project / "runs", progress=False, log=lambda m: None)
    nb = nbformat.read(project / "runs" / "demo" / "01_first.ipynb", as_version=4)
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def test_running_leaves_the_environment_as_it_was(project, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    _notebook(project / "notebooks" / "01_first.py", "scale = 1\n",
              "import warnings\nwarnings.warn('IProgress not found. Please update jupyter and ipywidgets.')\n"
              "warnings.warn('a warning the reader must see')\n")
    run_chain(chain_sources(project, ["01"]), runs_dir=project / "runs", progress=False, log=lambda m: None)
    assert os.environ["PATH"] == "/usr/bin:/bin" and os.environ["MPLBACKEND"] == "Agg"
    assert "PYTHONWARNINGS" not in os.environ
    nb = nbformat.read(project / "runs" / "demo" / "01_first.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "IProgress" not in text and "a warning the reader must see" in text


def test_publishing_keeps_only_the_last_state_of_progress_bars():
    from neurrator.book.runner import collapse_streams

    ticks = [nbformat.v4.new_output("stream", name="stderr", text=t)
             for t in ["\rtrain:   0%| 0/2", "\rtrain:  50%| 1/2", "\rtrain: 100%| 2/2", "\n"]]
    outputs = ticks + [nbformat.v4.new_output("stream", name="stdout", text="done\n"),
                       nbformat.v4.new_output("stream", name="stderr", text="warning\r\n")]
    collapsed = collapse_streams(outputs)
    assert [(o["name"], o["text"]) for o in collapsed] == [("stderr", "train: 100%| 2/2\n"), ("stdout", "done\n"),
                                                           ("stderr", "warning\n")]
    assert outputs[0]["text"] == "\rtrain:   0%| 0/2"          # the executed notebook itself is untouched


def test_the_book_shows_no_progress_bar_but_keeps_warnings():
    from neurrator.book.runner import strip_volatile

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stderr", text=t) for t in
                           ["\rtrain:   0%|          | 0/2", "\rtrain: 100%|##########| 2/2 [00:01<00:00]\n",
                            "Converting and de-quantizing GGUF tensors...\n", "UserWarning: check this\n"]]
    nb.cells[0].outputs.append(nbformat.v4.new_output("stream", name="stdout", text="12%|not a bar\n"))
    published = strip_volatile(nb).cells[0].outputs
    assert [(o["name"], o["text"]) for o in published] == [("stderr", "UserWarning: check this\n"),
                                                            ("stdout", "12%|not a bar\n")]
    only_bars = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
    only_bars.cells[0].outputs = [nbformat.v4.new_output("stream", name="stderr", text="sweep: 100%|###| 3/3\n")]
    assert strip_volatile(only_bars).cells[0].outputs == []


def test_publish_copies_the_results_a_notebook_wrote_in_this_run(project, tmp_path):
    """Headline results written during the run are published beside the notebook; stale ones are not."""
    data = tmp_path / "data"
    stale = data / "demo" / "results" / "03_after.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    _notebook(project / "notebooks" / "01_first.py", "profile = 'demo'\ndata_dir = None\n",
              "import pandas as pd\nfrom neurrator.evaluation import results\nfrom neurrator.layout import DataLayout\n"
              "table = pd.DataFrame({'x': [0.5]}, index=['r'])\n"
              "results.record(DataLayout.resolve(data_dir, profile), '01_first', "
              "{'t': results.table_record(table, {'x': results.COSINE})})\n")
    _notebook(project / "notebooks" / "03_after.py", "data_dir = None\n", "print('no results recorded')\n")
    (project / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n- file: book/01_first\n"
                                      "- file: book/03_after\n")
    book = project / "book"
    run_chain(chain_sources(project), {"data_dir": str(data)}, runs_dir=project / "runs", publish_dir=book,
              progress=False, log=lambda m: None)
    published = json.loads((book / "results" / "01_first.json").read_text())
    assert published["tables"]["t"]["rows"] == {"r": {"x": 0.5}}
    assert not (book / "results" / "03_after.json").exists()


def test_progress_echo_shows_the_newest_bar_state_rate_limited():
    from neurrator.book.runner import ProgressEcho

    now, shown = [0.0], []
    echo = ProgressEcho("03_train", shown.append, interval=10, clock=lambda: now[0])
    echo.write("\rtrain:   0%|          | 0/12")
    now[0] = 3
    echo.write("\rtrain:  25%|##5       | 3/12\rtrain:  33%|###3      | 4/12")   # too soon: not shown
    now[0] = 11
    echo.write("\rtrain:  50%|#####     | 6/12")
    now[0] = 12
    echo.write("\rtrain: 100%|##########| 12/12\n")                                  # completion: always shown
    assert shown == ["      03_train: train:   0%|          | 0/12", "      03_train: train:  50%|#####     | 6/12",
                     "      03_train: train: 100%|##########| 12/12"]


def test_the_kernels_progress_reaches_the_log(project):
    _notebook(project / "notebooks" / "01_first.py", "n = 3\n",
              "from tqdm import tqdm\nfor _ in tqdm(range(n), desc='steps'):\n    pass\n")
    lines = []
    run_chain(chain_sources(project, ["01"]), runs_dir=project / "runs", progress=True, log=lines.append)
    assert any("01_first: steps: 100%" in line for line in lines), lines


def test_published_streams_show_nothing_of_the_machine(tmp_path):
    from neurrator.book.runner import machine_free

    bar = "train: 100%|##########| 12/12 [01:23<00:00,  6.91s/epoch, loss=0.41]\n"
    assert machine_free(bar, None) == "train: 100%|##########| 12/12\n"
    warning = f"{tmp_path}/.venv/lib/python3.11/site-packages/hdmf/build.py:687: Warning: x\n"
    assert machine_free(warning, tmp_path) == ".venv/lib/python3.11/site-packages/hdmf/build.py:687: Warning: x\n"
    assert machine_free("loss [0.5, 0.6]\n", tmp_path) == "loss [0.5, 0.6]\n"   # not a timing

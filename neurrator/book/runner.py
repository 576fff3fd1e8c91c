"""Execute the notebook chain with papermill: ``neurrator run``.

Each ``notebooks/NN_name.py`` (jupytext py:percent) is converted in memory, executed with
papermill in chain order (the order of ``_toc.yml``) and written to ``runs/<name>/NN_name.ipynb``.
With ``publish`` the executed notebook, stripped of volatile metadata, replaces
``book/NN_name.ipynb``. A failing notebook stops the chain with :class:`NotebookFailed`, naming
the notebook and cell; notebooks that already ran keep their outputs.
"""

from __future__ import annotations

import ast

import contextlib
import copy
import hashlib
import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import nbformat
import yaml

from neurrator.artifacts import write_text_atomic

INJECTED_TAG = "injected-parameters"


class NotebookFailed(RuntimeError):
    """A notebook raised: the message names the notebook, the cell and the error."""


class UnknownParameter(ValueError):
    """A ``-p`` name that no notebook in the chain declares."""


@dataclass(frozen=True)
class RunResult:
    notebook: str
    output: Path
    seconds: float
    published: Path | None


# ---------------------------------------------------------------------------- chain


def toc_notebooks(project_root: str | os.PathLike) -> list[str]:
    """Notebook stems (``NN_name``) in the order ``_toc.yml`` lists them."""
    root = Path(project_root)
    toc = yaml.safe_load((root / "_toc.yml").read_text())

    def walk(node: Any) -> Iterable[str]:
        if isinstance(node, dict):
            if "file" in node:
                yield str(node["file"])
            for key in ("root", "parts", "chapters", "sections"):
                if key in node:
                    yield from walk(node[key] if key != "root" else {"file": node[key]})
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    stems = []
    for entry in walk(toc):
        stem = Path(entry).name
        if stem.split(".")[0][:2].isdigit():
            stems.append(Path(stem).stem if stem.endswith(".ipynb") else stem)
    return stems


def chain_sources(project_root: str | os.PathLike, only: Iterable[str] | None = None) -> list[Path]:
    """Source paths of the chain, optionally restricted to ``only`` (stems, ``NN`` prefixes or paths)."""
    root = Path(project_root)
    sources = [root / "notebooks" / f"{stem}.py" for stem in toc_notebooks(root)]
    for src in sources:
        if not src.is_file():
            raise FileNotFoundError(f"_toc.yml lists {src.stem} but {src} does not exist")
    if not only:
        return sources
    picked = []
    for key in only:
        path = Path(key)
        if path.suffix == ".py" and path.is_file():
            picked.append(path.resolve())
            continue
        hits = [s for s in sources if s.stem == key or s.stem.split("_")[0] == key]
        if not hits:
            names = ", ".join(s.stem for s in sources)
            raise FileNotFoundError(f"no notebook {key!r} in the chain; choose from: {names}")
        picked.extend(hits)
    return picked


# ---------------------------------------------------------------------------- parameters


def parse_parameters(pairs: Iterable[tuple[str, str]] = (), yaml_file: str | os.PathLike | None = None) -> dict:
    """Parameters from a YAML file, then ``-p key value`` pairs (values parsed as YAML scalars)."""
    params: dict[str, Any] = {}
    if yaml_file:
        try:
            loaded = yaml.safe_load(Path(yaml_file).read_text()) or {}
        except yaml.YAMLError as err:
            where = getattr(err, "problem_mark", None)
            line = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
            raise ValueError(f"{yaml_file} is not valid YAML{line}: {getattr(err, 'problem', None) or err}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"{yaml_file} must hold a mapping of parameter names to values")
        params.update(loaded)
    for key, value in pairs:
        try:
            params[key] = yaml.safe_load(value) if value != "" else ""
        except yaml.YAMLError as err:
            raise ValueError(f"-p {key} {value!r}: not a YAML value ({getattr(err, 'problem', None) or err}); "
                             f"quote text, e.g. -p {key} '\"{value}\"'") from None
    return params


def read_source(path: str | os.PathLike) -> nbformat.NotebookNode:
    """A jupytext source converted in memory to a notebook (papermill only reads .ipynb)."""
    import jupytext

    nb = jupytext.read(str(path))
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    return nb


def declared_parameters(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """Names and default expressions of the notebook's ``parameters`` cell (via papermill)."""
    import papermill

    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"a notebook needs exactly one cell tagged 'parameters', found {len(cells)}")
    inferred = papermill.inspect_notebook(nb)
    return {name: info["default"] for name, info in inferred.items()}


def check_parameters(params: Mapping[str, Any], declared: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse parameter names that no notebook declares, listing the ones that exist, and values whose type
    differs from the declared default's (before any kernel starts: one line naming the parameter, the kind of
    value its notebook takes, and the value given)."""
    known = set().union(*declared.values()) if declared else set()
    unknown = sorted(set(params) - known)
    if unknown:
        from neurrator.book.parameters import RENAMED

        renamed = [f"{old} is now {RENAMED[old]}" for old in unknown if old in RENAMED]
        raise UnknownParameter(
            f"unknown parameter(s) {', '.join(unknown)}: no notebook in the chain declares them"
            + (f" ({'; '.join(renamed)})" if renamed else "") + f". Known parameters: {', '.join(sorted(known))}"
        )
    for source, defaults in declared.items():
        if isinstance(defaults, Mapping):
            for name in sorted(set(params) & set(defaults)):
                _check_type(name, params[name], defaults[name], Path(str(source)).stem)


#: the kinds of value a parameter may take, from its default
_KINDS = {bool: ("true or false", (bool,)), int: ("a whole number", (int,)), float: ("a number", (int, float)),
          str: ("text", (str,)), list: ("a list", (list, tuple)), dict: ("a mapping", (dict,))}


def _kind(value: Any) -> tuple[str, tuple[type, ...]] | None:
    return next((_KINDS[t] for t in (bool, int, float, str, list, dict) if isinstance(value, t)), None)


def _accepts(kind: tuple[str, tuple[type, ...]], value: Any) -> bool:
    return isinstance(value, kind[1]) and (bool in kind[1] or not isinstance(value, bool))


def _check_type(name: str, value: Any, default_expression: Any, notebook: str) -> None:
    """``value`` (or None) must be of the kind of the literal default (a default of None, or an expression, takes
    anything); a list default whose items share a kind also fixes the kind of each item."""
    try:
        default = ast.literal_eval(str(default_expression))
    except (ValueError, SyntaxError):
        return
    kind = _kind(default)
    if default is None or kind is None or value is None:   # None is every notebook's "use the default behaviour"
        return
    shown = f"parameter {name} of {notebook} must be {kind[0]} (its default: {default_expression})"
    if not _accepts(kind, value):
        raise ValueError(f"{shown}, got {value!r}")
    if isinstance(default, list) and default:
        items = {_kind(item) for item in default}
        if len(items) == 1 and None not in items:
            item_kind = items.pop()
            wrong = [item for item in value if not _accepts(item_kind, item)]
            if wrong:
                raise ValueError(f"{shown}: each item {item_kind[0]}, got {value!r}")


# ---------------------------------------------------------------------------- publishing


def collapse_streams(outputs: list) -> list:
    """Merge consecutive stdout/stderr outputs and keep each line's final state after carriage returns,
    so a progress bar is stored (and shown in the book) as its last update, not one output per tick."""
    merged: list = []
    for out in outputs:
        if out.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream" \
                and merged[-1]["name"] == out["name"]:
            merged[-1]["text"] += out["text"]
        else:
            merged.append(copy.deepcopy(out))
    for out in merged:
        if out.get("output_type") == "stream" and "\r" in out["text"]:
            lines = out["text"].split("\n")
            out["text"] = "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines)
    return merged


#: a progress bar's elapsed<remaining, rate: how fast this machine was, not what it computed
_BAR_TIMING = re.compile(r" ?\[\d+(?::\d+)+<[^\]]*\]")


def machine_free(text: str, root: str | os.PathLike | None) -> str:
    """Stream text without what only the building machine knows: progress-bar timings, and the
    project's absolute path (paths are shown relative to the project)."""
    text = _BAR_TIMING.sub("", text)
    return text.replace(str(Path(root).resolve()) + os.sep, "") if root else text


#: a tqdm progress bar's line ("name: 100%|####| 15/15 ..."): the terminal shows progress, the book does not
_BAR_LINE = re.compile(r"^.*\d+%\|.*\|\s*\d+/\d+.*$")
#: library chatter that says nothing about the analysis
_CHATTER = re.compile(r"^(Converting and de-quantizing GGUF tensors.*|\s*)$")


def without_progress(outputs: list) -> list:
    """``outputs`` without progress-bar lines and library chatter on stderr (an output left empty is dropped)."""
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            lines = [line for line in out["text"].split("\n") if not (_BAR_LINE.match(line) or _CHATTER.match(line))]
            if not lines:
                continue
            out = {**out, "text": "\n".join(lines) + "\n"}
        kept.append(out)
    return kept


def strip_volatile(nb: nbformat.NotebookNode, root: str | os.PathLike | None = None) -> nbformat.NotebookNode:
    """Drop timings, the project's absolute path, random ids and progress bars (the terminal showed them), so
    republishing gives small diffs and the book shows nothing of the machine that built it (but in
    chapter 00, whose printed tables are about that machine). ``root``: the project folder."""
    nb = copy.deepcopy(nb)
    parameters = nb.metadata.pop("papermill", {}).get("parameters")
    if parameters:  # keep what the published run was parameterised with
        nb.metadata["papermill"] = {"parameters": parameters}
    nb.metadata.pop("widgets", None)
    for index, cell in enumerate(nb.cells):
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if "outputs" in cell:
            cell.outputs = [nbformat.from_dict(o) for o in without_progress(collapse_streams(cell.outputs))]
            for out in cell.outputs:
                if out.get("output_type") == "stream":
                    out["text"] = machine_free(out["text"], root)
        digest = hashlib.sha1(f"{index}:{cell.source}".encode()).hexdigest()[:8]
        cell["id"] = f"c{index:03d}-{digest}"
    return nb


def publish_results(stem: str, params: Mapping[str, Any], publish_dir: Path, since: float) -> Path | None:
    """Copy the headline results that notebook ``stem`` wrote during this run (if it records any) to
    ``publish_dir/results/<stem>.json``, the reference that ``tests/test_headline_results.py`` compares with."""
    from neurrator import config
    from neurrator.evaluation import results
    from neurrator.layout import DataLayout

    layout = DataLayout.resolve(params.get("data_dir"), params.get("profile", config.DEFAULT_PROFILE), create=False)
    source = layout.results(stem)
    if not source.is_file() or source.stat().st_mtime < since:
        return None
    return write_text_atomic(publish_dir / results.RESULTS_DIR / f"{stem}.json", source.read_text())


def write_notebook_atomic(nb: nbformat.NotebookNode, path: str | os.PathLike) -> Path:
    return write_text_atomic(path, nbformat.writes(nb) + "\n")


# ---------------------------------------------------------------------------- execution


def _failure_message(source: Path, nb: nbformat.NotebookNode, output: Path, err: Exception) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        # position in the source file (1-based, markdown included), not in the parameterised copy
        position = next((i for i, c in enumerate(nb.cells, 1) if c.source == err.source), err.cell_index)
        snippet = "\n".join("    " + line for line in err.source.splitlines()[:6])
        return (
            f"notebook {source.stem} failed in cell {position} of {source.name} (In [{err.exec_count}]): "
            f"{err.ename}: {err.evalue}\n{snippet}\n"
            f"The executed notebook with the traceback is at {output}; notebooks before it kept their outputs."
        )
    return f"notebook {source.stem} could not run: {type(err).__name__}: {err}"


def run_chain(
    sources: list[Path],
    params: Mapping[str, Any] | None = None,
    *,
    run_name: str = "demo",
    runs_dir: str | os.PathLike = "runs",
    publish_dir: str | os.PathLike | None = None,
    cwd: str | os.PathLike | None = None,
    progress: bool = True,
    log=print,
) -> list[RunResult]:
    """Execute ``sources`` in order; see the module docstring."""
    params = dict(params or {})
    notebooks = {src: read_source(src) for src in sources}
    declared = {src: declared_parameters(nb) for src, nb in notebooks.items()}
    check_parameters(params, declared)
    out_dir = Path(runs_dir) / run_name
    out_dir.mkdir(parents=True, exist_ok=True)
    with _kernel_environment():
        return _execute(notebooks, declared, params, out_dir, publish_dir, cwd, progress, log)


@contextlib.contextmanager
def _kernel_environment():
    """The environment the kernels start with, restored afterwards (nothing is left changed).

    The kernel ("python3") must be this environment's Python, and must draw figures inline even
    when the caller's environment says MPLBACKEND=Agg (that would silently drop every figure).
    tqdm.auto warns "IProgress not found" in a kernel without ipywidgets; the book shows text
    progress bars on purpose, so the kernels ignore that one warning.
    """
    saved = {name: os.environ.get(name) for name in ("PATH", "MPLBACKEND", "PYTHONWARNINGS")}
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + (saved["PATH"] or "")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [saved["PYTHONWARNINGS"], KERNEL_WARNING_FILTER]))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


#: the one warning the notebook kernels ignore (see :func:`_kernel_environment`)
KERNEL_WARNING_FILTER = "ignore:IProgress not found:Warning"


class ProgressEcho:
    """Where papermill writes a kernel's stderr while a cell runs: the newest state of the kernel's
    progress bars (and any warning) reaches ``log``, at most once every ``interval`` seconds and
    whenever a bar completes, so a person sees which step is running without a flood of updates."""

    def __init__(self, label: str, log, interval: float = 15.0, clock=time.monotonic):
        self.label, self.log, self.interval, self.clock = label, log, interval, clock
        self.shown_at = -math.inf

    def write(self, text: str) -> None:
        states = [part.strip() for part in re.split(r"[\r\n]+", text) if part.strip()]
        if not states:
            return
        latest, now = states[-1], self.clock()
        if now - self.shown_at >= self.interval or re.search(r"\b100%\|", latest):
            self.log(f"      {self.label}: {latest}")
            self.shown_at = now

    def flush(self) -> None:
        pass


def _ipc_kernel_manager(folder: Path) -> type:
    """A kernel manager whose kernel listens on Unix sockets in ``folder`` (private to this user), not on local
    TCP ports (which anyone on the machine can reach, and about which every kernel prints a warning)."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport, self.ip = "ipc", str(folder / "kernel")

    return IPCKernelManager


def _execute(notebooks, declared, params, out_dir, publish_dir, cwd, progress, log) -> list[RunResult]:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    results = []
    for index, (src, nb) in enumerate(notebooks.items(), start=1):
        own = {k: v for k, v in params.items() if k in declared[src]}
        output = out_dir / f"{src.stem}.ipynb"
        log(f"[{index}/{len(notebooks)}] {src.stem}" + (f"  parameters: {own}" if own else ""))
        start, start_wall = time.perf_counter(), time.time()
        tmp = output.with_name(f".{output.stem}.running.ipynb")
        try:
            echo = {"stderr_file": ProgressEcho(src.stem, log)} if progress else {}
            with tempfile.TemporaryDirectory(prefix="neurrator-kernel-") as sockets:
                executed = papermill.execute_notebook(
                    nb, str(tmp), parameters=own or None, kernel_name="python3", progress_bar=progress,
                    cwd=str(cwd) if cwd else None, request_save_on_cell_execute=True,
                    kernel_manager_class=_ipc_kernel_manager(Path(sockets)), **echo,
                )
        except PapermillExecutionError as err:
            os.replace(tmp, output)
            raise NotebookFailed(_failure_message(src, nb, output, err)) from None
        except Exception as err:  # kernel died, bad parameter type, ...
            if tmp.exists():
                os.replace(tmp, output)
            raise NotebookFailed(_failure_message(src, nb, output, err)) from err
        os.replace(tmp, output)
        seconds = time.perf_counter() - start
        published = None
        if publish_dir is not None:
            published = write_notebook_atomic(strip_volatile(executed, root=Path(publish_dir).resolve().parent),
                                              Path(publish_dir) / f"{src.stem}.ipynb")
            publish_results(src.stem, own, Path(publish_dir), since=start_wall)
        log(f"    done in {seconds:.1f} s -> {output}" + (f" (published {published})" if published else ""))
        results.append(RunResult(src.stem, output, seconds, published))
    return results

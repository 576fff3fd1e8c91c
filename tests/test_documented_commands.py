"""The commands that README.md and book/*.md document work: ``neurrator run`` names notebooks of the
chain and parameters they declare, and ``make`` names targets of the Makefile."""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path

import pytest

from neurrator.book.cli import build_parser
from neurrator.book.runner import check_parameters, chain_sources, declared_parameters, parse_parameters, read_source

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "book").glob("*.md"))]
#: notebook names the docs use as placeholders: each stands for every notebook of the chain
PLACEHOLDERS = {"NN_name"}


def code_lines(path: Path) -> list[str]:
    """Lines of the fenced code blocks, then the inline code spans, of a Markdown file."""
    text = path.read_text()
    blocks = re.findall(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1", text, flags=re.S | re.M)
    lines = [line for _, body in blocks for line in body.replace("\\\n", " ").splitlines()]
    prose = re.sub(r"^(`{3,}|~{3,})[^\n]*\n.*?^\1", "", text, flags=re.S | re.M)
    return lines + re.findall(r"`([^`\n]+)`", prose)


def commands(program: str) -> list[tuple[str, list[str]]]:
    """(file, arguments) of every documented ``program ...`` command (shell comments dropped)."""
    found = []
    for path in DOCS:
        for line in code_lines(path):
            match = re.search(rf"(?:^|[\s/]){re.escape(program)}(\s.*)?$", line)
            if match:
                found.append((path.name, shlex.split(match.group(1) or "", comments=True)))
    return found


@functools.cache
def _declared(source: Path) -> tuple[tuple[str, str], ...]:
    return tuple(declared_parameters(read_source(source)).items())


def declared(source: Path) -> dict[str, str]:
    """The notebook's parameters and their default expressions (the kinds their values are checked against)."""
    return dict(_declared(source))


def check_run_command(argv: list[str]) -> None:
    """Raise if ``neurrator run argv`` would be refused: unknown notebooks, undeclared parameters or values of the
    wrong kind."""
    args = build_parser().parse_args(["run", *argv])
    chain = chain_sources(ROOT)
    keys = [str(ROOT / key) if key.endswith(".py") else key for key in args.notebooks]
    sources = chain_sources(ROOT, keys)
    outside = [s for s in sources if s not in chain]
    if outside:
        raise FileNotFoundError(f"not notebooks of the chain: {outside}")
    params = parse_parameters(args.parameter or [])   # a -f file is an example name, not read
    if args.data_dir:
        params["data_dir"] = args.data_dir
    check_parameters(params, {s: declared(s) for s in sources})


RUN_COMMANDS = [(name, argv) for name, argv in commands("neurrator") if argv[:1] == ["run"]]


def test_the_docs_document_run_and_make_commands():
    """The extraction finds the commands (so the tests below are not vacuous)."""
    assert {name for name, _ in RUN_COMMANDS} >= {"README.md", "intro.md"}
    assert any("-p" in argv for _, argv in RUN_COMMANDS)
    assert {name for name, _ in commands("make")} >= {"README.md", "intro.md"}


@pytest.mark.parametrize("name, argv", RUN_COMMANDS, ids=[" ".join(argv) for _, argv in RUN_COMMANDS])
def test_documented_run_command_names_chain_notebooks_and_declared_parameters(name, argv):
    argv = argv[1:]
    stems = [s.stem for s in chain_sources(ROOT)]
    variants = [[stem if a in PLACEHOLDERS else a for a in argv] for stem in stems] if PLACEHOLDERS & set(argv) else [argv]
    for variant in variants:
        try:
            check_run_command(variant)
        except (FileNotFoundError, ValueError, SystemExit) as err:   # UnknownParameter is a ValueError
            pytest.fail(f"{name}: `neurrator run {shlex.join(variant)}` would be refused: {err}")


def test_other_documented_neurrator_commands_parse():
    for name, argv in commands("neurrator"):
        if argv and argv[0] != "run" and argv != ["sweep"]:   # a bare `neurrator sweep` in prose names the command
            try:
                build_parser().parse_args(argv)
            except SystemExit:
                pytest.fail(f"{name}: `neurrator {shlex.join(argv)}` is not a valid command")


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {t for line in re.findall(r"^([^\s#=:][^=:]*?)\s*::?(?!=)", text, flags=re.M) for t in line.split()}


def test_documented_make_targets_exist():
    targets = makefile_targets()
    assert {"book", "test"} <= targets
    for name, argv in commands("make"):
        wanted = [a for a in argv if "=" not in a and not a.startswith("-")]   # not VAR=value, not options
        missing = sorted(set(wanted) - targets)
        assert not missing, f"{name}: `make {shlex.join(argv)}`: no Makefile target {missing}"


def test_documented_sweep_commands_name_chain_notebooks():
    sweeps = [(name, argv) for name, argv in commands("neurrator") if argv[:1] == ["sweep"] and len(argv) > 1]
    assert sweeps, "the README documents neurrator sweep"
    for name, argv in sweeps:
        args = build_parser().parse_args(argv)
        try:
            chain_sources(ROOT, args.notebooks)
        except FileNotFoundError as err:
            pytest.fail(f"{name}: `neurrator {shlex.join(argv)}` names a notebook outside the chain: {err}")

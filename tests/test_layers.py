"""The package's layers only point down: no module imports from a layer above its own (measured on the source with
``ast``, every ``import`` inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "neurrator"

#: bottom to top; a module may import from its own layer or any layer below (root modules: the ground floor)
LAYERS = ["<root>", "vlm", "world", "data", "models", "evaluation", "profiles", "book", "__main__"]

#: upward imports that exist today and are to be removed; a new one fails, and so does an entry that is gone
KNOWN_UPWARD: set[tuple[str, str]] = set()


def _layer(module: str, package: Path = PACKAGE) -> str:
    parts = module.split(".")
    if len(parts) == 1 or (package / f"{parts[1]}.py").is_file():
        return "__main__" if parts[-1] == "__main__" else "<root>"
    return parts[1]


def upward_imports(package: Path = PACKAGE) -> set[tuple[str, str]]:
    found = set()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent)
        own = _layer(".".join(relative.with_suffix("").parts), package)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                if target.split(".")[0] == "neurrator" and LAYERS.index(_layer(target, package)) > LAYERS.index(own):
                    found.add((relative.as_posix(), target))
    return found


def test_no_module_imports_from_a_layer_above_its_own():
    found = upward_imports()
    assert found - KNOWN_UPWARD == set(), "imports from a layer above: move the imported code down, or the importer up"
    assert KNOWN_UPWARD - found == set(), "an upward import listed as known is gone: remove it from KNOWN_UPWARD"


def test_the_check_sees_an_upward_import(tmp_path):
    (tmp_path / "neurrator" / "models").mkdir(parents=True)
    (tmp_path / "neurrator" / "models" / "x.py").write_text("def f():\n    from neurrator.book.runner import run_chain\n"
                                                           "from neurrator.data.splits import REGIMES\n")
    assert upward_imports(tmp_path / "neurrator") == {("neurrator/models/x.py", "neurrator.book.runner")}

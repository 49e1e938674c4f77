"""Print the imports between live-nst's layers, and check that they all point down.

Run from the repository root (it reads the source, imports nothing of live-nst):

    python tools/import_graph.py             # layer -> layer, with how many imports each
    python tools/import_graph.py --modules   # module -> module across layers, and private names
    python tools/import_graph.py --check     # exit 1 on an upward import or a private name

The layers, lowest first. A module may import its own layer and any layer below it:

    runtime   live_nst/ (the torch-free package `live-nst run` needs)
    models    models/   (live_nst.models: networks, losses, training)
    export    export/   (live_nst.export: checkpoints to ONNX, the shipped pack)
    commands  live_nst/cli.py, cli_torch.py, __main__.py (the `live-nst` command line)
    bench     bench/    (live_nst.bench: the benchmark)

commands and bench are both at the top and do not import each other. The command line's
imports of models/ and export/ must sit inside functions, so that `live-nst run` never
loads PyTorch. No module imports another module's private (_underscore) name.
tests/ (which may test private helpers) and this folder are not part of the graph.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "live_nst"
# Folders that install under the package (pyproject.toml's package-dir).
MAPPED = {"models": "live_nst.models", "export": "live_nst.export", "bench": "live_nst.bench"}
COMMANDS = frozenset({"live_nst.cli", "live_nst.cli_torch", "live_nst.__main__"})
RANK = {"runtime": 0, "models": 1, "export": 2, "commands": 3, "bench": 3}
LAZY_ONLY = {("commands", "models"), ("commands", "export")}  # what `live-nst run` must not load


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module
    name: str | None  # the name taken from it (from X import name), or None
    line: int
    lazy: bool  # inside a function


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the package as installed: dotted name -> file."""
    found = {}
    folders = {PACKAGE: root / PACKAGE, **{name: root / folder for folder, name in MAPPED.items()}}
    for dotted, folder in folders.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((dotted, *parts))] = path
    return found


def layer_of(module: str) -> str:
    for name, layer in (("live_nst.models", "models"), ("live_nst.export", "export"), ("live_nst.bench", "bench")):
        if module == name or module.startswith(name + "."):
            return layer
    return "commands" if module in COMMANDS else "runtime"


def imports_in(module: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    """The package imports ``module`` makes (also those inside functions or TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node, lazy in _walk(tree, lazy=False):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    yield Import(module, alias.name, None, node.lineno, lazy)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in known:  # from live_nst.bench import report: the module itself
                    yield Import(module, submodule, None, node.lineno, lazy)
                else:
                    yield Import(module, base, alias.name, node.lineno, lazy)
    yield from _private_attributes(module, tree, known)


def _private_attributes(module: str, tree: ast.Module, known: dict[str, Path]) -> Iterator[Import]:
    """``mod._name`` where ``mod`` is a package module bound by ``from live_nst import mod``
    (or ``import live_nst.mod as mod``): a private name reached through the module."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            bound.update({alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names
                          if f"{node.module}.{alias.name}" in known})
        elif isinstance(node, ast.Import):
            bound.update({alias.asname: alias.name for alias in node.names if alias.asname and alias.name in known})
    for node, lazy in _walk(tree, lazy=False):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            yield Import(module, bound[node.value.id], node.attr, node.lineno, lazy)


def _walk(node: ast.AST, lazy: bool) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        yield child, lazy
        inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        yield from _walk(child, inner)


def all_imports(root: Path = ROOT) -> list[Import]:
    known = modules(root)
    return [found for module, path in known.items() for found in imports_in(module, path, known)]


def upward(found: Import) -> str | None:
    """Why ``found`` breaks the layering, or None when it points down (or sideways within a layer)."""
    source, target = layer_of(found.source), layer_of(found.target)
    if source == target:
        return None
    if RANK[target] >= RANK[source]:
        return f"{source} may not import {target}"
    if (source, target) in LAZY_ONLY and not found.lazy:
        return f"{source} imports {target} only inside functions (keeps `live-nst run` free of PyTorch)"
    return None


def private(found: Import) -> bool:
    """``found`` takes another module's _private name (a module's own are its business)."""
    names = [found.name] if found.name else []
    names += found.target.split(".")[1:] if found.name is None else []
    return found.source != found.target and any(n.startswith("_") and not n.startswith("__") for n in names)


def problems(root: Path = ROOT) -> list[str]:
    """Every upward import and private-name import, as 'file:line: module -> target: why'."""
    known = modules(root)
    lines = []
    for found in all_imports(root):
        why = upward(found) or ("imports a private name" if private(found) else None)
        if why:
            where = known[found.source].relative_to(root)
            what = f"{found.target}.{found.name}" if found.name else found.target
            lines.append(f"{where}:{found.line}: {found.source} -> {what}: {why}")
    return lines


def layer_graph(found: list[Import]) -> str:
    edges = Counter((layer_of(i.source), layer_of(i.target)) for i in found)
    order = sorted(RANK, key=lambda layer: (-RANK[layer], layer))
    rows = [f"{source:>8} -> {target:<8} {count:4d} import{'s' if count != 1 else ''}"
            f"{'   UPWARD' if RANK[target] >= RANK[source] else ''}"
            for source in order for target in order
            if source != target and (count := edges[(source, target)])]
    return "\n".join(rows)


def module_graph(found: list[Import]) -> str:
    edges = sorted({(i.source, i.target) for i in found if layer_of(i.source) != layer_of(i.target)})
    return "\n".join(f"{source} -> {target}" for source, target in edges)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", action="store_true", help="also list module -> module edges across layers")
    parser.add_argument("--check", action="store_true", help="exit 1 when any import breaks the rules")
    args = parser.parse_args(argv)
    found = all_imports()
    print("imports between layers (lower layers last):")
    print(layer_graph(found))
    if args.modules:
        print("\nmodule -> module, across layers:")
        print(module_graph(found))
    broken = problems()
    print(f"\n{len(broken)} import{'s' if len(broken) != 1 else ''} against the rules" + (":" if broken else ""))
    for line in broken:
        print("  " + line)
    return 1 if broken and args.check else 0


if __name__ == "__main__":
    sys.exit(main())

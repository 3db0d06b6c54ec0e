"""Size metrics of the code base: longest functions, largest classes, inner imports.

Reads the package's sources with :mod:`ast` (nothing is imported) and prints a
table a reviewer can compare before and after a change::

    python tools/codemetrics.py [--top 10] [PATH ...]

Lines of code (``loc``) count the lines of a definition that hold code: blank
lines, comment lines and docstrings are not counted. A class's attributes are the
distinct ``self.NAME`` assigned in its methods. A function-level import is an
import of the package's own modules inside a function body (a hidden dependency).
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATHS = ("neuroadapt", "scenes")


@dataclass(frozen=True)
class Definition:
    """One function or class and its size."""

    path: str
    name: str
    line: int
    loc: int
    methods: int = 0
    attributes: int = 0


def _code_lines(source: str) -> set[int]:
    """Line numbers holding code tokens (no comments, blank lines or docstrings)."""
    lines: set[int] = set()
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    previous = tokenize.NEWLINE
    for tok in tokens:
        kind = tok.type
        if kind in (
            tokenize.COMMENT,
            tokenize.NL,
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.ENDMARKER,
        ):
            if kind in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                previous = kind
            continue
        # A string that starts a logical line on its own is a docstring or a bare
        # string statement: not code.
        if kind == tokenize.STRING and previous in (
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
        ):
            previous = tokenize.STRING
            continue
        previous = kind
        lines.update(range(tok.start[0], tok.end[0] + 1))
    return lines


def _is_own_import(node: ast.stmt, package: str) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == package
    if isinstance(node, ast.Import):
        return any(a.name.split(".")[0] == package for a in node.names)
    return False


def measure(
    path: Path, package: str = "neuroadapt"
) -> tuple[list[Definition], list[Definition], int]:
    """Functions, classes and the number of function-level own-package imports of a file."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    code = _code_lines(source)
    rel = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    functions: list[Definition] = []
    classes: list[Definition] = []
    inner_imports = 0

    def loc(node: ast.AST) -> int:
        return sum(1 for i in range(node.lineno, node.end_lineno + 1) if i in code)

    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions.append(Definition(rel, node.name, node.lineno, loc(node)))
            for inner in ast.walk(node):
                if inner is not node and _is_own_import(inner, package):
                    inner_imports += 1
        elif isinstance(node, ast.ClassDef):
            methods = [
                n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
            attrs = {
                t.attr
                for m in methods
                for t in ast.walk(m)
                if isinstance(t, ast.Attribute)
                and isinstance(t.ctx, ast.Store)
                and isinstance(t.value, ast.Name)
                and t.value.id == "self"
            }
            classes.append(
                Definition(rel, node.name, node.lineno, loc(node), len(methods), len(attrs))
            )
    return functions, classes, inner_imports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "paths",
        nargs="*",
        default=list(DEFAULT_PATHS),
        help="folders or files relative to the project (default: %(default)s)",
    )
    parser.add_argument("--top", type=int, default=10, help="rows per table (%(default)s)")
    args = parser.parse_args(argv)
    files = sorted(
        p
        for arg in args.paths
        for p in ((ROOT / arg).rglob("*.py") if (ROOT / arg).is_dir() else [ROOT / arg])
    )
    functions: list[Definition] = []
    classes: list[Definition] = []
    inner = 0
    for path in files:
        f, c, n = measure(path)
        functions += f
        classes += c
        inner += n
    functions.sort(key=lambda d: -d.loc)
    classes.sort(key=lambda d: -d.loc)
    print(
        f"files: {len(files)}   functions: {len(functions)}   classes: {len(classes)}   "
        f"function-level imports of the package: {inner}"
    )
    long = [d for d in functions if d.loc > 60]
    print(f"functions over 60 lines of code: {len(long)}")
    print("\nlongest functions (lines of code)")
    for d in functions[: args.top]:
        print(f"  {d.loc:4d}  {d.path}:{d.line}  {d.name}")
    print("\nlargest classes (lines of code, methods, attributes)")
    for d in classes[: args.top]:
        print(f"  {d.loc:4d} {d.methods:3d} {d.attributes:3d}  {d.path}:{d.line}  {d.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

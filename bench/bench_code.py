"""How big and how tangled the code is: the figures a simplification is judged by.

    python -m bench.bench_code            # lines per package, largest module, longest functions
    python -m bench.bench_code --mypy     # ... and the number of type-checker errors

Lines are non-blank, non-comment lines of the four packages (``config``, ``retrieval``, ``bot``,
``cli``); function length is counted from ``def`` to the function's last line, with its body's
nested functions included, because that is what a reader has to hold in mind at once.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "retrieval", "bot", "cli")


def code_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))


def functions(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            end = node.end_lineno or node.lineno
            out.append((end - node.lineno + 1, f"{module}:{node.lineno} {node.name}"))
    return out


def mypy_errors() -> int:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", *PACKAGES],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Found (\d+) errors?", result.stdout)
    return int(match.group(1)) if match else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mypy", action="store_true", help="also count type-checker errors")
    args = parser.parse_args()
    modules: list[tuple[int, str]] = []
    funcs: list[tuple[int, str]] = []
    for package in PACKAGES:
        total = 0
        files = sorted((REPO / package).rglob("*.py"))
        for path in files:
            text = path.read_text(encoding="utf-8")
            rel = str(path.relative_to(REPO))
            n = code_lines(text)
            total += n
            modules.append((n, rel))
            funcs.extend(functions(ast.parse(text), rel))
        print(f"{package:<10} {total:>6} lines in {len(files)} modules")
    print(f"{'total':<10} {sum(n for n, _ in modules):>6} lines in {len(modules)} modules")
    print("largest modules:")
    for n, name in sorted(modules, reverse=True)[:5]:
        print(f"  {n:>5}  {name}")
    print("longest functions:")
    for n, name in sorted(funcs, reverse=True)[:5]:
        print(f"  {n:>5}  {name}")
    print(f"functions over 60 lines: {sum(1 for n, _ in funcs if n > 60)}")
    if args.mypy:
        print(f"mypy errors: {mypy_errors()}")


if __name__ == "__main__":
    main()

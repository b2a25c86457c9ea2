"""The house rules of the layout (docs/design.md, "Layout"): small files, short functions, no
sys.path tricks, and a front door with only the entries a newcomer needs."""
import ast
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_FILE_LINES, MAX_FUNCTION_LINES = 400, 60
TOP_LEVEL = {"README.md", "Makefile", "requirements.txt", "requirements-colab.txt", "train.py", "reproduce.py",
             "experiments.ipynb", "pytest.ini", "setup.cfg", ".gitignore", ".ci", "docs", "tests", "weights",
             "results", "ddpm", "unlearn", "attack", "metrics", "lab", "examples", "harness", "course", "tools"}


def python_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    return [f for f in out if os.path.exists(os.path.join(ROOT, f))]


@pytest.mark.parametrize("path", python_files())
def test_files_and_functions_are_small(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        text = f.read()
    assert text.count("\n") <= MAX_FILE_LINES, f"{path} has {text.count(chr(10))} lines: split it"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            assert n <= MAX_FUNCTION_LINES, f"{path}:{node.lineno} {node.name} has {n} lines: split it"
    changes_path = any(f"sys.path.{verb}(" in text for verb in ("insert", "append"))
    assert not changes_path or path == "tests/test_layout.py", \
        f"{path} changes sys.path: run it as a module (python -m package.module) instead"


def test_the_front_door_holds_only_the_entries_a_newcomer_needs():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    top = {name.split("/")[0] for name in tracked}
    assert top <= TOP_LEVEL, f"new top-level entries {sorted(top - TOP_LEVEL)}: put them in a package or folder"

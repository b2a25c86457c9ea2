"""The README's extension steps, walked as a new user walks them ("Add your own method", "Add your own
attack"): in a scratch copy of the project, copy examples/zero.py and examples/noise.py into their
packages and add exactly the lines the README shows, then run the README's commands at toy size:
`python -m unlearn --method zero`, `python -m attack --name noise` on what it wrote, and the smoke
table with the new row and column (its stage cache seeded with the suite's shared smoke run, so only
the new row and column are computed). Every step is read from README.md, so a README edit that breaks
the path (a forgotten import, a wrong file name, a command that does not run) fails here.

Also: the examples keep the contract of their package (unlearn/__init__.py, attack/__init__.py), and a
setting a method ignores is no flag of it. `load_example` loads an example as the module it becomes,
for the tests that register one (tests/test_attack_registry.py, tests/test_attack_table.py).
"""
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from ddpm.errors import UserError
from tests.conftest import ROOT, error_lines

COPIED = ("ddpm", "unlearn", "attack", "metrics", "lab", "harness", "examples", "reproduce.py", "weights")
TOY = {"-m unlearn": ["--steps", "1", "--batch-size", "4"],               # toy sizes the README leaves out
       "-m attack": ["--steps", "1", "--eval-every", "1", "--n-eval", "2"]}
SMOKE = ["--smoke", "--seeds", "0"]


def load_example(file: str, package: str):
    """examples/<file> as the module <package>.<name> it becomes once copied there (not registered)."""
    name = f"{package}.{os.path.splitext(file)[0]}"
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples", file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- the README's steps
def section(title: str) -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    assert f"\n## {title}\n" in text, f"README.md has no section '## {title}'"
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def blocks(text: str, lang: str) -> list[list[str]]:
    """The lines of every ```<lang> block of `text`, comments after code stripped (bash only)."""
    found = re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)
    if lang == "bash":
        return [[line.split("  #")[0].strip() for line in b.splitlines() if line.strip()] for b in found]
    return [[line for line in b.splitlines() if line.strip()] for b in found]


def steps(title: str) -> tuple[list, dict, list]:
    """(copies [(src, dst)], edits {file: [lines to add]}, commands [argv]) of a README section."""
    copies, edits, commands = [], {}, []
    for line in sum(blocks(section(title), "bash"), []):
        words = shlex.split(line)
        if words[0] == "cp":
            copies.append((words[1], words[2]))
        else:
            assert words[0] == "python", f"README, {title}: a step this test cannot run: {line}"
            commands.append(words[1:])
    for block in blocks(section(title), "python"):
        assert block[0].startswith("# ") and block[0].endswith(".py"), \
            f"README, {title}: a python block must start with '# <the file it adds to>', not {block[0]!r}"
        edits.setdefault(block[0][2:], []).extend(block[1:])
    assert copies and edits and commands, f"README, {title}: no file to copy, line to add or command to run"
    return copies, edits, commands


def add_line(text: str, line: str) -> str:
    """One line the README adds to a registry: an import below the file's last import, an entry
    `"name": module,` as the last entry of its dict."""
    lines = text.splitlines()
    if line.startswith(("from ", "import ")):
        at = max(i for i, ln in enumerate(lines) if ln.startswith(("from ", "import "))) + 1
    else:
        assert re.fullmatch(r'\s+"\w+": \w+,', line), f"README: neither an import nor a registry entry: {line!r}"
        at = max(i for i, ln in enumerate(lines) if ln == "}")
    return "\n".join(lines[:at] + [line] + lines[at:]) + "\n"


def apply(root, title: str) -> list:
    """Do what a README section says in the copy at `root`; returns the section's commands."""
    copies, edits, commands = steps(title)
    for src, dst in copies:
        shutil.copy(root / src, root / dst)
    for path, lines in edits.items():
        text = (root / path).read_text()
        for line in lines:
            text = add_line(text, line)
        (root / path).write_text(text)
    return commands


# Runs README commands one after the other in ONE interpreter, each exactly as `python <argv>` runs it
# (runpy is what `python -m` and `python file.py` use), so torch and its compiler stack load once.
DRIVER = """
import json, runpy, sys
for argv in json.loads(sys.argv[1]):
    print("$ python", *argv, flush=True)
    sys.argv = [argv[1] if argv[0] == "-m" else argv[0], *argv[2 if argv[0] == "-m" else 1:]]
    try:
        if argv[0] == "-m":
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as e:
        if e.code not in (0, None):
            sys.exit(f"python {' '.join(argv)}: exit status {e.code}")
"""


def run(root, commands: list) -> str:
    """README commands in the copy (python = this interpreter); their stdout, or the failure with stderr."""
    out = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(commands)], cwd=root, capture_output=True,
                         text=True, timeout=600, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert out.returncode == 0, f"a README command failed in the README's copy:\n{out.stderr[-3000:]}"
    return out.stdout


def with_toy_sizes(argv: list) -> list:
    entry = " ".join(argv[:2])
    assert entry in TOY, f"README: a command this test has no toy size for: python {shlex.join(argv)}"
    return argv + TOY[entry]


def test_the_readmes_extension_steps_run(tmp_path, shared_smoke):
    for name in COPIED:
        (shutil.copytree if os.path.isdir(os.path.join(ROOT, name)) else shutil.copy)(
            os.path.join(ROOT, name), tmp_path / name)
    shutil.copytree(shared_smoke / "runs", tmp_path / "runs")      # the suite's smoke stages: the models, trained once
    method, attack = apply(tmp_path, "Add your own method"), apply(tmp_path, "Add your own attack")
    tables = [argv for argv in method + attack if argv[0] == "reproduce.py"]
    clis = [with_toy_sizes(argv) for argv in method + attack if argv[0] != "reproduce.py"]    # the README's order
    smoke = ["reproduce.py", *SMOKE] + sum((argv[1:] for argv in tables), [])   # one table: the row and the column
    printed = run(tmp_path, clis + [smoke])
    assert len(re.findall("^saved ", printed, flags=re.M)) == len(clis) == 2, printed[-2000:]   # each wrote its model
    folder = tmp_path / "results" / "mnist5k-quick-smoke"
    table, rows = (folder / "table.md").read_text(), json.loads((folder / "results.json").read_text())["rows"]
    assert "| Zero |" in table and "| Noise @" in table
    for name in ("retrain", "zero"):
        curve = rows[name]["0"]["noise"]["curve"]
        assert curve["step"][0] == 0 and len(curve["forget_acc_knn"]) == len(curve["forget_acc"])
    zero = next(line for line in table.splitlines() if line.startswith("| Zero |"))
    effects = re.findall(r"(CNN|kNN) [^;|]*?[+-]\d\.\d\d \[", zero)     # 'CNN ... +0.00 [-0.13, +0.13]'
    assert sorted(effects) == ["CNN", "kNN"]              # its effect against Retrain, under each judge


def test_the_walk_adds_exactly_the_lines_the_readme_shows():
    """Both registrations need their import (the README once forgot attack's); a line that is neither an
    import nor an entry is refused; an import goes below the last import, an entry last in the dict."""
    assert steps("Add your own method")[1] == {"unlearn/__init__.py": ["from . import zero", '    "zero": zero,']}
    assert steps("Add your own attack")[1] == {"attack/__init__.py": ["from . import noise", '    "noise": noise,']}
    registry = 'from . import a\n\nX = {\n    "a": a,\n}\n'
    assert add_line(add_line(registry, "from . import b"), '    "b": b,') == \
        'from . import a\nfrom . import b\n\nX = {\n    "a": a,\n    "b": b,\n}\n'
    with pytest.raises(AssertionError, match="neither an import nor a registry entry"):
        add_line(registry, "noise")


# ----------------------------------------------------------------------------- the contract, in-process
def test_the_examples_keep_their_packages_contract():
    from unlearn.base import UnlearnSettings
    zero, noise = load_example("zero.py", "unlearn"), load_example("noise.py", "attack")
    assert zero.LABEL and issubclass(zero.Settings, UnlearnSettings) and callable(zero.setup)
    assert set(zero.IGNORES) <= set(UnlearnSettings.__dataclass_fields__) and zero.Settings(forget_class=0).steps >= 1
    assert noise.LABEL and "\n" not in noise.THREAT and noise.__doc__.strip() and callable(noise.run)
    assert {"steps", "eval_every", "seed"} <= set(noise.Config.__dataclass_fields__)


def test_an_ignored_setting_is_no_flag_and_is_refused(monkeypatch, capsys):
    import unlearn
    from unlearn.__main__ import main, parser
    from unlearn.run import make_settings
    monkeypatch.setitem(unlearn.METHODS, "zero", load_example("zero.py", "unlearn"))
    flags = parser("zero").format_help()
    assert "--steps" in flags and "--alpha" not in flags and "--p-uncond" not in flags
    with pytest.raises(UserError, match="^zero ignores alpha, p_uncond \\(its IGNORES\\): its settings are"):
        make_settings("zero", forget_class=0, alpha=1.0, p_uncond=0.1)
    assert main(["--method", "zero", "--ckpt", "none.pt", "--forget-class", "0", "--alpha", "1"]) == 2
    assert error_lines(capsys.readouterr().err)[0].startswith("error: zero ignores alpha (its IGNORES)")

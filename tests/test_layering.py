"""The layering the README states ("The code"), read from the import statements of the whole tree.

    ddpm/                          the DDPM's mathematics: imports nothing else of the project
    unlearn/, attack/, metrics/    the paper's methods, attacks and measures: import only ddpm/
    lab/                           the machinery (device, precision, CLI flags, checkpoints, presets, the
                                   pre-training run, the judge's files): imports ddpm/ and metrics/
    a science package's command line (unlearn/__main__.py, attack/__main__.py) may also use lab/ and metrics/
    examples/                      imports only ddpm/ (and, relatively, the package it is copied into)
    harness/                       the experiment engine: imports all of the above
    course/, tools/, reproduce.py, train.py   sit on top
and no module imports itself back through others (no import cycle between modules).

Every import counts, at the top of a file or inside a function: a lazy import is still an arrow. The
graph is built with `ast` from the files git lists (tracked, or untracked and not ignored).
"""
import ast
import os

import pytest

from tests.test_layout import ROOT, python_files

SCIENCE = {"ddpm", "unlearn", "attack", "metrics"}
# room -> the other rooms it may import from; a room not listed here is unconstrained (tests/)
ALLOWED = {
    "ddpm": set(),
    "unlearn": {"ddpm"}, "attack": {"ddpm"}, "metrics": {"ddpm"},
    "examples": {"ddpm"},
    "lab": {"ddpm", "metrics"},
    "harness": SCIENCE | {"lab"},
    "course": SCIENCE | {"lab", "harness"}, "tools": SCIENCE | {"lab", "harness"},
    "reproduce": SCIENCE | {"lab", "harness"}, "train": SCIENCE | {"lab", "harness"},
}
COMMAND_LINE_ALSO = {"metrics", "lab"}      # what a science package's __main__.py may import besides ddpm/


def module_name(path: str) -> str:
    """'lab/hardware.py' -> 'lab.hardware', 'attack/__init__.py' -> 'attack', 'train.py' -> 'train'."""
    parts = path[:-len(".py")].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: str) -> str:
    """The package a relative import in `path` starts from."""
    name = module_name(path)
    return name if path.endswith("__init__.py") else name.rpartition(".")[0]


def tree_of(path: str) -> ast.AST:
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return ast.parse(f.read())


def imports(path: str, modules: set) -> set:
    """The project modules `path` imports, each named as precisely as the statement allows."""
    tree = tree_of(path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package_of(path)
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            source = ".".join(p for p in (base if node.level else "", node.module or "") if p)
            for alias in node.names:
                found.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source)
    project = set()
    for name in found:                          # 'ddpm.data.ImageData' style names: the longest module
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name:
            project.add(name)
    return project - {module_name(path)}


def graph() -> dict:
    """{module: (its path, the project modules it imports)} for every Python file of the tree."""
    paths = [p for p in python_files() if "/" not in p or p.split("/")[0] in ALLOWED or p.startswith("tests/")]
    modules = {module_name(p) for p in paths}
    return {module_name(p): (p, imports(p, modules)) for p in paths}


GRAPH = graph()


def room(module: str) -> str:
    return module.split(".")[0]


def allowed(module: str, path: str) -> set:
    extra = COMMAND_LINE_ALSO if path.endswith("/__main__.py") and room(module) in SCIENCE else set()
    return ALLOWED[room(module)] | extra | {room(module)}


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if room(m) in ALLOWED))
def test_each_room_imports_only_the_rooms_below_it(module):
    path, targets = GRAPH[module]
    wrong = sorted(t for t in targets if room(t) not in allowed(module, path))
    assert not wrong, (f"{path} imports {', '.join(wrong)}: {room(module)}/ may import only "
                       f"{', '.join(sorted(allowed(module, path) - {room(module)})) or 'nothing else of the project'} "
                       f"(README.md, 'The code'): move what it needs down, or pass it in")


def find_cycle(edges: dict) -> list:
    """One import cycle [a, b, ..., a] of the directed graph {module: targets}, or []."""
    state, stack = {}, []

    def visit(m) -> list:
        state[m] = "open"
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == "open":
                return stack[stack.index(t):] + [t]
            if t not in state and (cycle := visit(t)):
                return cycle
        state[m] = "done"
        stack.pop()
        return []
    for m in sorted(edges):
        if m not in state and (cycle := visit(m)):
            return cycle
    return []


def test_no_module_imports_itself_back():
    cycle = find_cycle({m: targets for m, (_, targets) in GRAPH.items()})
    assert not cycle, f"import cycle {' -> '.join(cycle)}: one of these imports must go (or move what it needs)"


def test_the_checker_sees_arrows_and_cycles():
    """The test reads a lazy import as an arrow, resolves relative imports, and finds a cycle."""
    assert "lab.hardware" in GRAPH["lab.pretrain"][1]                  # pretrain picks its device there
    assert "metrics.evaluate" in GRAPH["attack.__main__"][1]             # a command line measures
    assert "attack.dimra" in GRAPH["attack"][1] and "attack" in GRAPH["attack.run"][1]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_the_precision_probe_times_the_default_presets_unet():
    """lab/hardware.py no longer reads the presets (lab/pretrain.py reads hardware): its probe's
    UNetConfig() must stay the mnist5k-quick preset's UNet."""
    from ddpm.unet import UNetConfig
    from lab.presets import make_config
    assert make_config("mnist5k-quick").unet() == UNetConfig()


# What only the machinery uses: a science module (not its command line) that imports one of these has
# let device, file or process handling into the paper's mathematics; it belongs in lab/.
MACHINERY = {"argparse", "platform", "tempfile", "safetensors", "torch.distributed", "lab"}


def outside_imports(path: str) -> set:
    """Every module name `path` imports absolutely (stdlib, third party, the project's)."""
    nodes = list(ast.walk(tree_of(path)))
    return ({alias.name for n in nodes if isinstance(n, ast.Import) for alias in n.names}
            | {n.module for n in nodes if isinstance(n, ast.ImportFrom) and n.level == 0})


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if room(m) in SCIENCE and not m.endswith("__main__")))
def test_the_science_packages_hold_no_machinery(module):
    path = GRAPH[module][0]
    found = sorted(n for n in outside_imports(path) if any(n == m or n.startswith(m + ".") for m in MACHINERY))
    assert not found, f"{path} imports {', '.join(found)}: device, file and process handling go in lab/"

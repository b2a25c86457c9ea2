"""The mechanics of scripts/assignment.py: `make` removes exactly the chosen bodies, `grade` gives
the reference full marks and a TODO copy 0 (with the student's tests replaced), and a wrong
implementation loses points. The whole-repository proof is `python scripts/assignment.py self-check`."""
import ast
import importlib.util
import inspect
import os

import pytest
import torch

from ddpm import diffusion
from ddpm.schedule import NoiseSchedule
from tests.conftest import ROOT, tiny_unet
from unlearn import ga, salun

_spec = importlib.util.spec_from_file_location("assignment", os.path.join(ROOT, "scripts", "assignment.py"))
assignment = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(assignment)


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def load_stubbed(path, names):
    """Run the TODO version of `path` as a module of its package (so its relative imports work) and
    return its namespace, without writing any file."""
    package = os.path.dirname(path).replace("/", ".")
    namespace = {"__name__": f"{package}._student_copy", "__package__": package}
    exec(compile(assignment.stub_source(read(path), names), path, "exec"), namespace)
    return namespace


def without(tree, name):
    """ast.dump of a module's tree without the top-level function `name`."""
    tree.body = [node for node in tree.body if getattr(node, "name", None) != name]
    return ast.dump(tree)


def small_repo_files():
    """The Python files and pytest.ini: all a grading run needs (no notebook, results or weights)."""
    try:
        files = assignment.repo_files()
    except assignment.AssignmentError:
        pytest.skip("make copies the files git lists: needs a git checkout")
    return [f for f in files if f.endswith(".py") or f == "pytest.ini"]


def test_make_replaces_only_the_body_and_keeps_the_docstring():
    original, stubbed = read("unlearn/ga.py"), assignment.stub_source(read("unlearn/ga.py"), ["ga_loss"])
    assert without(ast.parse(original), "ga_loss") == without(ast.parse(stubbed), "ga_loss")
    func = next(n for n in ast.parse(stubbed).body if getattr(n, "name", None) == "ga_loss")
    assert ast.get_docstring(func) == inspect.cleandoc(ga.ga_loss.__doc__)
    assert [type(s) for s in func.body] == [ast.Expr, ast.Raise]
    assert "# TODO(student)" in stubbed and ga.ga_loss.__code__.co_firstlineno == func.lineno   # def line kept in place

    namespace = load_stubbed("unlearn/ga.py", ["ga_loss"])
    x = torch.zeros(2, 1, 8, 8)
    with pytest.raises(NotImplementedError, match="TODO: ga_loss"):
        namespace["ga_loss"](tiny_unet(), NoiseSchedule(50), x, torch.zeros(2, dtype=torch.long), x,
                             torch.ones(2, dtype=torch.long), alpha=0.0)
    assert namespace["Settings"](forget_class=0).steps == ga.Settings(forget_class=0).steps


def test_make_ddim_part_leaves_the_ddpm_step_working():
    namespace = load_stubbed("ddpm/diffusion.py", ["ddim_step"])
    s, g = NoiseSchedule(50), torch.Generator().manual_seed(0)
    x_t, eps, z = (torch.randn(2, 1, 4, 4, generator=g) for _ in range(3))
    with pytest.raises(NotImplementedError, match="TODO: ddim_step"):
        namespace["ddim_step"](s, x_t, eps, 10, 5, 0.0, True, None)
    assert torch.equal(namespace["ddpm_step"](s, x_t, eps, 10, True, z), diffusion.ddpm_step(s, x_t, eps, 10, True, z))
    assert namespace["ddim_step"].__doc__ == diffusion.ddim_step.__doc__


def test_make_salun_part_keeps_both_docstrings_and_handles_a_function_without_one():
    namespace = load_stubbed("unlearn/salun.py", ["salun_loss", "saliency_mask"])
    stubbed = ast.parse(assignment.stub_source(read("unlearn/salun.py"), ["salun_loss", "saliency_mask"]))
    funcs = {n.name: n for n in stubbed.body if isinstance(n, ast.FunctionDef)}
    assert [type(s) for s in funcs["salun_loss"].body] == [ast.Expr, ast.Raise]    # docstring, then the TODO
    assert ast.get_docstring(funcs["saliency_mask"]) == inspect.cleandoc(salun.saliency_mask.__doc__)
    bare = ast.parse(assignment.stub_source("def f(x):\n    y = x + 1\n    return y\n", ["f"]))
    assert [type(s) for s in bare.body[0].body] == [ast.Raise]                     # no docstring to keep
    with pytest.raises(NotImplementedError, match="TODO: saliency_mask"):
        namespace["saliency_mask"](tiny_unet(), NoiseSchedule(50), iter([]), 0.5)
    others = namespace["random_other_class"](torch.full((50,), 3), 10)         # untouched, still works
    assert not (others == 3).any()


def test_make_copies_the_files_and_refuses_a_non_empty_folder(tmp_path):
    out = tmp_path / "student"
    assert assignment.make_copy(str(out), ["ga"], files=small_repo_files()) == ["unlearn/ga.py:ga_loss"]
    assert (out / "unlearn" / "esd.py").read_text() == read("unlearn/esd.py")
    assert (out / "unlearn" / "ga.py").read_text() != read("unlearn/ga.py")
    assert not any(f.split("/")[0] in (".git", ".venv", "runs", "data") for f in assignment.repo_files())
    with pytest.raises(assignment.AssignmentError, match="not empty"):
        assignment.make_copy(str(out), ["ga"], files=small_repo_files())


def test_grade_ga_reference_full_marks_todo_zero_wrong_less(tmp_path):
    files = small_repo_files()
    reference, todo = str(tmp_path / "reference"), str(tmp_path / "todo")
    assignment.make_copy(reference, [], files=files)
    [row] = assignment.grade(reference, ["ga"])
    assert row["total"] > 0 and row["passed"] == row["total"] and row["points"] == 10

    assignment.make_copy(todo, ["ga"], files=files)
    with open(os.path.join(todo, "tests", "test_unlearn.py"), "w") as f:      # a student "fixes" the tests
        f.write("def test_ga_value():\n    pass\n")
    [row] = assignment.grade(todo, ["ga"])
    assert row["passed"] == 0 and row["points"] == 0

    assignment.inject_wrong(reference, "ga")
    [row] = assignment.grade(reference, ["ga"])
    assert row["points"] < 10


def test_every_part_has_tests_and_a_wrong_version_inside_its_functions():
    assert set(assignment.PARTS) == set(assignment.TESTS) == set(assignment.WRONG)
    for part, (path, old, _, _) in assignment.WRONG.items():
        text = read(path)
        assert text.count(old) == 1, part
        funcs = {n.name: n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)}
        bodies = [ast.get_source_segment(text, funcs[name]) for p, name in assignment.PARTS[part] if p == path]
        assert any(old in body for body in bodies), f"{part}: the wrong text is outside the part's functions"


def test_command_line_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert assignment.main(["make", str(tmp_path / "full")]) == 2
    assert assignment.main(["grade", str(tmp_path / "missing")]) == 2
    assert assignment.main(["grade", str(tmp_path / "full"), "--parts", "ga,nope"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)

"""The mechanics of the course's tools: a TODO replaces exactly a body, a student's function goes
into a clean file, the submission's files are found however they are laid out, the wrong
implementations still apply to the reference, failures read as one line, and the command line
answers mistakes in one line. The whole-assignment proof is `python -m course.assignment self-check`;
its fast part is tests/test_course_grading.py."""
import ast
import inspect
import os
import re

import pytest
import torch

from course import assignment, feedback, grading, parts, stub, student_copy, wrong
from ddpm import diffusion
from ddpm.schedule import NoiseSchedule
from tests.conftest import ROOT, tiny_unet
from unlearn import ga, salun


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def load_stubbed(path, names):
    """Run the TODO version of `path` as a module of its package (so its relative imports work) and
    return its namespace, without writing any file."""
    package = os.path.dirname(path).replace("/", ".")
    namespace = {"__name__": f"{package}._student_copy", "__package__": package}
    exec(compile(stub.stub_source(read(path), names), path, "exec"), namespace)
    return namespace


def without(tree, name):
    """ast.dump of a module's tree without the top-level function `name`."""
    tree.body = [node for node in tree.body if getattr(node, "name", None) != name]
    return ast.dump(tree)


def test_stub_replaces_only_the_body_and_keeps_the_docstring():
    original, stubbed = read("unlearn/ga.py"), stub.stub_source(read("unlearn/ga.py"), ["ga_loss"])
    assert without(ast.parse(original), "ga_loss") == without(ast.parse(stubbed), "ga_loss")
    func = stub.top_level_functions(stubbed)["ga_loss"]
    assert ast.get_docstring(func) == inspect.cleandoc(ga.ga_loss.__doc__)
    assert [type(s) for s in func.body] == [ast.Expr, ast.Raise]
    assert "# TODO(student)" in stubbed and ga.ga_loss.__code__.co_firstlineno == func.lineno   # def line kept in place

    namespace = load_stubbed("unlearn/ga.py", ["ga_loss"])
    x = torch.zeros(2, 1, 8, 8)
    with pytest.raises(NotImplementedError, match="TODO: ga_loss"):
        namespace["ga_loss"](tiny_unet(), NoiseSchedule(50), x, torch.zeros(2, dtype=torch.long), x,
                             torch.ones(2, dtype=torch.long), alpha=0.0)
    assert namespace["Settings"](forget_class=0).steps == ga.Settings(forget_class=0).steps


def test_stub_of_the_ddim_part_leaves_the_ddpm_step_working():
    namespace = load_stubbed("ddpm/diffusion.py", ["ddim_step"])
    s, g = NoiseSchedule(50), torch.Generator().manual_seed(0)
    x_t, eps, z = (torch.randn(2, 1, 4, 4, generator=g) for _ in range(3))
    with pytest.raises(NotImplementedError, match="TODO: ddim_step"):
        namespace["ddim_step"](s, x_t, eps, 10, 5, 0.0, True, None)
    assert torch.equal(namespace["ddpm_step"](s, x_t, eps, 10, True, z), diffusion.ddpm_step(s, x_t, eps, 10, True, z))
    assert namespace["ddim_step"].__doc__ == diffusion.ddim_step.__doc__


def test_stub_keeps_both_salun_docstrings_and_handles_a_function_without_one():
    namespace = load_stubbed("unlearn/salun.py", ["salun_loss", "saliency_mask"])
    funcs = stub.top_level_functions(stub.stub_source(read("unlearn/salun.py"), ["salun_loss", "saliency_mask"]))
    assert [type(s) for s in funcs["salun_loss"].body] == [ast.Expr, ast.Raise]    # docstring, then the TODO
    assert ast.get_docstring(funcs["saliency_mask"]) == inspect.cleandoc(salun.saliency_mask.__doc__)
    bare = ast.parse(stub.stub_source("def f(x):\n    # add one\n    y = x + 1\n    return y\n", ["f"]))
    assert [type(s) for s in bare.body[0].body] == [ast.Raise]                     # no docstring to keep
    with pytest.raises(NotImplementedError, match="TODO: saliency_mask"):
        namespace["saliency_mask"](tiny_unet(), NoiseSchedule(50), iter([]), 0.5)
    assert not (namespace["random_other_class"](torch.full((50,), 3), 10) == 3).any()   # untouched, still works
    with pytest.raises(stub.StubError, match="no top-level function 'nope'"):
        stub.stub_source(read("unlearn/ga.py"), ["nope"])


def test_replace_function_puts_the_students_def_into_a_clean_file():
    clean = stub.stub_source(read("unlearn/ga.py"), ["ga_loss"])
    students = "import os\n\n\ndef ga_loss(model, schedule, x_f, c_f, x_r, c_r, alpha: float):\n    return 42\n\n\nos.system('x')\n"
    spliced = stub.replace_function(clean, "ga_loss", stub.function_source(students, "ga_loss"))
    assert "return 42" in spliced and "os.system" not in spliced and "TODO(student)" not in spliced
    assert without(ast.parse(spliced), "ga_loss") == without(ast.parse(read("unlearn/ga.py")), "ga_loss")
    assert stub.function_source(students, "dimra") is None


def test_grading_finds_the_students_file_in_any_layout(tmp_path):
    source = "def ga_loss(model, schedule, x_f, c_f, x_r, c_r, alpha):\n    return 1\n"
    for layout in ("unlearn/ga.py", "my-copy/unlearn/ga.py", "ga.py"):
        folder = tmp_path / layout.replace("/", "_")
        (folder / layout).parent.mkdir(parents=True)
        (folder / layout).write_text(source)
        assert grading.student_function(str(folder), "unlearn/ga.py", "ga_loss") == (source, None), layout
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "ga.py").write_text("def ga_loss(:\n")
    _, problem = grading.student_function(str(tmp_path / "broken"), "unlearn/ga.py", "ga_loss")
    assert problem == "your unlearn/ga.py is not valid Python (line 1: invalid syntax): fix it and submit it again"
    _, problem = grading.student_function(str(tmp_path / "broken"), "unlearn/esd.py", "esd_loss")
    assert problem == "no unlearn/esd.py with a function esd_loss in the submission: submit your unlearn/esd.py"


def test_every_part_has_three_wrong_implementations_that_apply_inside_its_functions():
    for part in parts.PARTS:
        assert len([w for w in wrong.WRONG if w.part == part]) >= 3, part
    guide = read("course/README.md")
    for w in wrong.WRONG:
        text = read(w.path)
        wrong.inject(text, w)                              # raises if an old text does not occur exactly once
        funcs = stub.top_level_functions(text)
        bodies = [ast.get_source_segment(text, funcs[name]) for _, name in parts.PARTS[w.part]]
        for old, _ in w.edits:
            assert any(old in body for body in bodies), f"{w.what}: the edit is outside the part's functions"
        assert w.what.replace("`", "") in guide.replace("`", ""), f"course/README.md does not list: {w.what}"


def test_every_part_has_public_and_hidden_tests_with_names_of_their_own():
    names = {}
    for part in parts.PARTS:
        for kind in parts.KINDS:
            found = re.findall(r"^def (test_\w+)", read(parts.test_file(part, kind)), re.M)
            assert found, f"{parts.test_file(part, kind)} has no test"
            names[part, kind] = set(found)
    for part in parts.PARTS:
        assert not names[part, "public"] & names[part, "hidden"], part   # the copy's search for hidden tests needs this


def test_feedback_is_one_line():
    """An error in the student's code (described in its process), a TODO, and what the grader shows of them."""
    from course import child, testkit

    def described(error):
        try:
            raise error
        except BaseException as e:
            return child.describe(e, ROOT)
    assert testkit.describe(described(NotImplementedError("TODO: ga_loss"))) == "not implemented yet: ga_loss"
    line = testkit.describe(described(RuntimeError("The size of tensor a (4) must match\nthe size of tensor b (8)")))
    assert line.startswith("RuntimeError: The size of tensor a (4) must match") and "\n" not in line
    syntax = described(SyntaxError("invalid syntax", (os.path.join(ROOT, "unlearn/ga.py"), 31, 4, "x")))
    assert testkit.describe(syntax) == "SyntaxError: invalid syntax (unlearn/ga.py, line 31)"
    try:
        pytest.fail("the target must not carry a gradient", pytrace=False)
    except pytest.fail.Exception as e:
        assert feedback.one_line(pytest.ExceptionInfo.from_exception(e)) == "the target must not carry a gradient"
    assert child.fatal_kind(SystemExit(0)) == "exit" and child.fatal_kind(MemoryError()) == "memory"
    assert child.fatal_kind(RuntimeError("DefaultCPUAllocator: can't allocate memory")) == "memory"


def test_messages_that_quote_the_grader_are_withheld():
    """A message is cut to one line of MAX_CHARS; one that quotes a grader's file (but not the test's own) is withheld."""
    formulas = os.path.join(ROOT, "course", "hidden", "formulas.py")
    redactor = feedback.Redactor([formulas])
    quoted = " ".join(read("course/hidden/formulas.py").split())[300:420]
    assert redactor.clean(f"RuntimeError: {quoted}") == feedback.WITHHELD
    assert redactor.clean(f"RuntimeError: {quoted}", own_text=read("course/hidden/formulas.py")) != feedback.WITHHELD
    assert redactor.clean("RuntimeError: shapes (4,) and (8,) do not match") == "RuntimeError: shapes (4,) and (8,) do not match"
    assert len(redactor.clean("x " * 1000)) == feedback.MAX_CHARS and "\n" not in redactor.clean("a\nb")


def test_command_line_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert assignment.main(["make", str(tmp_path / "full")]) == 2
    assert assignment.main(["grade", str(tmp_path / "missing")]) == 2
    assert assignment.main(["grade", str(tmp_path / "full"), "--parts", "ga,nope"]) == 2
    assert assignment.main(["autograder", str(tmp_path / "a.zip"), "--hidden-visibility", "soon"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 4 and all(line.startswith("error: ") for line in errors)
    with pytest.raises(student_copy.CopyError, match="not a git checkout"):
        student_copy.repo_files(str(tmp_path))

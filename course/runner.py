"""Run the course's tests of some parts in this process, each part's student code in a child of its own.

Used by the student's `python -m course.check` and by the grader (course/grading.py). This process
imports the tests (the hidden ones too, when grading) before any student code runs, runs each test
function, and for every `testkit.call` the part's child (course/sandbox.py) runs the student's
function and sends back what it returned. So the tests, their expected values and the recording of
results never share a process with the student's code. A part whose child is stopped (time, memory,
an exit) scores 0: each of its tests fails with the one-line reason.
"""
import importlib
import inspect
import itertools
import os
import time
from dataclasses import dataclass, field

import pytest
import torch

from course import testkit
from course.feedback import PRINTED_CHARS, Redactor, cut, describe, first_line
from course.parts import KINDS, ROOT, test_file
from course.sandbox import Limits, PartStopped, Sandbox


class RunError(Exception):
    """A part has no tests of a kind (a test file missing): printed as one line."""


@dataclass
class Test:
    part: str
    kind: str
    name: str
    title: str
    func: object
    params: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{test_file(self.part, self.kind)}::{self.name}"


def parametrizations(func) -> list[dict]:
    """The arguments of each run of a test, from its @pytest.mark.parametrize marks."""
    runs = [{}]
    for mark in reversed([m for m in getattr(func, "pytestmark", []) if m.name == "parametrize"]):
        names = [n.strip() for n in (mark.args[0].split(",") if isinstance(mark.args[0], str) else mark.args[0])]
        values = [v if len(names) > 1 else (v,) for v in mark.args[1]]
        runs = [run | dict(zip(names, v)) for run, v in itertools.product(runs, values)]
    return runs


def collect(part: str, kind: str) -> list[Test]:
    """The tests of course/<kind>/test_<part>.py, in file order, one per parametrization."""
    try:
        module = importlib.import_module(f"course.{kind}.test_{part}")
    except ModuleNotFoundError:
        raise RunError(f"part {part} has no {kind} tests: is {test_file(part, kind)} in place?") from None
    tests = []
    for name, func in vars(module).items():
        if not (name.startswith("test_") and inspect.isfunction(func) and func.__module__ == module.__name__):
            continue
        title = first_line(func.__doc__) if func.__doc__ else name.replace("_", " ")
        for params in parametrizations(func):
            suffix = f"[{'-'.join(str(v) for v in params.values())}]" if params else ""
            tests.append(Test(part, kind, name + suffix, f"{title} {suffix}".strip(), func, params))
    return tests


def run_one(test: Test, session, redactor: Redactor) -> dict:
    """Run one test; its outcome and one-line message. PartStopped goes through."""
    grad, dtype, start = torch.is_grad_enabled(), torch.get_default_dtype(), time.monotonic()
    session.printed.clear()
    message = ""
    try:
        test.func(**test.params)
    except pytest.fail.Exception as failure:           # testkit.expect: the property that failed
        message = first_line(failure.msg)
    except testkit.StudentError as error:
        message = str(error)
    except PartStopped:
        raise
    except Exception as error:                         # the test choked on what the student's code returned
        message = f"the test could not use what your code returned: {describe(error)}"
    finally:
        torch.set_grad_enabled(grad)
        torch.set_default_dtype(dtype)
    printed = " ".join(session.printed).strip()
    if message and printed:
        message += f" (your code printed: {cut(printed, PRINTED_CHARS)})"
    if message:
        message = redactor.clean(message, own_text(test)) or "failed"
    return {"id": test.id, "part": test.part, "kind": test.kind, "name": test.name, "title": test.title,
            "passed": not message, "message": message, "seconds": round(time.monotonic() - start, 2)}


def own_text(test: Test) -> str:
    try:
        return inspect.getsource(inspect.getmodule(test.func))
    except (OSError, TypeError):
        return ""


def run_part(part: str, tree: str, tests: list, sandbox: Sandbox, redactor: Redactor,
             limits: Limits | None = None) -> tuple[list, str | None]:
    """The tests of `part` with its student code from `tree`; (results, the reason it was stopped or None)."""
    session = sandbox.open(part, tree, testkit.functions_of(part), limits)
    testkit.use(session)
    results, stopped = [], None
    try:
        for test in tests:
            try:
                results.append(run_one(test, session, redactor))
            except PartStopped as reason:
                stopped = str(reason)
                break
    finally:
        testkit.use(None)
        session.close()
    if stopped:
        results = [{"id": t.id, "part": t.part, "kind": t.kind, "name": t.name, "title": t.title,
                    "passed": False, "message": stopped} for t in tests]
    return results, stopped


def run_tests(trees: dict, parts: list, kinds=KINDS, limits: Limits | None = None, sandbox: Sandbox | None = None,
              redactor: Redactor | None = None) -> tuple[list, dict]:
    """Run the tests of `parts`, part p's student code from the tree trees[p]. Returns (one dict a
    test: id, part, kind, name, title, passed, message; {part: why it was stopped})."""
    own = sandbox is None
    sandbox = sandbox or Sandbox(limits)
    if not sandbox.alive():
        sandbox.start()                              # the zygote imports torch while this process imports the tests
    redactor = redactor or Redactor([])
    results, stopped = [], {}
    tests = {part: [t for kind in kinds for t in collect(part, kind)] for part in parts}   # all imported before any student code runs
    try:
        for part in parts:
            part_results, reason = run_part(part, trees[part], tests[part], sandbox, redactor, limits)
            results += part_results
            if reason:
                stopped[part] = reason
    finally:
        if own:
            sandbox.close()
    return results, stopped


def not_implemented(tests: list[dict]) -> bool:
    """Whether every one of these tests failed because its function still raises the TODO."""
    return bool(tests) and all(not t["passed"] and t["message"].startswith("not implemented yet") for t in tests)


def default_trees(parts: list, root: str = ROOT) -> dict:
    """Each part's code from one tree (the student's own copy, for course/check.py)."""
    return {part: os.path.abspath(root) for part in parts}

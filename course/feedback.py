"""One line of feedback for each failing test, and the record the graders read.

course/conftest.py calls these for every test under course/. A failing test is reported as one line:

    the property of the math that failed      (the message of testkit.expect)
    not implemented yet: ga_loss              (the function still raises its TODO)
    RuntimeError: shapes ... (unlearn/ga.py, line 31)     (an error in the student's code)

instead of a traceback. When the environment variable COURSE_RESULTS names a file, every collected
test and every result is appended to it as one JSON line; course/runner.py reads it.
"""
import json
import os
import traceback

import pytest

RESULTS_ENV = "COURSE_RESULTS"


class TestTimeout(Exception):
    """Raised inside a test that ran over its time limit (course/conftest.py sets the alarm)."""


def first_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return lines[0].strip() if lines else ""


def where(tb) -> str:
    """'file, line N' of the deepest frame of the traceback `tb` in the project's own code outside
    course/ (the student's code, usually); '' when the error did not pass through it."""
    root = os.getcwd()
    for frame in reversed(traceback.extract_tb(tb)):
        path = os.path.relpath(os.path.abspath(frame.filename), root)
        if not path.startswith(("..", "course" + os.sep)) and "site-packages" not in path:
            return f"{path}, line {frame.lineno}"
    return ""


def describe(error: BaseException, tb=None) -> str:
    """One line naming an exception: its type, the first line of its message, and where it happened."""
    if isinstance(error, SyntaxError):
        path = os.path.relpath(error.filename or "?", os.getcwd())
        return f"SyntaxError: {error.msg} ({path}, line {error.lineno})"
    place = where(tb if tb is not None else error.__traceback__)
    message = first_line(error)
    return f"{type(error).__name__}{': ' + message if message else ''}{f' ({place})' if place else ''}"


def one_line(excinfo) -> str:
    """The one-line report of a failed test, from pytest's ExceptionInfo."""
    error = excinfo.value
    if isinstance(error, pytest.fail.Exception):         # testkit.expect: the property that failed
        return first_line(error.msg)
    if isinstance(error, NotImplementedError) and str(error).startswith("TODO"):
        return f"not implemented yet: {str(error).removeprefix('TODO:').strip()}"
    if isinstance(error, TestTimeout):
        return first_line(error)
    return describe(error, excinfo.tb)


def test_identity(item) -> dict:
    """Which part and kind (public / hidden) a test belongs to, from its file course/<kind>/test_<part>.py,
    and its title: the first line of its docstring, with the test's parameters if it has any."""
    path = item.nodeid.split("::")[0]
    kind = os.path.basename(os.path.dirname(path))
    part = os.path.basename(path).removeprefix("test_").removesuffix(".py")
    doc = getattr(getattr(item, "function", None), "__doc__", None)
    title = first_line(doc) if doc else item.originalname.replace("_", " ")
    params = item.name[len(item.originalname):]          # '[0.3]' for a parametrized test, else ''
    return {"id": item.nodeid, "part": part, "kind": kind, "name": item.name, "title": f"{title} {params}".strip()}


def _append(record: dict) -> None:
    path = os.environ.get(RESULTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def record_collected(items) -> None:
    for item in items:
        _append({"event": "collected", **test_identity(item)})


def record_result(item, report) -> None:
    """Append the test's outcome once: at its call phase, or at a setup phase that failed."""
    if report.when == "call" or (report.when == "setup" and not report.passed):
        message = "" if report.passed else str(report.longrepr)
        _append({"event": "result", **test_identity(item), "passed": report.passed, "message": message})

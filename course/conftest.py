"""pytest hooks for running the course's tests with plain pytest (`pytest course/public/test_ga.py`).

The graders and `python -m course.check` do not use pytest's runner (course/runner.py runs the tests);
this only makes a plain pytest run read the same way: a failing test is reported in one line
(course/feedback.py), and torch's global switches are restored after each test. The student's code
runs in a child process either way (course/testkit.call).
"""
import pytest
import torch

from course import feedback


@pytest.fixture(autouse=True)
def clean_state():
    grad, dtype = torch.is_grad_enabled(), torch.get_default_dtype()
    yield
    torch.set_grad_enabled(grad)
    torch.set_default_dtype(dtype)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.excinfo is not None:
        report.longrepr = feedback.one_line(call.excinfo)

"""pytest hooks for the course's tests (course/public and course/hidden).

- a failing test is reported in one line (course/feedback.py says how), not as a traceback;
- each test runs for at most TIME_LIMIT_S seconds (an endless loop fails that test, not the run);
- torch's global switches are restored after each test, so one part's code cannot fail another's tests;
- with COURSE_RESULTS set, every test and its result go to that file (read by course/runner.py).
"""
import signal

import pytest
import torch

from course import feedback

TIME_LIMIT_S = 60


def _time_is_up(signum, frame):
    raise feedback.TestTimeout(f"the test ran over {TIME_LIMIT_S} s: an endless loop, or far more work than asked?")


@pytest.fixture(autouse=True)
def limits_and_clean_state():
    grad, dtype = torch.is_grad_enabled(), torch.get_default_dtype()
    alarm = hasattr(signal, "SIGALRM")                   # not on Windows: there the test has no time limit
    if alarm:
        previous = signal.signal(signal.SIGALRM, _time_is_up)
        signal.alarm(TIME_LIMIT_S)
    yield
    if alarm:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    torch.set_grad_enabled(grad)
    torch.set_default_dtype(dtype)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.excinfo is not None:
        report.longrepr = feedback.one_line(call.excinfo)
    feedback.record_result(item, report)


def pytest_collection_finish(session):
    feedback.record_collected(session.items)

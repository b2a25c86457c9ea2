"""Run some of the course's tests in a folder and read back each test's outcome and one-line message.

Used by the student's `python -m course.check` and by the graders. pytest runs in a subprocess (a
student's code that crashes or hangs cannot take the caller down), with one CPU thread, and writes
its results through course/feedback.py (COURSE_RESULTS).
"""
import json
import os
import subprocess
import sys
import tempfile

from course.feedback import RESULTS_ENV


class RunError(Exception):
    """pytest collected no test at all (a test file missing, or pytest not installed)."""


def run_tests(folder: str, test_files: list, timeout_s: float = 1800) -> list[dict]:
    """Run pytest on `test_files` (paths relative to `folder`) in `folder`. Returns one dict a
    collected test: id, part, kind, name, title, passed, message. A test with no result (the run
    crashed or ran over `timeout_s`) is failed, with a message that says so. RunError if no test
    was collected."""
    with tempfile.TemporaryDirectory(prefix="course-run-") as tmp:
        log = os.path.join(tmp, "results.jsonl")
        env = {**os.environ, RESULTS_ENV: log, "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *test_files]
        stopped, tail = None, ""
        try:
            proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout_s)
            stopped = f"the test run stopped before this test finished (exit code {proc.returncode})"
            tail = " ".join((proc.stdout + proc.stderr).strip().splitlines()[-1:])
        except subprocess.TimeoutExpired:
            stopped = f"the test run was stopped after {timeout_s:.0f} s"
        records = read_log(log)
    collected = {r["id"]: r for r in records if r["event"] == "collected"}
    results = {r["id"]: r for r in records if r["event"] == "result"}
    if not collected:
        raise RunError(f"pytest collected no test from {' '.join(test_files)} in {folder}: {tail or stopped}")
    out = []
    for test_id, test in collected.items():
        result = results.get(test_id, {"passed": False, "message": stopped})
        out.append({k: test[k] for k in ("id", "part", "kind", "name", "title")}
                   | {"passed": bool(result["passed"]), "message": result["message"]})
    return out


def read_log(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def not_implemented(tests: list[dict]) -> bool:
    """Whether every one of these tests failed because its function still raises the TODO."""
    return bool(tests) and all(not t["passed"] and t["message"].startswith("not implemented yet") for t in tests)

"""The fast part of the course's self-check, run the way Gradescope runs it: the autograder zip's
run_autograder, executed on a fake Gradescope layout, writes a valid results.json that gives the
reference full marks, a TODO copy 0 (every test "not implemented yet"), and a submission with a
wrong implementation in every part less than full marks on each part's hidden tests. Also the
student's loop: `python -m course.check PART` in a copy says "not implemented yet" in one line.
The full self-check (every wrong implementation of course/wrong.py) is `make self-check`."""
import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from course import autograder, parts, stub, student_copy, wrong
from tests.conftest import ROOT

ALL = list(parts.PARTS)
PART_FILES = sorted({path for part in ALL for path in parts.files(part)})
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("zip") / "autograder.zip"
    try:
        autograder.write_autograder(str(out), ALL)
    except student_copy.CopyError:
        pytest.skip("the autograder lists the project's files with git: needs a git checkout")
    return out


def run_autograder(zip_file, submission_files: dict, tmp) -> dict:
    """Lay out /autograder as Gradescope does under `tmp`, with the submission's files
    ({relative path: text}), run run_autograder, and return results.json."""
    root = tmp / "autograder"
    with zipfile.ZipFile(zip_file) as z:
        z.extractall(root / "source")
    for path, text in submission_files.items():
        (root / "submission" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / path).write_text(text)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads((root / "results" / "results.json").read_text())


def check_format(results: dict) -> list:
    """results.json as Gradescope reads it; returns its tests."""
    assert isinstance(results["score"], (int, float)) and isinstance(results["output"], str)
    tests = results["tests"]
    assert len(tests) == len({t["name"] for t in tests}) > 0
    for t in tests:
        assert set(t) == {"name", "score", "max_score", "output", "visibility"}
        assert 0 <= t["score"] <= t["max_score"] and t["visibility"] in VISIBILITIES
        assert t["output"] and "\n" not in t["output"] and "Traceback" not in t["output"]
    assert results["score"] == pytest.approx(sum(t["score"] for t in tests), abs=0.01)
    assert sum(t["max_score"] for t in tests) == pytest.approx(10 * len(ALL))
    return tests


def by_part(tests, kind):
    out = {}
    for t in tests:
        part, rest = t["name"].split(" / ", 1)
        if rest.startswith(kind):
            out.setdefault(part, []).append(t)
    return out


def reference_files():
    return {path: open(os.path.join(ROOT, path), encoding="utf-8").read() for path in PART_FILES}


def test_the_zip_holds_what_gradescope_needs_and_no_reference_body(zip_path):
    with zipfile.ZipFile(zip_path) as z:
        names = set(z.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
        assert {"setup.sh", "run_autograder", "requirements.txt", "course/autograder.json"} <= names
        assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
        for part in ALL:
            assert {parts.test_file(part, "public"), parts.test_file(part, "hidden")} <= names
            for path, name in parts.PARTS[part]:
                func = stub.top_level_functions(z.read(path).decode())[name]
                assert isinstance(func.body[-1], ast.Raise), f"{path}:{name} is not a TODO in the zip"
        assert "course/wrong.py" not in names and "course/assignment.py" not in names
        setup = z.read("setup.sh").decode()
    assert "requirements.txt" in setup
    assert "torch==2.14.1" in open(os.path.join(ROOT, "requirements.txt")).read()


def test_autograder_gives_the_reference_full_marks(zip_path, tmp_path):
    tests = check_format(run_autograder(zip_path, reference_files(), tmp_path))
    failed = [f"{t['name']}: {t['output']}" for t in tests if t["score"] < t["max_score"]]
    assert not failed, failed
    assert {t["visibility"] for t in tests} == {"visible", "after_published"}
    assert set(by_part(tests, "hidden")) == set(by_part(tests, "public")) == set(ALL)


def test_autograder_gives_loose_todo_files_zero(zip_path, tmp_path):
    """The TODO files uploaded loose (ga.py, esd.py, ... at the submission's top): 0, not implemented yet."""
    todo = {}
    for path in PART_FILES:
        names = [name for part in ALL for p, name in parts.PARTS[part] if p == path]
        todo[os.path.basename(path)] = stub.stub_source(reference_files()[path], names)
    results = run_autograder(zip_path, todo, tmp_path)
    tests = check_format(results)
    assert results["score"] == 0
    assert all(t["output"].startswith("not implemented yet") for t in tests), {t["output"] for t in tests}


def test_autograder_takes_points_from_a_wrong_implementation_of_every_part(zip_path, tmp_path):
    """The first wrong implementation of each part, in a zipped copy's folder layout."""
    files = reference_files()
    for part in ALL:
        first = next(w for w in wrong.WRONG if w.part == part)
        files[first.path] = wrong.inject(files[first.path], first)
    tests = check_format(run_autograder(zip_path, {f"unlearning-assignment/{p}": t for p, t in files.items()}, tmp_path))
    for part, hidden in by_part(tests, "hidden").items():
        assert sum(t["score"] for t in hidden) < sum(t["max_score"] for t in hidden), part


def test_the_students_check_reports_a_todo_part_in_one_line(tmp_path):
    copy = tmp_path / "copy"
    files = [f for f in student_copy.repo_files() if f.endswith(".py") or f in ("pytest.ini", "Makefile")]
    student_copy.make_copy(str(copy), ["ga", "ddim"], files=files)
    proc = subprocess.run([sys.executable, "-m", "course.check"], cwd=copy, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 1 and proc.stdout.splitlines() == ["ga     not implemented yet (ga_loss)",
                                                                 "ddim   not implemented yet (ddim_step)"], proc.stdout
    shutil.copy(os.path.join(ROOT, "unlearn", "ga.py"), copy / "unlearn" / "ga.py")
    proc = subprocess.run([sys.executable, "-m", "course.check", "ga"], cwd=copy, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0 and proc.stdout.strip() == "ga     4 / 4 public tests pass", proc.stdout

"""The grader as Gradescope runs it: the autograder zip's run_autograder, on a fake Gradescope layout,
gives the reference full marks; TODO files get 0 (every test "not implemented yet"); a submission
that ignores one setting in every part loses hidden points in every part. What students see before
the grades are published holds nothing hidden, public and hidden visibilities cannot be swapped,
and a part's points follow the weights of its public and hidden tests. Also the student's loop:
`python -m course.check PART` in a copy says "not implemented yet" in one line. The catalogue of
cheats and correct alternatives is tests/test_course_integrity.py; the full self-check is
`make self-check`."""
import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from course import autograder, gradescope, grading, parts, runner, sandbox, stub, student_copy, wrong
from tests.conftest import ROOT

ALL = list(parts.PARTS)
PART_FILES = sorted({path for part in ALL for path in parts.files(part)})
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
LIMITS = sandbox.Limits(part_s=20, memory_mb=768)
SETTINGS_IGNORED = {                                  # one wrong a part: a setting the part must honour, ignored
    "ga": "label dropout 0.1 in the forget term, as in pre-training, whatever p_uncond says",
    "esd": "p_uncond ignored: the trained model always predicts under f",
    "salun": "retain_sum ignored: the retain term always averaged over pixels",
    "dimum": "label dropout 0.1 in the memorisation term, as in pre-training, whatever p_uncond says",
    "ddim": "sigma without eta (always the DDPM variance)",
    "dimra": "grad_clip ignored: fit's default clipping (1.0) whatever the settings say",
}


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("zip") / "autograder.zip"
    try:
        autograder.write_autograder(str(out), ALL, limits=LIMITS)
    except student_copy.CopyError:
        pytest.skip("the autograder lists the project's files with git: needs a git checkout")
    return out


def layout(zip_file, submission_files: dict, tmp) -> str:
    """Lay out /autograder as Gradescope does under `tmp`, with the submission's files ({path: text})."""
    root = tmp / "autograder"
    with zipfile.ZipFile(zip_file) as z:
        z.extractall(root / "source")
    for path, text in submission_files.items():
        (root / "submission" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / path).write_text(text)
    (root / "submission").mkdir(parents=True, exist_ok=True)
    return str(root)


def grade_in_process(zip_file, submission_files: dict, tmp) -> dict:
    """course.gradescope on the fake layout in this process, the zygote shared with the other tests."""
    root = layout(zip_file, submission_files, tmp)
    gradescope.main(["--root", root], sandbox=sandbox.shared())
    return json.loads(open(os.path.join(root, "results", "results.json")).read())


def check_format(results: dict) -> list:
    """results.json as Gradescope reads it; returns its tests."""
    assert isinstance(results["score"], (int, float)) and isinstance(results["output"], str)
    assert results["stdout_visibility"] == "hidden" and "visibility" not in results
    tests = results["tests"]
    assert len(tests) == len({t["name"] for t in tests}) > 0
    for t in tests:
        assert set(t) == {"name", "score", "max_score", "output", "visibility"}
        assert 0 <= t["score"] <= t["max_score"] and t["visibility"] in VISIBILITIES
        assert t["output"] and "\n" not in t["output"] and "Traceback" not in t["output"]
    assert results["score"] == pytest.approx(sum(t["score"] for t in tests), abs=0.01)
    assert sum(t["max_score"] for t in tests) == pytest.approx(10 * len(ALL), abs=0.01)
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
        assert {"setup.sh", "run_autograder", "requirements.txt", "course/autograder.json", "course/child.py"} <= names
        assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
        for part in ALL:
            assert {parts.test_file(part, "public"), parts.test_file(part, "hidden")} <= names
            for path, name in parts.PARTS[part]:
                func = stub.top_level_functions(z.read(path).decode())[name]
                assert isinstance(func.body[-1], ast.Raise), f"{path}:{name} is not a TODO in the zip"
        assert isinstance(stub.top_level_functions(z.read("attack/datafree.py").decode())["run"].body[-1], ast.Raise)
        assert not names & {"course/wrong.py", "course/assignment.py", "course/alternatives.py", "course/integrity.py",
                            "course/exercise_answers.py", "course/README.md"}
        setup, requirements = z.read("setup.sh").decode(), z.read("requirements.txt").decode()
        config = json.loads(z.read("course/autograder.json"))
    assert "--index-url https://download.pytorch.org/whl/cpu torch==" in setup
    assert "torch==2.14.1" in requirements and "torchvision" not in requirements and "diffusers" not in requirements
    assert config == {"parts": ALL, "hidden_visibility": "after_published", "part_s": 20.0, "memory_mb": 768, "user": "nobody"}


def test_run_autograder_gives_the_reference_full_marks(zip_path, tmp_path):
    """The real script, in a process of its own (run as root, as here, the children run as `nobody`)."""
    root = layout(zip_path, reference_files(), tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "COURSE_SANDBOX_USER"}
    env.update(AUTOGRADER_ROOT=root, PYTHON=sys.executable)
    proc = subprocess.run(["bash", os.path.join(root, "source", "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(open(os.path.join(root, "results", "results.json")).read())
    tests = check_format(results)
    failed = [f"{t['name']}: {t['output']}" for t in tests if t["score"] < t["max_score"]]
    assert not failed, failed
    assert {t["visibility"] for t in tests} == {"visible", "after_published"}
    assert set(by_part(tests, "hidden")) == set(by_part(tests, "public")) == set(ALL)
    assert "hidden" in proc.stdout                    # the instructor's log names hidden results; it stays hidden


def test_loose_todo_files_score_zero(zip_path, tmp_path):
    """The TODO files uploaded loose (ga.py, esd.py, ... at the submission's top): 0, not implemented yet."""
    todo = {os.path.basename(path): stub.stub_file(text, path, ALL) for path, text in reference_files().items()}
    results = grade_in_process(zip_path, todo, tmp_path)
    tests = check_format(results)
    assert results["score"] == 0
    assert all(t["output"].startswith("not implemented yet") for t in tests), [t for t in tests if not t["output"].startswith("not implemented yet")]


def test_ignoring_a_setting_loses_hidden_points_in_every_part(zip_path, tmp_path):
    """A wrong implementation of every part that ignores one of its settings, in a zipped copy's folder
    layout, graded on the zip's project with the hidden tests (the public ones do not look at settings)."""
    files = reference_files()
    for part, what in SETTINGS_IGNORED.items():
        w = next(w for w in wrong.WRONG if w.part == part and w.what == what)
        files[w.path] = wrong.inject(files[w.path], w)
    root = layout(zip_path, {f"unlearning-assignment/{p}": t for p, t in files.items()}, tmp_path)
    rows = grading.grade(os.path.join(root, "submission"), ALL, clean_root=os.path.join(root, "source"), limits=LIMITS,
                         sandbox=sandbox.shared(), kinds=("hidden",))
    for row in rows:
        assert 0 < row["hidden"]["passed"] < row["hidden"]["total"], (row["part"], row["problem"])


def fake_rows():
    """Two parts' rows as grading.score makes them: ga 3/4 public, 5/6 hidden; esd with a problem."""
    def results(part, passed):
        return [{"id": f"{part}{kind}{i}", "part": part, "kind": kind, "name": f"test_{kind}_{i}",
                 "title": f"{kind} title {i}", "passed": i < passed[kind], "message": "" if i < passed[kind] else
                 f"SECRET {kind} message {i}"} for kind, n in (("public", 4), ("hidden", 6)) for i in range(n)]
    return [grading.score("ga", results("ga", {"public": 3, "hidden": 5}), None),
            grading.score("esd", results("esd", {"public": 0, "hidden": 0}), "stopped: your code ran over")]


def test_nothing_hidden_is_visible_before_the_grades_are_published():
    """Public entries visible, hidden ones as configured, the top-level output (always shown) public-only."""
    for visibility in ("after_published", "after_due_date", "hidden"):
        out = gradescope.results_json(fake_rows(), visibility, 1.0)
        for t in out["tests"]:
            assert t["visibility"] == ("visible" if "/ public:" in t["name"] else visibility), t["name"]
        shown = out["output"] + "".join(t["name"] + t["output"] for t in out["tests"] if t["visibility"] == "visible")
        assert "hidden title" not in shown and "SECRET hidden" not in shown and "hidden 5" not in shown
        assert "ga: public tests 3/4 passed" in out["output"] and "stopped: your code ran over" in out["output"]
        assert out["stdout_visibility"] == "hidden" and "visibility" not in out


def test_a_part_scores_by_the_weights_of_its_public_and_hidden_tests(monkeypatch):
    """4 * 3/4 + 6 * 5/6 = 8 points; with weights 1 and 9: 1 * 3/4 + 9 * 5/6 = 8.25; each entry its share."""
    assert fake_rows()[0]["points"] == 8.0
    monkeypatch.setattr(parts, "PUBLIC_POINTS", 1.0)
    monkeypatch.setattr(parts, "HIDDEN_POINTS", 9.0)
    row = fake_rows()[0]
    assert row["points"] == 8.25 and row["max_points"] == 10
    out = gradescope.results_json([row], "after_published", 1.0)
    for kind, weight in (("public", 1.0), ("hidden", 9.0)):
        entries = [t for t in out["tests"] if f"/ {kind}:" in t["name"]]
        assert sum(t["max_score"] for t in entries) == pytest.approx(weight)
    assert out["score"] == pytest.approx(8.25)


def test_the_students_check_reports_a_todo_part_in_one_line(tmp_path):
    copy = tmp_path / "copy"
    files = [f for f in student_copy.repo_files() if f.endswith(".py") or f in ("pytest.ini", "Makefile")]
    student_copy.make_copy(str(copy), ["ga", "ddim"], files=files + student_copy.course_files(ROOT, ["ga", "ddim"]))
    shutil.copy(os.path.join(ROOT, "ddpm", "diffusion.py"), copy / "ddpm" / "diffusion.py")     # ddim done, ga not
    proc = subprocess.run([sys.executable, "-m", "course.check"], cwd=copy, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 1 and proc.stdout.splitlines() == ["ga     not implemented yet (ga_loss)",
                                                                 "ddim   4 / 4 public tests pass"], \
        proc.stdout + proc.stderr[-2000:]
    assert not (copy / "course" / "hidden").exists() and (copy / "course" / "child.py").exists()


def test_the_runner_reads_parametrized_tests_like_pytest():
    tests = runner.collect("ddim", "hidden")
    names = [t.name for t in tests]
    assert "test_ddim_step_equals_eq_12[1000-linear-999-749-0.0-True]" in names and len(names) == len(set(names))
    assert all(t.title and t.part == "ddim" and t.kind == "hidden" for t in tests)

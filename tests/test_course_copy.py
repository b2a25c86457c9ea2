"""The student copy gives nothing away: a fresh copy of the whole repository holds no telling line of
a removed body (course/leaks.py says which lines tell), no hidden test, no instructor file, no
exercise answer and no twin of a removed body (course/twins.py); it is built from the files git
tracks only; and the search does find a body where one is (a notebook's saved output, a quoting
file, an archive)."""
import io
import json
import os
import re
import subprocess
import tarfile
import zipfile

import pytest

from course import leaks, parts, student_copy, twins
from course.exercise_answers import ANSWERS
from tests.conftest import ROOT

ALL = list(parts.PARTS)


def fresh_copy(out, chosen=ALL):
    try:
        return student_copy.make_copy(str(out), chosen)
    except student_copy.CopyError:
        pytest.skip("make copies the files git lists: needs a git checkout")


def every_file(folder):
    for here, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        yield from (os.path.join(here, n) for n in names)


def hidden_test_names():
    names = set()
    for part in ALL:
        with open(os.path.join(ROOT, parts.test_file(part, "hidden")), encoding="utf-8") as f:
            names |= set(re.findall(r"^def (test_\w+)", f.read(), re.M))
    return names


def test_a_fresh_copy_reveals_no_removed_body_and_no_hidden_test(tmp_path):
    copy = tmp_path / "copy"
    removed, skipped = fresh_copy(copy)
    assert len(removed) == 7
    assert leaks.find_leaks(str(copy), ALL) == []
    assert not (copy / "course" / "hidden").exists()
    names = hidden_test_names()
    for path in every_file(copy):
        try:
            text = open(path, encoding="utf-8").read()
        except UnicodeDecodeError:
            continue
        found = [n for n in names if re.search(rf"\b{n}\b", text)]
        assert not found, f"{os.path.relpath(path, copy)} names hidden tests {found}"
    for instructor in ("course/assignment.py", "course/wrong.py", "course/grading.py", "course/leaks.py",
                       "course/selfcheck.py", "course/autograder.py", "course/gradescope.py", "course/alternatives.py",
                       "course/integrity.py", "course/exercise_answers.py", "course/twins.py", "course/documents.py",
                       "tests/test_assignment.py", "tests/test_course_copy.py", "tests/test_course_integrity.py",
                       "docs/testing.md"):
        assert not (copy / instructor).exists(), instructor
    assert "course/README.md" in skipped and (copy / "course" / "README.md").read_text().startswith("# The assignment: for students")
    assert all((copy / f).exists() for f in parts.STUDENT_COURSE_FILES) and (copy / "course" / "HANDOUT.md").exists()
    for part in ALL:
        assert (copy / parts.test_file(part, "public")).exists(), part
    texts = "".join(open(p, encoding="utf-8", errors="ignore").read() for p in every_file(copy))
    assert not [expected for expected, _ in ANSWERS.values() if expected in texts]        # no exercise answer
    run = (copy / "attack" / "datafree.py").read_text()
    assert "left out of the student copy: run (not graded)" in run                      # dimra's twin


def test_the_copys_notebook_and_makefile(tmp_path):
    copy = tmp_path / "copy"
    fresh_copy(copy)
    notebook = json.loads((copy / "experiments.ipynb").read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    original = json.loads(open(os.path.join(ROOT, "experiments.ipynb"), encoding="utf-8").read())
    assert [c["source"] for c in notebook["cells"]] == [c["source"] for c in original["cells"]]
    makefile = (copy / "Makefile").read_text()
    assert "\ncheck: $(VENV)/.installed\n\t$(PY) -m course.check $(PART)\n" in makefile
    assert not re.search(r"^(assignment|autograder|grade|self-check):", makefile, re.M)
    assert "\ntest: $(VENV)/.installed\n" in makefile


def test_the_search_finds_what_the_old_copy_gave_away(tmp_path, monkeypatch):
    """The copy as `make assignment` made it before: notebook outputs kept (cell 11 printed four of the
    losses) and docs/testing.md copied (its mutation notes quote saliency_mask)."""
    monkeypatch.setattr(student_copy, "clear_outputs", lambda text: text)
    monkeypatch.setattr(student_copy, "INSTRUCTOR_ONLY", {})
    copy = tmp_path / "old"
    fresh_copy(copy)
    found = {(path, source) for path, _, source in leaks.find_leaks(str(copy), ALL)}
    assert {("experiments.ipynb", "unlearn/ga.py:ga_loss"), ("experiments.ipynb", "unlearn/esd.py:esd_loss"),
            ("experiments.ipynb", "unlearn/dimum.py:dimum_loss"), ("docs/testing.md", "unlearn/salun.py:saliency_mask")} <= found


def test_the_search_sees_through_whitespace_comments_and_notebook_json(tmp_path):
    lines = leaks.telling_lines(["esd"])
    line = "target = eps0_null - neg_guidance * (eps0_f - eps0_null)"
    assert line in lines
    (tmp_path / "notes.py").write_text("    target = eps0_null  -  neg_guidance * (eps0_f - eps0_null)   # mine\n")
    cell = {"cells": [{"cell_type": "code", "source": ["x = 1\n", "    " + line + "\n"], "outputs": []}]}
    (tmp_path / "nb.ipynb").write_text(json.dumps(cell))
    (tmp_path / "weights.bin").write_bytes(b"\xff\xfe\x00" * 10)
    assert sorted(path for path, _, _ in leaks.find_leaks(str(tmp_path), ["esd"])) == ["nb.ipynb", "notes.py"]


def test_which_lines_tell():
    lines = leaks.telling_lines(ALL)
    for part in ALL:
        for path, name in parts.PARTS[part]:
            assert f"{path}:{name}" in lines.values(), f"no telling line of {name}: the search would miss it"
    assert all(len(line) >= leaks.MIN_CHARS for line in lines)
    assert "return loss" not in lines                                   # too short to tell
    assert "device = next(model.parameters()).device" not in lines      # the library's own idiom (ddpm/train_loop.py)
    body = {line for part in ALL for line, _ in leaks.body_lines(part)}
    for idiom in leaks.IDIOMS:                                          # each exemption is still needed
        assert idiom in body and idiom not in lines and idiom not in leaks.library_text(ROOT, ALL), idiom


def test_a_copy_of_some_parts_keeps_the_tests_of_the_others(tmp_path):
    copy = tmp_path / "ddim-only"
    removed, skipped = fresh_copy(copy, ["ddim"])
    assert removed == ["ddpm/diffusion.py:ddim_step"]
    assert skipped.get("tests/test_samplers_reference.py") == "tests a removed function with the reference's formulas"
    assert (copy / "tests" / "test_unlearn.py").exists()                      # the losses are not removed
    assert (copy / "unlearn" / "esd.py").read_text() == open(os.path.join(ROOT, "unlearn/esd.py")).read()
    assert sorted(os.listdir(copy / "course" / "public")) == ["__init__.py", "test_ddim.py"]
    assert leaks.find_leaks(str(copy), ["ddim"]) == []


def test_a_copy_of_one_loss_leaves_its_twins_out(tmp_path):
    """GA alone: DiMUM's loss is GA's with a sign flipped, ESD's and SalUn's share its retain term."""
    copy = tmp_path / "ga-only"
    files = [f for f in student_copy.repo_files() if f.endswith(".py")]
    student_copy.make_copy(str(copy), ["ga"], files=files + student_copy.course_files(ROOT, ["ga"]))
    for path, name in parts.TWINS["ga"]:
        assert f"left out of the student copy: {name} (not graded)" in (copy / path).read_text(), path
    assert "TODO: ga_loss" in (copy / "unlearn" / "ga.py").read_text()


def test_no_function_left_in_a_copy_is_a_twin_of_a_removed_body(monkeypatch):
    """Each removed body against every function a copy keeps (course/twins.py), for the whole assignment
    and for each part alone; without the TWINS table, DiMRA's twins are found."""
    files = [f for f in student_copy.repo_files() if f.endswith(".py") and not f.startswith(("course/", "tests/"))]
    for chosen in [ALL] + [[p] for p in ALL]:
        assert twins.find_twins(chosen, files) == [], chosen
    monkeypatch.setattr(parts, "TWINS", {p: [] for p in ALL})
    found = {(a, b) for a, b, _ in twins.find_twins(["dimra"], files)}
    assert {("attack/dimra.py:dimra", "attack/datafree.py:run"), ("attack/dimra.py:dimra", "attack/inversion.py:run")} <= found


def test_the_copy_holds_only_what_git_tracks(tmp_path):
    """Last term's grades.csv (untracked) and an autograder zip (ignored) are listed and left out."""
    repo = tmp_path / "repo"
    (repo / "unlearn").mkdir(parents=True)
    (repo / "unlearn" / "ga.py").write_text(open(os.path.join(ROOT, "unlearn", "ga.py")).read())
    (repo / ".gitignore").write_text("*.zip\n")
    (repo / "grades.csv").write_text("alice,60\n")
    (repo / "autograder.zip").write_bytes(b"PK")
    try:
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        subprocess.run(["git", "add", "unlearn/ga.py", ".gitignore"], cwd=repo, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs git")
    removed, skipped = student_copy.make_copy(str(tmp_path / "copy"), ["ga"], root=str(repo))
    assert sorted(p for p in os.listdir(tmp_path / "copy") if p != "course") == [".gitignore", "unlearn"]
    assert skipped["grades.csv"].startswith("untracked") and skipped["autograder.zip"] == "ignored by git"
    ignored = open(os.path.join(ROOT, ".gitignore")).read()
    assert "grades*.csv" in ignored and "*.zip" in ignored


def test_the_leak_check_opens_archives(tmp_path):
    line = "target = eps0_null - neg_guidance * (eps0_f - eps0_null)"
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as t:
        data = f"    {line}\n".encode()
        info = tarfile.TarInfo("notes/esd.py")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(tmp_path / "autograder.zip", "w") as z:
        z.writestr("course/hidden/test_ga.py", "def test_ga_on_a_single_image():\n    pass\n")
        z.writestr("nested.tar.gz", inner.getvalue())
    found = {(path, what) for path, what, _ in leaks.find_leaks(str(tmp_path), ["esd"])}
    assert ("autograder.zip!nested.tar.gz!notes/esd.py", line) in found
    assert ("autograder.zip", "course/hidden/") in found
    assert ("autograder.zip!course/hidden/test_ga.py", "test_ga_on_a_single_image") in found

"""The student copy gives nothing away: a fresh copy of the whole repository holds no telling line of
a removed body (course/leaks.py says which lines tell), no hidden test and no instructor file; and
the search does find a body where one is (a notebook's saved output, a quoting file)."""
import json
import os
import re

import pytest

from course import leaks, parts, student_copy
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
                       "course/selfcheck.py", "course/autograder.py", "course/gradescope.py", "tests/test_assignment.py",
                       "tests/test_course_copy.py", "docs/testing.md"):
        assert not (copy / instructor).exists(), instructor
    assert "course/README.md" in skipped and (copy / "course" / "README.md").read_text().startswith("# The assignment: for students")
    for part in ALL:
        assert (copy / parts.test_file(part, "public")).exists(), part


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
    copy = tmp_path / "ga-only"
    removed, skipped = fresh_copy(copy, ["ga"])
    assert removed == ["unlearn/ga.py:ga_loss"]
    assert skipped.get("tests/test_unlearn.py") == "tests a removed function with the reference's formulas"
    assert (copy / "tests" / "test_samplers_reference.py").exists()           # ddim_step is not removed
    assert (copy / "unlearn" / "esd.py").read_text() == open(os.path.join(ROOT, "unlearn/esd.py")).read()
    assert sorted(os.listdir(copy / "course" / "public")) == ["__init__.py", "test_ga.py"]
    assert leaks.find_leaks(str(copy), ["ga"]) == []

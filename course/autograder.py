"""Write the Gradescope autograder zip for some parts.

    python -m course.assignment autograder OUT.zip [--parts ga,esd] [--hidden-visibility after_published]

At the zip's root: setup.sh and run_autograder (course/autograder_files/), requirements.txt (what
grading imports: course/autograder_files/requirements.txt), the project's packages with the chosen
parts' bodies already replaced by their TODO and their twins left out (the zip holds no reference
body: the tests compare with formulas, not with a reference), and from course/ what grading needs:
the public and hidden tests of the chosen parts, the modules that run them, and
course/autograder.json (the parts, the visibility of the hidden tests, each part's time and memory
limits, and the user the students' code runs as).
"""
import json
import os
import zipfile

from course.gradescope import CONFIG, VISIBILITIES
from course.parts import KINDS, ROOT, STUDENT_COURSE_FILES, test_file
from course.sandbox import Limits
from course.student_copy import repo_files
from course.stub import stub_file

TOP_FILES = {"requirements.txt": "course/autograder_files/requirements.txt", "pytest.ini": "pytest.ini"}
SCRIPTS = {"setup.sh": "course/autograder_files/setup.sh", "run_autograder": "course/autograder_files/run_autograder"}
GRADING_COURSE_FILES = [f for f in STUDENT_COURSE_FILES if f not in ("course/check.py", "course/exercises.py")] + \
    ["course/stub.py", "course/grading.py", "course/gradescope.py", "course/hidden/__init__.py", "course/hidden/formulas.py"]


class AutograderError(Exception):
    """A problem the user can fix (a bad visibility, an existing zip): printed as one line."""


def package_files(root: str) -> list[str]:
    """The .py files git lists in the project's packages (top-level folders with __init__.py), not course/ or tests/."""
    def is_package(top):
        return top not in ("course", "tests") and os.path.isfile(os.path.join(root, top, "__init__.py"))
    return [p for p in repo_files(root) if p.endswith(".py") and "/" in p and is_package(p.split("/")[0])]


def zip_contents(parts: list, hidden_visibility: str, root: str = ROOT, limits: Limits | None = None) -> dict:
    """{path in the zip: text} of everything but the two scripts."""
    limits = limits or Limits()
    tests = [test_file(part, kind) for part in parts for kind in KINDS]
    sources = {**TOP_FILES, **{p: p for p in package_files(root) + GRADING_COURSE_FILES + tests}}
    contents = {}
    for name, path in sources.items():
        with open(os.path.join(root, path), encoding="utf-8") as f:
            contents[name] = stub_file(f.read(), path, parts)
    contents[CONFIG] = json.dumps({"parts": parts, "hidden_visibility": hidden_visibility, "part_s": limits.part_s,
                                   "memory_mb": limits.memory_mb, "user": "nobody"}, indent=2) + "\n"
    return contents


def write_autograder(out: str, parts: list, hidden_visibility: str = "after_published", root: str = ROOT,
                     limits: Limits | None = None) -> int:
    """Write the zip to `out`; returns the number of files in it."""
    if hidden_visibility not in VISIBILITIES:
        raise AutograderError(f"--hidden-visibility {hidden_visibility!r}: use one of {', '.join(VISIBILITIES)}")
    if os.path.exists(out):
        raise AutograderError(f"{out} exists: choose a new file name")
    contents = zip_contents(parts, hidden_visibility, root, limits)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, source in SCRIPTS.items():
            with open(os.path.join(root, source), encoding="utf-8") as f:
                add(z, name, f.read(), 0o755)                # executable: Gradescope runs them as they are
        for name, text in sorted(contents.items()):
            add(z, name, text, 0o644)
    return len(contents) + len(SCRIPTS)


def add(z: zipfile.ZipFile, name: str, text: str, mode: int) -> None:
    """Add a text file with Unix permissions `mode` (zipfile's default would be 0o600)."""
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.external_attr, info.compress_type = (0o100000 | mode) << 16, zipfile.ZIP_DEFLATED
    z.writestr(info, text)

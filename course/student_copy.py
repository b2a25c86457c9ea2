"""The student copy: the project with the chosen parts' function bodies replaced by a TODO, and
nothing in it that gives a removed body away.

make_copy(out, parts) copies the files git tracks, and only those: an untracked file (last term's
grades.csv, an autograder zip, a scratch notebook) or an ignored one is listed and left out, except:
  - in course/, all but the student's side (STUDENT_COURSE_FILES) and the public tests of the chosen
    parts; course/STUDENT.md becomes the copy's course/README.md (the instructor's guide stays here);
  - the files in INSTRUCTOR_ONLY, and the course's own tests (tests/test_course_*.py);
  - every test under tests/ that names a removed function: those tests compute their expected values
    with the reference's own formulas, and would be grading tests the students could fit.
In what it copies, the chosen bodies become a TODO and their twins (course/parts.py TWINS) are left
out (course/stub.py), notebooks lose their saved outputs and execution counts (an output can print a
removed body), and the Makefile loses the instructor's targets and gains `make check PART=...`.
course/leaks.py and course/twins.py check the result.
"""
import json
import os
import re
import shutil
import subprocess

from course.parts import PARTS, ROOT, STUDENT_COURSE_FILES, removed, test_file, twins
from course.stub import stub_file

RENAMED = {"course/STUDENT.md": "course/README.md"}
HANDOUT = "course/HANDOUT.md"                 # written into the copy: course/documents.py's handout
INSTRUCTOR_ONLY = {
    "tests/test_assignment.py": "tests the instructor's tools",
    "tests/test_exercises.py": "holds a right answer to exercise 4",
    "docs/testing.md": "its mutation-testing notes quote lines of the reference bodies",
}
INSTRUCTOR_TARGETS = ("assignment", "autograder", "grade", "self-check")     # Makefile targets the copy drops
CHECK_TARGET = """# The public tests of the parts you implement, one line per failing test (course/README.md):
#   make check            every part          make check PART=ga     one part
check: $(VENV)/.installed
\t$(PY) -m course.check $(PART)
"""


class CopyError(Exception):
    """A problem the user can fix (a folder that is not empty, not a git checkout): printed as one line."""


def git_list(root: str, *extra: str) -> list:
    try:
        out = subprocess.run(["git", "ls-files", "-z", *extra], cwd=root, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        raise CopyError(f"{root} is not a git checkout: `make` copies the files git tracks") from None
    return sorted(n for n in set(out.split("\0")) if n)


def repo_files(root: str = ROOT) -> list:
    """The files git tracks (that exist on disk): what a copy or the autograder zip is built from."""
    return [n for n in git_list(root) if os.path.isfile(os.path.join(root, n))]


def course_files(root: str, parts: list) -> list:
    """The students' side of course/, by name (course/parts.py), whether git tracks it yet or not."""
    names = STUDENT_COURSE_FILES + [test_file(p, "public") for p in parts] + list(RENAMED)
    return [n for n in names if os.path.isfile(os.path.join(root, n))]


def not_tracked(root: str = ROOT) -> dict:
    """{path: why it is not copied} for the untracked files and the ignored entries (folders once)."""
    out = {n: "untracked: not in git (git add it to hand it out)" for n in git_list(root, "--others", "--exclude-standard")}
    out |= {n: "ignored by git" for n in git_list(root, "--others", "--ignored", "--exclude-standard", "--directory")}
    return {n: why for n, why in out.items() if not n.startswith("course/")}


def left_out(path: str, parts: list, text_of) -> str | None:
    """Why `path` stays out of the student copy, or None if it goes in. `text_of(path)` reads a file."""
    if path.startswith("course/"):
        public = {test_file(part, "public") for part in parts}
        return None if path in STUDENT_COURSE_FILES or path in public or path in RENAMED else "the instructor's course material"
    if path in INSTRUCTOR_ONLY:
        return INSTRUCTOR_ONLY[path]
    if path.startswith("tests/test_course_"):
        return "tests the instructor's tools"
    names = [name for part in parts for _, name in PARTS[part]]
    names += [name if name != "run" else os.path.basename(file)[:-3] for file, ns in twins(parts).items() for name in ns]
    if path.startswith("tests/") and path.endswith(".py") and names:
        if re.search(r"\b(" + "|".join(names) + r")\b", text_of(path)):
            return "tests a removed function with the reference's formulas"
    return None


def clear_outputs(text: str) -> str:
    """A notebook's JSON text with every code cell's outputs and execution count cleared."""
    notebook = json.loads(text)
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def student_makefile(text: str) -> str:
    """The Makefile without the paragraphs that define an instructor's target, plus `make check`."""
    paragraphs = text.split("\n\n")
    keep = [p for p in paragraphs
            if not any(line.startswith(f"{target}:") for line in p.splitlines() for target in INSTRUCTOR_TARGETS)]
    return "\n\n".join(keep).rstrip("\n") + "\n\n" + CHECK_TARGET


def copied_text(path: str, text: str, parts: list) -> str:
    """What the copy holds for a text file of the repository."""
    if path in removed(parts) or path in twins(parts):
        return stub_file(text, path, parts)
    if path.endswith(".ipynb"):
        return clear_outputs(text)
    if path == "Makefile":
        return student_makefile(text)
    return text


def make_copy(out: str, parts: list, root: str = ROOT, files: list | None = None) -> tuple[list, dict]:
    """Write the student copy of `root` for `parts` to the new folder `out`. Returns (the removed
    functions as 'file:name', {file left out: why}, untracked and ignored files included)."""
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise CopyError(f"{out} exists and is not empty: choose a new folder")
    skipped = not_tracked(root) if files is None else {}
    files = repo_files(root) + course_files(root, parts) if files is None else files
    chosen, edited = removed(parts), set(removed(parts)) | set(twins(parts))

    def text_of(path):
        with open(os.path.join(root, path), encoding="utf-8") as f:
            return f.read()
    for path in sorted(set(files)):
        why = left_out(path, parts, text_of)
        if why:
            skipped[path] = why
            continue
        dest = os.path.join(out, RENAMED.get(path, path))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if path in edited or path.endswith(".ipynb") or path == "Makefile":
            with open(dest, "w", encoding="utf-8") as f:
                f.write(copied_text(path, text_of(path), parts))
        else:
            shutil.copy2(os.path.join(root, path), dest)
    from course.documents import handout
    os.makedirs(os.path.dirname(os.path.join(out, HANDOUT)), exist_ok=True)
    with open(os.path.join(out, HANDOUT), "w", encoding="utf-8") as f:
        f.write(handout(parts))
    return [f"{path}:{name}" for path, names in chosen.items() for name in names], skipped

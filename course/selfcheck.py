"""Show that the grader tells right from wrong, on the whole assignment.

    python -m course.assignment self-check [--parts ...]

(a) the reference gets full marks on the public and the hidden tests; (b) a fresh student copy
holds no telling line of a removed body and no hidden test, and gets 0 with every test reporting
"not implemented yet"; (c) every wrong implementation of course/wrong.py loses points on the hidden
tests. Prints one row a check, with the points each wrong implementation loses.
"""
import os
import shutil
import tempfile

from course.grading import grade
from course.leaks import find_leaks
from course.parts import ROOT
from course.runner import not_implemented
from course.student_copy import left_out, make_copy, repo_files
from course.wrong import WRONG, WrongError, inject


def wrong_submission(folder: str, wrong) -> None:
    """A submission folder holding the reference's file of `wrong.part` with the mistake put in."""
    with open(os.path.join(ROOT, wrong.path), encoding="utf-8") as f:
        text = inject(f.read(), wrong)
    os.makedirs(os.path.dirname(os.path.join(folder, wrong.path)), exist_ok=True)
    with open(os.path.join(folder, wrong.path), "w", encoding="utf-8") as f:
        f.write(text)


def row(check: str, part: str, grades: dict | None, ok: bool) -> dict:
    return {"check": check, "part": part, "grades": grades, "ok": ok}


def full(r: dict) -> bool:
    return all(r[kind]["passed"] == r[kind]["total"] > 0 for kind in ("public", "hidden"))


def instructor_files(copy: str, parts: list) -> list[str]:
    """course/'s files that are in the copy but should not be (its README.md must be the student guide)."""
    found = [path for path in repo_files() if path.startswith("course/") and path != "course/README.md"
             and left_out(path, parts, lambda p: "") and os.path.exists(os.path.join(copy, path))]
    with open(os.path.join(copy, "course", "README.md"), encoding="utf-8") as f, \
            open(os.path.join(ROOT, "course", "STUDENT.md"), encoding="utf-8") as g:
        return found + ([] if f.read() == g.read() else ["course/README.md (not the student guide)"])


def check_copy(tmp: str, parts: list) -> list[dict]:
    copy = os.path.join(tmp, "todo")
    make_copy(copy, parts)
    leaks = find_leaks(copy, parts)
    instructor = instructor_files(copy, parts)
    rows = [row(f"copy: no removed body ({len(leaks)} telling lines found)", "all", None, not leaks),
            row(f"copy: no hidden test, no instructor file ({', '.join(instructor) or 'none found'})", "all", None,
                not instructor)]
    for r in grade(copy, parts):
        rows.append(row("TODO copy: 0, each test 'not implemented yet'", r["part"], r,
                        r["points"] == 0 and not_implemented(r["tests"])))
    return rows


def self_check(parts: list) -> list[dict]:
    rows = [row("reference: full marks", r["part"], r, full(r)) for r in grade(ROOT, parts)]
    with tempfile.TemporaryDirectory(prefix="selfcheck-") as tmp:
        rows += check_copy(tmp, parts)
        for i, wrong in enumerate(w for w in WRONG if w.part in parts):
            folder = os.path.join(tmp, f"wrong-{i}")
            try:
                wrong_submission(folder, wrong)
            except WrongError as error:
                rows.append(row(f"wrong: {error}", wrong.part, None, False))
                continue
            [r] = grade(folder, [wrong.part])
            rows.append(row(f"wrong: {wrong.what}", wrong.part, r, r["hidden"]["passed"] < r["hidden"]["total"]))
            shutil.rmtree(folder)
    return rows


def print_rows(rows: list) -> None:
    width = max(len(r["check"]) for r in rows) + 1
    print(f"{'check':<{width}}{'part':<7}{'public':>7}{'hidden':>8}{'points':>8}{'lost':>6}  ok")
    for r in rows:
        g = r["grades"]
        cells = (f"{g['public']['passed']}/{g['public']['total']}", f"{g['hidden']['passed']}/{g['hidden']['total']}",
                 f"{g['points']:.1f}", f"{g['max_points'] - g['points']:.1f}") if g else ("-", "-", "-", "-")
        print(f"{r['check']:<{width}}{r['part']:<7}{cells[0]:>7}{cells[1]:>8}{cells[2]:>8}{cells[3]:>6}  "
              f"{'yes' if r['ok'] else 'NO'}")

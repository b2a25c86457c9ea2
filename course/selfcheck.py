"""Show that the grader tells right from wrong, on the whole assignment.

    python -m course.assignment self-check [--parts ...]

(a) the reference gets full marks on the public and the hidden tests, and so does every correct
alternative of course/alternatives.py; (b) a fresh student copy holds no telling line of a removed
body, no hidden test and no twin of a removed body (course/twins.py), and gets 0 with every test
reporting "not implemented yet"; (c) every wrong implementation of course/wrong.py loses points on
the hidden tests; (d) every cheat of course/integrity.py scores 0, as an empty submission does.
Prints one row a check, with the points each wrong implementation loses.
"""
import os
import shutil
import tempfile

from course import alternatives, integrity
from course.grading import grade
from course.leaks import find_leaks
from course.parts import ROOT, STUDENT_COURSE_FILES, test_file
from course.runner import not_implemented
from course.sandbox import Limits, Sandbox
from course.student_copy import HANDOUT, make_copy, repo_files
from course.twins import find_twins
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
    """Files of the copy's course/ that are not the students' side (its README.md must be the student guide)."""
    allowed = set(STUDENT_COURSE_FILES) | {test_file(p, "public") for p in parts} | {"course/README.md", HANDOUT}
    found = []
    for folder, dirs, names in os.walk(os.path.join(copy, "course")):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found += [p for p in (os.path.relpath(os.path.join(folder, n), copy).replace(os.sep, "/") for n in names)
                  if p not in allowed]
    with open(os.path.join(copy, "course", "README.md"), encoding="utf-8") as f, \
            open(os.path.join(ROOT, "course", "STUDENT.md"), encoding="utf-8") as g:
        return found + ([] if f.read() == g.read() else ["course/README.md (not the student guide)"])


def check_copy(tmp: str, parts: list, sandbox: Sandbox) -> list[dict]:
    copy = os.path.join(tmp, "todo")
    make_copy(copy, parts)
    leaks = find_leaks(copy, parts)
    instructor = instructor_files(copy, parts)
    kept = [p for p in repo_files() if p.endswith(".py") and os.path.exists(os.path.join(copy, p))
            and not p.startswith(("course/", "tests/"))]
    twins = find_twins(parts, kept)
    rows = [row(f"copy: no removed body ({len(leaks)} telling lines found)", "all", None, not leaks),
            row(f"copy: no hidden test, no instructor file ({', '.join(instructor) or 'none found'})", "all", None,
                not instructor),
            row(f"copy: no twin of a removed body ({', '.join(f'{a} in {b}' for a, b, _ in twins) or 'none found'})",
                "all", None, not twins)]
    for r in grade(copy, parts, limits=sandbox.limits, sandbox=sandbox):
        rows.append(row("TODO copy: 0, each test 'not implemented yet'", r["part"], r,
                        r["points"] == 0 and not_implemented(r["tests"])))
    return rows


def check_catalogues(tmp: str, parts: list, sandbox: Sandbox) -> list[dict]:
    """Each correct alternative at full marks; each cheat at 0."""
    rows = []
    for i, alt in enumerate(a for a in alternatives.ALTERNATIVES if a.part in parts):
        folder = os.path.join(tmp, f"alternative-{i}")
        alternatives.write_submission(folder, dict(alt.sources))
        [r] = grade(folder, [alt.part], limits=sandbox.limits, sandbox=sandbox)
        rows.append(row(f"alternative: {alt.what}", alt.part, r, full(r)))
    for i, round_ in enumerate(integrity.rounds()):
        folder = os.path.join(tmp, f"cheats-{i}")
        chosen = {p: c for p, c in round_.items() if p in parts}
        if not chosen:
            continue
        alternatives.write_submission(folder, integrity.sources(chosen))
        for r in grade(folder, list(chosen), limits=sandbox.limits, sandbox=sandbox):
            rows.append(row(f"cheat: {chosen[r['part']].what}", r["part"], r, r["points"] == 0))
    return rows


def self_check(parts: list, limits: Limits | None = None) -> list[dict]:
    with Sandbox(limits) as sandbox:
        rows = [row("reference: full marks", r["part"], r, full(r))
                for r in grade(ROOT, parts, limits=sandbox.limits, sandbox=sandbox)]
        with tempfile.TemporaryDirectory(prefix="selfcheck-") as tmp:
            rows += check_copy(tmp, parts, sandbox)
            rows += check_catalogues(tmp, parts, sandbox)
            for i, wrong in enumerate(w for w in WRONG if w.part in parts):
                folder = os.path.join(tmp, f"wrong-{i}")
                try:
                    wrong_submission(folder, wrong)
                except WrongError as error:
                    rows.append(row(f"wrong: {error}", wrong.part, None, False))
                    continue
                [r] = grade(folder, [wrong.part], limits=sandbox.limits, sandbox=sandbox)
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

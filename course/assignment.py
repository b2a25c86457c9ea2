"""Assignment mode, the instructor's command line (course/README.md is the guide).

    python -m course.assignment make OUT [--parts ga,esd]                 the student copy
    python -m course.assignment documents OUT [--parts ...]               handout, rubric, solutions
    python -m course.assignment grade DIR [DIR ...] [--parts ...] [--json F] [--csv F]
    python -m course.assignment autograder OUT.zip [--parts ...] [--hidden-visibility V]
    python -m course.assignment self-check [--parts ...]                  prove that the grader works
    python -m course.assignment leaks COPY [--parts ...]                  search a copy for removed bodies

grade, autograder and self-check take --part-s S and --memory-mb M: each part's limits.

Every command takes the parts as a comma-separated list from course/parts.py (default: all).
"""
import argparse
import csv
import json
import os
import sys

from course.autograder import AutograderError, write_autograder
from course.documents import write_documents
from course.grading import GradingError, grade, print_grades
from course.leaks import find_leaks
from course.parts import PARTS
from course.runner import RunError
from course.sandbox import Limits, Sandbox, SandboxError
from course.selfcheck import print_rows, self_check
from course.student_copy import CopyError, make_copy
from course.stub import StubError
from course.wrong import WrongError

ERRORS = (AutograderError, CopyError, GradingError, RunError, SandboxError, StubError, WrongError)


class UsageError(Exception):
    """A bad argument: printed as one line."""


def parse_parts(text: str) -> list:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise UsageError(f"unknown part(s) {', '.join(unknown) or repr(text)}: choose from {','.join(PARTS)}")
    return parts


def write_tables(grades: dict, json_path: str | None, csv_path: str | None) -> None:
    """grades: {submission folder: rows}. JSON: everything; CSV: one line a submission, points a part."""
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump({os.path.abspath(d): {"parts": rows, "total_points": sum(r["points"] for r in rows),
                                            "max_points": sum(r["max_points"] for r in rows)}
                       for d, rows in grades.items()}, f, indent=2)
    if csv_path:
        parts = [r["part"] for r in next(iter(grades.values()))]
        with open(csv_path, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(["submission", *parts, "total"])
            for d, rows in grades.items():
                out.writerow([os.path.basename(os.path.normpath(d)), *[r["points"] for r in rows],
                              round(sum(r["points"] for r in rows), 2)])


def limits_of(args) -> Limits:
    return Limits(part_s=args.part_s, memory_mb=args.memory_mb)


def run_grade(args) -> int:
    grades, parts = {}, parse_parts(args.parts)
    with Sandbox(limits_of(args)) as sandbox:
        for folder in args.submissions:
            print(f"== {folder}")
            grades[folder] = grade(folder, parts, limits=sandbox.limits, sandbox=sandbox)
            print_grades(grades[folder], failures=not args.quiet)
    write_tables(grades, args.json, args.csv)
    return 0


def run_command(args) -> int:
    if args.command == "make":
        removed, skipped = make_copy(args.out, parse_parts(args.parts))
        untracked = sorted(p for p, why in skipped.items() if why.startswith("untracked"))
        ignored = sorted(p for p, why in skipped.items() if why == "ignored by git" and "__pycache__" not in p)
        for path in untracked:
            print(f"left out, not tracked by git (git add it to hand it out): {path}")
        print(f"left out, ignored by git: {', '.join(ignored) or 'nothing'} (and every __pycache__/)")
        print(f"wrote a student copy to {args.out}; TODO: {', '.join(removed)}; left out the instructor's course "
              f"material, the tests that restate the removed bodies, and {len(untracked)} untracked files")
    elif args.command == "documents":
        for path in write_documents(args.out, parse_parts(args.parts)):
            print(f"wrote {path}")
    elif args.command == "grade":
        return run_grade(args)
    elif args.command == "autograder":
        n = write_autograder(args.out, parse_parts(args.parts), args.hidden_visibility, limits=limits_of(args))
        print(f"wrote {args.out} ({n} files): upload it as the assignment's autograder on Gradescope")
    elif args.command == "self-check":
        rows = self_check(parse_parts(args.parts), limits_of(args))
        print_rows(rows)
        return 0 if all(r["ok"] for r in rows) else 1
    elif args.command == "leaks":
        hits = find_leaks(args.copy, parse_parts(args.parts))
        for path, line, source in hits:
            print(f"{path}: a line of {source}: {line}")
        print(f"{len(hits)} telling lines of the removed bodies found in {args.copy}")
        return 1 if hits else 0
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    all_parts = dict(default=",".join(PARTS), help=f"comma-separated, from {','.join(PARTS)}")
    make = sub.add_parser("make", help="write a student copy with TODO bodies")
    make.add_argument("out")
    make.add_argument("--parts", **all_parts)
    docs = sub.add_parser("documents", help="write the handout, the rubric and the solutions (markdown)")
    docs.add_argument("out")
    docs.add_argument("--parts", **all_parts)
    grade_p = sub.add_parser("grade", help="grade submission folders with the public and hidden tests")
    grade_p.add_argument("submissions", nargs="+", metavar="DIR")
    grade_p.add_argument("--parts", **all_parts)
    grade_p.add_argument("--json", help="write every test's result to this JSON file")
    grade_p.add_argument("--csv", help="write one line a submission (points a part, total) to this CSV file")
    grade_p.add_argument("--quiet", action="store_true", help="print only the table, not each failing test")
    auto = sub.add_parser("autograder", help="write the Gradescope autograder zip")
    auto.add_argument("out")
    auto.add_argument("--parts", **all_parts)
    auto.add_argument("--hidden-visibility", default="after_published",
                      help="when students see the hidden tests on Gradescope: hidden, after_due_date, "
                           "after_published (default) or visible")
    check = sub.add_parser("self-check", help="show that the grader tells right from wrong (minutes)")
    check.add_argument("--parts", **all_parts)
    for command in (grade_p, auto, check):
        command.add_argument("--part-s", type=float, default=Limits.part_s,
                             help=f"seconds the student's code of one part may run in all (default {Limits.part_s:g})")
        command.add_argument("--memory-mb", type=int, default=Limits.memory_mb,
                             help=f"memory the student's code of one part may take (default {Limits.memory_mb})")
    leaks = sub.add_parser("leaks", help="search a student copy for lines of the removed bodies")
    leaks.add_argument("copy")
    leaks.add_argument("--parts", **all_parts)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return run_command(args)
    except (UsageError, *ERRORS) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

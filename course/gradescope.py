"""Gradescope's side of the autograder: grade ROOT/submission with the tests in ROOT/source and write
ROOT/results/results.json in Gradescope's format (https://gradescope-autograders.readthedocs.io/en/latest/specs/).

    python -m course.gradescope [--root /autograder]        (what run_autograder calls)

The parts, the visibility of the hidden tests and the limits come from course/autograder.json, which
`python -m course.assignment autograder` writes into the zip. What students see before the grades
are published: the top-level `output` (always shown) names only public results; each public test
is `visible`; each hidden test, its score and its message follow the configured visibility. The
grader's own log (stdout, which names hidden results) stays hidden. Run as root, as Gradescope does,
the grader closes ROOT/source, ROOT/submission and ROOT/results to other users and runs the
students' code as `nobody` (course/sandbox.py).
"""
import argparse
import json
import os
import sys
import time

from course.sandbox import Limits, SandboxError

CONFIG = "course/autograder.json"
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
HIDDEN_NOTE = "Hidden tests: their results appear here when your instructor publishes the grades."


def test_entry(row: dict, test: dict, hidden_visibility: str) -> dict:
    return {"name": f"{row['part']} / {test['kind']}: {test['title']}",
            "score": round(test["score"], 4), "max_score": round(test["max_score"], 4),
            "output": "passed" if test["passed"] else test["message"],
            "visibility": "visible" if test["kind"] == "public" else hidden_visibility}


def summary(rows: list) -> str:
    """The always-visible top of the results page: one line a part, public tests only, and what stopped it."""
    lines = []
    for row in rows:
        pub = row["public"]
        line = f"{row['part']}: public tests {pub['passed']}/{pub['total']} passed"
        lines.append(line + (f" ({row['problem']})" if row["problem"] else ""))
    return "\n".join(lines + [HIDDEN_NOTE])


def results_json(rows: list, hidden_visibility: str, seconds: float) -> dict:
    tests = [test_entry(row, test, hidden_visibility) for row in rows for test in row["tests"]]
    return {"score": round(sum(t["score"] for t in tests), 2), "execution_time": round(seconds),
            "output": summary(rows), "stdout_visibility": "hidden", "tests": tests}


def failure_json(message: str, seconds: float) -> dict:
    """What Gradescope shows when grading itself could not run (the instructor reads stdout)."""
    return {"score": 0.0, "execution_time": round(seconds), "stdout_visibility": "hidden",
            "output": "The autograder could not grade this submission. Please tell your instructor."}


def close_to_others(root: str) -> None:
    """As root: the student's code (run as another user) cannot read the tests or write the results."""
    if os.geteuid() != 0:
        return
    for name in ("source", "submission", "results"):
        path = os.path.join(root, name)
        if os.path.isdir(path):
            os.chmod(path, 0o700)


def grade_here(root: str, config: dict, sandbox=None) -> dict:
    from course.grading import GradingError, grade, print_grades
    from course.runner import RunError
    start = time.time()
    limits = Limits(part_s=float(config.get("part_s", Limits.part_s)), memory_mb=int(config.get("memory_mb", Limits.memory_mb)),
                    user=os.environ.get("COURSE_SANDBOX_USER", config.get("user")) or None)
    try:
        rows = grade(os.path.join(root, "submission"), config["parts"], clean_root=os.path.join(root, "source"),
                     limits=limits, sandbox=sandbox)
        print_grades(rows)                           # the instructor's log (stdout, hidden from students)
        return results_json(rows, config["hidden_visibility"], time.time() - start)
    except (GradingError, RunError, SandboxError) as error:
        print(f"error: {error}")
        return failure_json(str(error), time.time() - start)


def main(argv=None, sandbox=None) -> int:
    """`sandbox`: a course.sandbox.Sandbox to reuse (tests grading many submissions in one process)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"),
                        help="the Gradescope layout: ROOT/source, ROOT/submission, ROOT/results")
    args = parser.parse_args(argv)
    with open(os.path.join(args.root, "source", CONFIG), encoding="utf-8") as f:
        config = json.load(f)
    os.makedirs(os.path.join(args.root, "results"), exist_ok=True)
    close_to_others(args.root)
    out = grade_here(args.root, config, sandbox)
    with open(os.path.join(args.root, "results", "results.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2)                  # written last: whatever a student's code wrote there is replaced
    return 0


if __name__ == "__main__":
    sys.exit(main())

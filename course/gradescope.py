"""Gradescope's side of the autograder: grade ROOT/submission with the tests in ROOT/source and write
ROOT/results/results.json in Gradescope's format (https://gradescope-autograders.readthedocs.io/en/latest/specs/).

    python -m course.gradescope [--root /autograder]        (what run_autograder calls)

The parts to grade and the visibility of the hidden tests come from course/autograder.json, which
`python -m course.assignment autograder` writes into the zip. Each test becomes one entry (name,
score, max_score, output: its one-line feedback, visibility): public tests are visible, hidden
ones follow the configured visibility.
"""
import argparse
import json
import os
import sys
import time

from course.grading import GradingError, grade
from course.runner import RunError

CONFIG = "course/autograder.json"
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")


def test_entry(row: dict, test: dict, hidden_visibility: str) -> dict:
    return {"name": f"{row['part']} / {test['kind']}: {test['title']}",
            "score": test["score"], "max_score": test["max_score"],
            "output": "passed" if test["passed"] else test["message"],
            "visibility": "visible" if test["kind"] == "public" else hidden_visibility}


def summary(rows: list) -> str:
    """One line a part (tests passed, points, or what stopped it), for the top of the results page."""
    lines = []
    for row in rows:
        line = (f"{row['part']}: public {row['public']['passed']}/{row['public']['total']}, hidden "
                f"{row['hidden']['passed']}/{row['hidden']['total']}, {row['points']:g} / {row['max_points']:g} points")
        lines.append(line + (f" ({row['problem']})" if row["problem"] else ""))
    return "\n".join(lines)


def results_json(rows: list, hidden_visibility: str, seconds: float) -> dict:
    tests = [test_entry(row, test, hidden_visibility) for row in rows for test in row["tests"]]
    return {"score": round(sum(t["score"] for t in tests), 2), "execution_time": round(seconds),
            "output": summary(rows), "stdout_visibility": "hidden", "tests": tests}


def failure_json(message: str, seconds: float) -> dict:
    """What Gradescope shows when grading itself could not run (the instructor reads stdout)."""
    return {"score": 0.0, "execution_time": round(seconds), "stdout_visibility": "hidden",
            "output": f"The autograder could not grade this submission ({message}). Please tell your instructor."}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"),
                        help="the Gradescope layout: ROOT/source, ROOT/submission, ROOT/results")
    args = parser.parse_args(argv)
    source, start = os.path.join(args.root, "source"), time.time()
    with open(os.path.join(source, CONFIG), encoding="utf-8") as f:
        config = json.load(f)
    try:
        rows = grade(os.path.join(args.root, "submission"), config["parts"], clean_root=source)
        out = results_json(rows, config["hidden_visibility"], time.time() - start)
    except (GradingError, RunError) as error:
        print(f"error: {error}", file=sys.stderr)
        out = failure_json(str(error), time.time() - start)
    os.makedirs(os.path.join(args.root, "results"), exist_ok=True)
    with open(os.path.join(args.root, "results", "results.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2)
    print(out["output"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

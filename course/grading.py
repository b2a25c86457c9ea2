"""Grade a submission: put the student's functions into a clean copy of the project and run the
public and hidden tests of each part.

Only the functions of the parts are taken from the submission: for each (file, function) of a
part, the top-level `def` of that name is read from the student's file and replaces the TODO in a
clean tree (the rest of the file, and every other file, are the instructor's). The student's file
is looked for at its path in the project (unlearn/ga.py), then anywhere below the submission
folder, at a path ending the same or under the same name: a zipped folder or loose files both work.

A part is worth PUBLIC_POINTS + HIDDEN_POINTS (course/parts.py), each group of tests sharing its
points equally. All parts run in one pytest process (each test with a time limit, course/conftest.py);
if that process dies, the parts whose tests did not all finish are run again, one at a time.
"""
import os
import shutil
import tempfile

from course.parts import KINDS, PARTS, ROOT, functions, points, test_file
from course.runner import not_implemented, run_tests
from course.stub import StubError, function_source, replace_function, stub_source

SKIP = {".git", ".venv", "__pycache__", ".pytest_cache", "runs", "results", "data", "weights"}


class GradingError(Exception):
    """A problem the user can fix (a missing folder, an unknown part): printed as one line."""


def code_files(root: str) -> list[str]:
    """What a grading tree needs from `root`: pytest.ini and the .py files of its packages (top-level
    folders with an __init__.py, course/ included), not tests/."""
    found = ["pytest.ini"] if os.path.exists(os.path.join(root, "pytest.ini")) else []
    for top in sorted(os.listdir(root)):
        if top == "tests" or top in SKIP or not os.path.isfile(os.path.join(root, top, "__init__.py")):
            continue
        for folder, dirs, names in os.walk(os.path.join(root, top)):
            dirs[:] = [d for d in dirs if d not in SKIP]
            found += [os.path.relpath(os.path.join(folder, n), root) for n in names if n.endswith(".py")]
    return found


def build_tree(clean_root: str, parts: list, work: str) -> None:
    """Copy `clean_root`'s code to `work`, with every function of `parts` replaced by its TODO."""
    for path in code_files(clean_root):
        os.makedirs(os.path.dirname(os.path.join(work, path)) or work, exist_ok=True)
        shutil.copy2(os.path.join(clean_root, path), os.path.join(work, path))
    for part in parts:
        for path, name in PARTS[part]:
            full = os.path.join(work, path)
            with open(full, encoding="utf-8") as f:
                text = stub_source(f.read(), [name])
            with open(full, "w", encoding="utf-8") as f:
                f.write(text)


def candidates(submission: str, path: str) -> list[str]:
    """The submission's files that may be the student's `path`: at that path, then at a path that ends
    with it, then under the same name anywhere (shortest paths first)."""
    found = []
    for folder, dirs, names in os.walk(submission):
        dirs[:] = sorted(d for d in dirs if d not in SKIP)
        found += [os.path.join(folder, n) for n in names if n == os.path.basename(path)]
    exact = os.path.join(submission, path)
    ends = [f for f in found if f.replace(os.sep, "/").endswith("/" + path)]
    rest = sorted(set(found) - set(ends) - {exact}, key=len)
    return ([exact] if os.path.isfile(exact) else []) + [f for f in sorted(ends, key=len) if f != exact] + rest


def student_function(submission: str, path: str, name: str) -> tuple[str | None, str | None]:
    """(the source of the student's function `name`, None) or (None, why it cannot be had)."""
    problem = f"no {path} with a function {name} in the submission: submit your {path}"
    for candidate in candidates(submission, path):
        try:
            with open(candidate, encoding="utf-8") as f:
                source = function_source(f.read(), name)
        except SyntaxError as error:
            problem = f"your {path} is not valid Python (line {error.lineno}: {error.msg}): fix it and submit it again"
            continue
        except (UnicodeDecodeError, OSError):
            continue
        if source is not None:
            return source, None
    return None, problem


def splice_submission(submission: str, work: str, parts: list) -> dict:
    """Put the student's functions of `parts` into the tree `work`. Returns {part: problem} for the
    parts whose functions could not all be taken (they stay TODO)."""
    problems = {}
    for part in parts:
        for path, name in PARTS[part]:
            source, problem = student_function(submission, path, name)
            full = os.path.join(work, path)
            with open(full, encoding="utf-8") as f:
                text = f.read()
            try:
                text = replace_function(text, name, source) if source else text
            except (StubError, SyntaxError):
                source, problem = None, f"your {name} could not be put into a clean {path}: keep it a top-level def"
            if source is None:
                problems.setdefault(part, problem)
                continue
            with open(full, "w", encoding="utf-8") as f:
                f.write(text)
    return problems


def run_parts(work: str, parts: list) -> list[dict]:
    """Run every part's public and hidden tests; parts hit by a crashed run are run again alone."""
    files = [test_file(part, kind) for part in parts for kind in KINDS]
    results = run_tests(work, files)
    unfinished = sorted({r["part"] for r in results if r["message"] and r["message"].startswith("the test run")})
    if len(parts) > 1 and unfinished:
        results = [r for r in results if r["part"] not in unfinished]
        for part in unfinished:
            results += run_tests(work, [test_file(part, kind) for kind in KINDS])
    return results


def score(part: str, results: list[dict], problem: str | None) -> dict:
    """One part's row: tests passed and points per kind, the total, and each failing test."""
    row = {"part": part, "functions": functions(part), "problem": problem, "tests": [], "points": 0.0,
           "max_points": sum(points(kind) for kind in KINDS)}
    for kind in KINDS:
        tests = [r for r in results if r["part"] == part and r["kind"] == kind]
        if not tests:
            raise GradingError(f"part {part} has no {kind} tests: is {test_file(part, kind)} in place?")
        for r in tests:
            message = problem if problem and r["message"].startswith("not implemented yet") else r["message"]
            row["tests"].append({**r, "message": message, "max_score": points(kind) / len(tests),
                                 "score": points(kind) / len(tests) if r["passed"] else 0.0})
        passed = sum(r["passed"] for r in tests)
        row[kind] = {"passed": passed, "total": len(tests)}
        row["points"] += points(kind) * passed / len(tests)
    row["points"] = round(row["points"], 2)
    return row


def grade(submission: str, parts: list, clean_root: str = ROOT) -> list[dict]:
    """Grade the folder `submission` on `parts` with the tests of `clean_root`. One row a part."""
    if not os.path.isdir(submission):
        raise GradingError(f"{submission} is not a folder")
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        work = os.path.join(tmp, "project")
        build_tree(clean_root, parts, work)
        problems = splice_submission(os.path.abspath(submission), work, parts)
        results = run_parts(work, parts)
    return [score(part, results, problems.get(part)) for part in parts]


def print_grades(rows: list, failures: bool = True) -> None:
    """The grade table; with `failures`, each failing test's one-line message under its part."""
    print(f"{'part':<7}{'public':>9}{'hidden':>9}{'points':>14}")
    for row in rows:
        pub, hid = row["public"], row["hidden"]
        print(f"{row['part']:<7}{pub['passed']:>5} / {pub['total']:<2}{hid['passed']:>5} / {hid['total']:<2}"
              f"{row['points']:>8.2f} / {row['max_points']:g}")
        if not failures:
            continue
        if row["problem"] or not_implemented(row["tests"]):
            print(f"        {row['problem'] or 'not implemented yet: ' + ', '.join(row['functions'])}")
            continue
        for test in row["tests"]:
            if not test["passed"]:
                print(f"        {test['kind']:<7} {test['name']}: {test['message']}")
    got, most = sum(r["points"] for r in rows), sum(r["max_points"] for r in rows)
    print(f"{'total':<7}{'':>18}{got:>8.2f} / {most:g}")

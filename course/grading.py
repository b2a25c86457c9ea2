"""Grade a submission: each part's functions, taken from the student's files, are put into a clean copy
of the project of their own and graded with that part's public and hidden tests.

Only the functions of the parts are taken from the submission: for each (file, function) of a part,
the top-level `def` of that name is read from the student's file and replaces the TODO in a clean
tree (the rest of the file, and every other file, are the instructor's; the other parts' functions
stay TODO, so one part's code cannot touch another's grade). The student's file is looked for at its
path in the project (unlearn/ga.py), then anywhere below the submission folder, at a path ending the
same or under the same name: a zipped folder or loose files both work.

The tests run in this process; the student's code runs in a child process a part (course/runner.py,
course/sandbox.py), with that part's time and memory limits. A part is worth PUBLIC_POINTS +
HIDDEN_POINTS (course/parts.py), each group of tests sharing its points equally; a part whose child
was stopped scores 0.
"""
import os
import shutil
import tempfile

from course.feedback import Redactor
from course.parts import KINDS, PARTS, ROOT, STUDENT_COURSE_FILES, functions, points, removed, test_file
from course.runner import collect, not_implemented, run_tests
from course.sandbox import Limits
from course.stub import StubError, function_source, replace_function, stub_file, top_level_functions

SKIP = {".git", ".venv", "__pycache__", ".pytest_cache", "runs", "results", "data", "weights"}


class GradingError(Exception):
    """A problem the user can fix (a missing folder, an unknown part): printed as one line."""


def code_files(root: str) -> list[str]:
    """What a grading tree needs from `root`: the .py files of the project's packages (top-level folders
    with an __init__.py), without course/ and tests/: the student's code never sits next to the grader."""
    found = []
    for top in sorted(os.listdir(root)):
        if top in ("tests", "course") or top in SKIP or not os.path.isfile(os.path.join(root, top, "__init__.py")):
            continue
        for folder, dirs, names in os.walk(os.path.join(root, top)):
            dirs[:] = [d for d in dirs if d not in SKIP]
            found += [os.path.relpath(os.path.join(folder, n), root) for n in names if n.endswith(".py")]
    return found


def build_tree(clean_root: str, parts: list, work: str) -> None:
    """Copy `clean_root`'s packages to `work`, with every function of `parts` a TODO and their twins left out."""
    for path in code_files(clean_root):
        os.makedirs(os.path.dirname(os.path.join(work, path)) or work, exist_ok=True)
        with open(os.path.join(clean_root, path), encoding="utf-8") as f:
            text = f.read()
        with open(os.path.join(work, path), "w", encoding="utf-8") as f:
            f.write(stub_file(text, path.replace(os.sep, "/"), parts))


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
        except (UnicodeDecodeError, OSError, ValueError):
            continue
        if source is not None:
            return source, None
    return None, problem


def splice_part(submission: str, work: str, part: str) -> str | None:
    """Put the student's functions of `part` into the tree `work`; the problem if one cannot be had."""
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
            return problem
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)
    return None


def open_to(folder: str) -> None:
    """Make a tree readable by everyone (the child may run as another user); its files stay the grader's."""
    for here, dirs, names in os.walk(folder):
        os.chmod(here, 0o755)
        for name in names:
            os.chmod(os.path.join(here, name), 0o644)


def redactor(clean_root: str, parts: list) -> Redactor:
    """What no message may quote: the instructor's course files, and the reference bodies if `clean_root` has them."""
    paths = []
    for folder, dirs, names in os.walk(os.path.join(clean_root, "course")):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "public")]
        for name in names:
            rel = os.path.relpath(os.path.join(folder, name), clean_root).replace(os.sep, "/")
            if name.endswith((".py", ".json", ".md")) and rel not in STUDENT_COURSE_FILES:
                paths.append(os.path.join(clean_root, rel))
    bodies = []
    for path, names in removed(parts).items():
        with open(os.path.join(clean_root, path), encoding="utf-8") as f:
            text = f.read()
        funcs = top_level_functions(text)
        bodies += [function_source(text, n) for n in names if n in funcs and "TODO(student)" not in function_source(text, n)]
    return Redactor(paths, tuple(b for b in bodies if b))


def score(part: str, results: list[dict], problem: str | None, stopped: str | None = None) -> dict:
    """One part's row: tests passed and points per kind, the total, and each failing test."""
    row = {"part": part, "functions": functions(part), "problem": problem or stopped, "tests": [], "points": 0.0,
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


def unrun(part: str, problem: str, kinds=KINDS) -> list[dict]:
    """The part's tests, each failed with `problem` (its functions could not be taken: nothing to run)."""
    return [{"id": t.id, "part": part, "kind": t.kind, "name": t.name, "title": t.title, "passed": False,
             "message": problem} for kind in kinds for t in collect(part, kind)]


def grade(submission: str, parts: list, clean_root: str = ROOT, limits: Limits | None = None, sandbox=None,
          kinds=KINDS) -> list[dict]:
    """Grade the folder `submission` on `parts` with the tests of this process and the project of
    `clean_root`. One row a part. `sandbox`: a course.sandbox.Sandbox to reuse (else one is started);
    `kinds`: ('hidden',) to run the hidden tests only (the public ones then count as failed)."""
    if not os.path.isdir(submission):
        raise GradingError(f"{submission} is not a folder")
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise GradingError(f"unknown part(s) {', '.join(unknown)}: choose from {', '.join(PARTS)}")
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        build_tree(clean_root, parts, os.path.join(tmp, "clean"))
        trees, problems = {}, {}
        for part in parts:
            trees[part] = os.path.join(tmp, part)
            shutil.copytree(os.path.join(tmp, "clean"), trees[part])
            problems[part] = splice_part(os.path.abspath(submission), trees[part], part)
        open_to(tmp)
        runnable = [p for p in parts if not problems[p]]
        results, stopped = run_tests(trees, runnable, kinds, limits=limits, sandbox=sandbox,
                                     redactor=redactor(clean_root, parts))
    results += [r for p in parts if problems[p] for r in unrun(p, problems[p])]
    results += [r for p in runnable for k in KINDS if k not in kinds for r in unrun(p, "not run", (k,))]
    return [score(part, results, problems[part], stopped.get(part)) for part in parts]


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

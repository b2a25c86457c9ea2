"""Run the public tests of the assignment's parts, and say in one line per failing test which property
of the math does not hold yet.

    python -m course.check             every part of this copy        (make check)
    python -m course.check ga esd      these parts                    (make check PART=ga)

The parts of the copy are those with public tests in course/public/. A part whose functions still
raise their TODO is reported as "not implemented yet" in one line. Your functions run in a process of
their own for each part, with the time and memory limits the grader uses (course/sandbox.py), so an
endless loop or a huge allocation is reported as the grader would report it. Exit code 0 when every
test passes.
"""
import argparse
import os
import sys

from course.parts import PARTS, ROOT, functions, test_file
from course.runner import default_trees, not_implemented, run_tests


def available_parts(root: str = ROOT) -> list[str]:
    return [part for part in PARTS if os.path.exists(os.path.join(root, test_file(part, "public")))]


def report(part: str, tests: list[dict], stopped: str | None = None) -> list[str]:
    """The lines that tell a student where `part` stands."""
    passed = sum(t["passed"] for t in tests)
    if stopped:
        return [f"{part:<7}{stopped}"]
    if not_implemented(tests):
        return [f"{part:<7}not implemented yet ({', '.join(functions(part))})"]
    lines = [f"{part:<7}{passed} / {len(tests)} public tests pass"]
    lines += [f"         {t['name']}: {t['message']}" for t in tests if not t["passed"]]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="*", help="parts to check (default: every part of this copy)")
    args = parser.parse_args(argv)
    parts = args.parts or available_parts()
    unknown = [p for p in parts if p not in available_parts()]
    if unknown or not parts:
        print(f"error: no public tests for part(s) {', '.join(unknown) or '(none)'}: this copy has "
              f"{', '.join(available_parts()) or 'none'}", file=sys.stderr)
        return 2
    results, stopped = run_tests(default_trees(parts, ROOT), parts, kinds=("public",))
    ok = True
    for part in parts:
        tests = [r for r in results if r["part"] == part]
        ok = ok and all(t["passed"] for t in tests)
        print("\n".join(report(part, tests, stopped.get(part))))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

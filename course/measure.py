"""Measure what grading one submission costs, the way Gradescope runs it: the autograder zip's
run_autograder on a fake /autograder layout, its wall-clock and CPU time, and the peak memory of its
whole process tree (the grader, the zygote and the part's child; PSS, so that pages the processes
share count once, as a container's memory limit counts them).

    python -m course.measure [SUBMISSION] [--parts ...] [--python PY] [--part-s S] [--memory-mb M]

The figures in course/README.md ("Time and memory") were made with it.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile

from course.autograder import write_autograder
from course.parts import PARTS, ROOT, files
from course.sandbox import Limits


def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out


def pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
    except (OSError, StopIteration):
        return 0


def run(root: str, python: str) -> dict:
    """Run run_autograder on the layout `root`, sampling the tree's memory every 50 ms."""
    env = {**os.environ, "AUTOGRADER_ROOT": root, "PYTHON": python, "COURSE_SANDBOX_USER": os.environ.get(
        "COURSE_SANDBOX_USER", "")}
    start, before = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(["bash", os.path.join(root, "source", "run_autograder")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, sum(pss_kb(p) for p in tree(proc.pid)))
        time.sleep(0.05)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.path.join(root, "results", "results.json"), encoding="utf-8") as f:
        score = json.load(f)["score"]
    return {"wall_s": round(time.time() - start, 1), "cpu_s": round(after.ru_utime + after.ru_stime
                                                                  - before.ru_utime - before.ru_stime, 1),
            "peak_pss_mb": round(peak / 1024), "score": score, "exit": proc.returncode}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", nargs="?", default=ROOT, help="a submission folder (default: the reference)")
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--python", default=sys.executable, help="the interpreter run_autograder uses")
    parser.add_argument("--part-s", type=float, default=Limits.part_s)
    parser.add_argument("--memory-mb", type=int, default=Limits.memory_mb)
    args = parser.parse_args(argv)
    parts = args.parts.split(",")
    with tempfile.TemporaryDirectory(prefix="measure-") as tmp:
        write_autograder(os.path.join(tmp, "a.zip"), parts, limits=Limits(part_s=args.part_s, memory_mb=args.memory_mb))
        with zipfile.ZipFile(os.path.join(tmp, "a.zip")) as z:
            z.extractall(os.path.join(tmp, "autograder", "source"))
        sub = os.path.join(tmp, "autograder", "submission")
        for path in sorted({p for part in parts for p in files(part)}):
            if os.path.exists(os.path.join(args.submission, path)):
                os.makedirs(os.path.dirname(os.path.join(sub, path)), exist_ok=True)
                with open(os.path.join(args.submission, path), encoding="utf-8") as f, \
                        open(os.path.join(sub, path), "w", encoding="utf-8") as g:
                    g.write(f.read())
        os.makedirs(sub, exist_ok=True)
        print(json.dumps(run(os.path.join(tmp, "autograder"), args.python)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Assignment mode: turn this repository into an exercise, and grade the students' copies.

    python scripts/assignment.py make OUT [--parts ga,esd]         a student copy with TODO bodies
    python scripts/assignment.py grade DIR [--parts ga] [--json F]  grade a student copy with our tests
    python scripts/assignment.py self-check                        prove that the grader works

A "part" is one or more functions (PARTS). `make` copies the repository (the files git lists,
tracked or untracked but not ignored) and replaces the body of each chosen function by a TODO
that raises NotImplementedError; the `def` line, the docstring and everything else stay.
`grade` copies the student's folder, puts this repository's tests/ (and pytest.ini) in place of
theirs, and runs, for each part, the reference tests listed in TESTS: 10 points a part, scaled
by the share of its tests that pass. `self-check` shows that the reference gets full marks, the
TODO copy 0, and one plausible wrong implementation a part (WRONG) less than full marks.
docs/assignment.md is the instructors' guide.
"""
import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POINTS = 10     # points a part is worth

# part -> the functions a student writes, as (file, function name)
PARTS = {
    "ga": [("unlearn/ga.py", "ga_loss")],
    "esd": [("unlearn/esd.py", "esd_loss")],
    "salun": [("unlearn/salun.py", "salun_loss"), ("unlearn/salun.py", "saliency_mask")],
    "dimum": [("unlearn/dimum.py", "dimum_loss")],
    "ddim": [("ddpm/diffusion.py", "ddim_step")],
    "dimra": [("attack/dimra.py", "dimra")],
}

# part -> the reference tests that grade it (pytest node ids; a test without [...] runs all its parameters)
TESTS = {
    "ga": ["tests/test_unlearn.py::test_ga_value",
           "tests/test_unlearn.py::test_ga_step_raises_the_forget_loss"],
    "esd": ["tests/test_unlearn.py::test_esd_value_and_target_from_the_frozen_model",
            "tests/test_unlearn.py::test_esd_step_moves_the_prediction_towards_its_target",
            "tests/test_method_properties.py::test_esd_gradient_flows_only_through_the_models_f_branch",
            "tests/test_method_properties.py::test_esd_target_is_negative_guidance_away_from_f"],
    "salun": ["tests/test_unlearn.py::test_salun_value_uses_the_models_own_prediction_as_target",
              "tests/test_unlearn.py::test_saliency_mask_keeps_exactly_the_fraction",
              "tests/test_unlearn.py::test_masked_weights_do_not_move",
              "tests/test_method_properties.py::test_saliency_mask_keeps_the_largest_gradients",
              "tests/test_method_properties.py::test_salun_target_carries_no_gradient"],
    "dimum": ["tests/test_unlearn.py::test_dimum_value",
              "tests/test_unlearn.py::test_dimum_step_lowers_the_loss_on_the_alternative_set",
              "tests/test_method_properties.py::test_dimum_loss_is_l_simple_on_the_alternative_set_and_reaches_its_minimum",
              "tests/test_method_properties.py::test_unlearning_never_drops_labels[dimum]"],
    "ddim": ["tests/test_diffusion.py::test_ddim_eta1_one_timestep_at_a_time_is_the_ddpm_step",
             "tests/test_diffusion.py::test_last_step_returns_the_predicted_x0",
             "tests/test_diffusion.py::test_samplers_recover_a_single_point_distribution",
             "tests/test_samplers_reference.py::test_ddim_matches_diffusers_step_by_step",
             "tests/test_samplers_reference.py::test_ddim_eta1_is_ddpm_on_an_uneven_subsequence",
             "tests/test_samplers_reference.py::test_oracle_samplers_reproduce_gaussian_data[ddim-eta0]"],
    "dimra": ["tests/test_method_properties.py::test_dimra_drops_labels_like_pretraining",
              "tests/test_attack_metrics.py::test_dimra_retain_never_reads_the_forgotten_class",
              "tests/test_attack_metrics.py::test_dimra_refuses_a_retain_set_with_the_class",
              "tests/test_attack_metrics.py::test_dimra_records_the_recovery_curve"],
}

# part -> one plausible wrong implementation: (file, old text, new text, what is wrong). The old
# text must occur exactly once in the file; self-check injects it and expects less than full marks.
WRONG = {
    "ga": ("unlearn/ga.py", "loss = -simple_loss(model, schedule, x_f, c_f)",
           "loss = simple_loss(model, schedule, x_f, c_f)", "the sign of the forget term is flipped"),
    "esd": ("unlearn/esd.py", "target = eps0_null - neg_guidance * (eps0_f - eps0_null)",
            "target = eps0_null + neg_guidance * (eps0_f - eps0_null)", "+ instead of - in the target"),
    "salun": ("unlearn/salun.py", "with torch.no_grad():", "if True:  # no stop-gradient",
              "the target is computed without torch.no_grad"),
    "dimum": ("unlearn/dimum.py", "loss = simple_loss(model, schedule, x_alt, c_alt)",
              "loss = simple_loss(model, schedule, x_alt, torch.full_like(c_alt, model.null_class))",
              "the alternative images are trained under the null class"),
    "ddim": ("ddpm/diffusion.py", "x_s = abar_s.sqrt() * x0", "x_s = abar_t.sqrt() * x0",
             "abar_t used where abar_s belongs"),
    "dimra": ("attack/dimra.py", "*next(batches), p_uncond=cfg.p_uncond)", "*next(batches))",
              "label dropout forgotten (p_uncond ignored)"),
}

TODO = ("{indent}# TODO(student): implement this function; its docstring and docs/design.md give the equation.\n"
        "{indent}raise NotImplementedError(\"TODO: {name}\")\n")
NOT_COPIED = [".git", ".venv", "runs", "results", "data", "__pycache__", ".pytest_cache", "*.pyc"]


class AssignmentError(Exception):
    """A problem the user can fix (a missing folder, an unknown part): printed as one line."""


# ----------------------------------------------------------------------------- make
def stub_source(text: str, names: list) -> str:
    """Return `text` (a Python file) with the body of each top-level function in `names` replaced by
    TODO. The def line(s), the docstring and every other line stay as they are."""
    tree = ast.parse(text)
    funcs = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    lines = text.splitlines(keepends=True)
    for name in sorted(names, key=lambda n: -funcs[n].lineno if n in funcs else 0):
        if name not in funcs:
            raise AssignmentError(f"no top-level function {name!r} to replace")
        func = funcs[name]
        first = func.body[0]
        if ast.get_docstring(func) is not None:
            start = first.end_lineno                     # 0-based index of the line after the docstring
        else:
            start = first.lineno - 1                     # the first statement, with the comments above it
            while start > func.lineno and lines[start - 1].strip().startswith("#"):
                start -= 1
        if start < func.lineno:
            raise AssignmentError(f"{name}: its body starts on the def line; cannot replace it")
        todo = TODO.format(indent=" " * first.col_offset, name=name)
        lines[start:func.end_lineno] = [todo]           # bottom-up order keeps earlier line numbers valid
    out = "".join(lines)
    ast.parse(out)                                       # the result must still be valid Python
    return out


def repo_files(root: str = ROOT) -> list:
    """The files git lists: tracked, plus untracked ones that are not ignored (that exist on disk)."""
    names = []
    for extra in ([], ["--others", "--exclude-standard"]):
        try:
            out = subprocess.run(["git", "ls-files", "-z", *extra], cwd=root, capture_output=True,
                                 text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            raise AssignmentError(f"{root} is not a git checkout: `make` copies the files git lists") from None
        names += [n for n in out.split("\0") if n]
    return sorted(n for n in set(names) if os.path.isfile(os.path.join(root, n)))


def make_copy(out: str, parts: list, root: str = ROOT, files: list | None = None) -> list:
    """Copy `files` (default: repo_files(root)) from root to the new folder `out`, with the functions
    of `parts` replaced by TODO. Returns the replaced functions as 'file:name'."""
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise AssignmentError(f"{out} exists and is not empty: choose a new folder")
    files = repo_files(root) if files is None else files
    chosen = {}                                          # file -> the function names to replace
    for part in parts:
        for path, name in PARTS[part]:
            chosen.setdefault(path, []).append(name)
    for path in files:
        dest = os.path.join(out, path)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if path in chosen:
            with open(os.path.join(root, path), encoding="utf-8") as f:
                text = f.read()
            with open(dest, "w", encoding="utf-8") as f:
                f.write(stub_source(text, chosen[path]))
        else:
            shutil.copy2(os.path.join(root, path), dest)
    return [f"{path}:{name}" for path, names in chosen.items() for name in names]


# ----------------------------------------------------------------------------- grade
def run_tests(folder: str, node_ids: list, junit: str) -> tuple:
    """Run pytest on `node_ids` in `folder`; return (passed, total) read from its JUnit XML report."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *node_ids]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        proc = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        print(f"warning: the tests in {folder} ran over 600 s and count as failed", file=sys.stderr)
        return 0, 0
    if not os.path.exists(junit):                        # pytest itself failed (e.g. a test id not found)
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:]
        print(f"warning: pytest gave no report: {' '.join(tail)}", file=sys.stderr)
        return 0, 0
    report = ET.parse(junit).getroot()
    suites = [report] if report.tag == "testsuite" else report.findall("testsuite")
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get(k, 0)) for s in suites for k in ("failures", "errors", "skipped"))
    return total - failed, total


def grade(student_dir: str, parts: list) -> list:
    """Grade `student_dir` on `parts` with this repository's tests. Returns one dict a part."""
    if not os.path.isdir(student_dir):
        raise AssignmentError(f"{student_dir} is not a folder")
    rows = []
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        work = os.path.join(tmp, "repo")
        shutil.copytree(student_dir, work, ignore=shutil.ignore_patterns(*NOT_COPIED))
        shutil.rmtree(os.path.join(work, "tests"), ignore_errors=True)     # the student's tests do not count
        shutil.copytree(os.path.join(ROOT, "tests"), os.path.join(work, "tests"),
                        ignore=shutil.ignore_patterns(*NOT_COPIED))
        shutil.copy2(os.path.join(ROOT, "pytest.ini"), os.path.join(work, "pytest.ini"))
        for part in parts:
            passed, total = run_tests(work, TESTS[part], os.path.join(tmp, f"{part}.xml"))
            points = round(POINTS * passed / total, 1) if total else 0.0
            rows.append({"part": part, "passed": passed, "total": total, "points": points, "max_points": POINTS})
    return rows


def print_grades(rows: list) -> None:
    print(f"{'part':<8}{'tests passed':>14}{'points':>14}")
    for r in rows:
        print(f"{r['part']:<8}{r['passed']:>8} / {r['total']:<3}{r['points']:>9.1f} / {r['max_points']}")
    got, most = sum(r["points"] for r in rows), sum(r["max_points"] for r in rows)
    print(f"{'total':<8}{'':>14}{got:>9.1f} / {most}")


# ----------------------------------------------------------------------------- self-check
def inject_wrong(folder: str, part: str) -> None:
    """Replace WRONG[part]'s old text (which must occur exactly once) by its new text, in `folder`."""
    path, old, new, _ = WRONG[part]
    full = os.path.join(folder, path)
    with open(full, encoding="utf-8") as f:
        text = f.read()
    if text.count(old) != 1:
        raise AssignmentError(f"WRONG[{part!r}]: {old!r} occurs {text.count(old)} times in {path}, not once")
    with open(full, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new))


def imports_cleanly(folder: str) -> bool:
    """Whether every module with a part imports in `folder` (a TODO copy must still import)."""
    modules = sorted({path[:-3].replace("/", ".") for files in PARTS.values() for path, _ in files})
    code = "import " + ", ".join(modules)
    proc = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    return proc.returncode == 0


def self_check() -> bool:
    """(a) the reference gets full marks, (b) a TODO copy imports and gets 0, (c) each WRONG gets less."""
    results = []                                         # (check, part, grade row or None, ok)
    for row in grade(ROOT, list(PARTS)):
        results.append(("reference: full marks", row["part"], row, row["total"] > 0 and row["passed"] == row["total"]))
    with tempfile.TemporaryDirectory(prefix="selfcheck-") as tmp:
        todo = os.path.join(tmp, "todo")
        make_copy(todo, list(PARTS))
        results.append(("TODO copy: imports", "all", None, imports_cleanly(todo)))
        for row in grade(todo, list(PARTS)):
            results.append(("TODO copy: 0 points", row["part"], row, row["points"] == 0))
        for part, (_, _, _, what) in WRONG.items():
            wrong = os.path.join(tmp, f"wrong-{part}")
            make_copy(wrong, [])
            try:
                inject_wrong(wrong, part)
            except AssignmentError as e:
                print(f"error: {e}", file=sys.stderr)
                results.append((f"wrong: {what}", part, None, False))
                continue
            row = grade(wrong, [part])[0]
            results.append((f"wrong: {what}", part, row, row["points"] < row["max_points"]))
    print(f"{'check':<64}{'part':<7}{'tests passed':>13}{'points':>8}  ok")
    for check, part, row, ok in results:
        tests = f"{row['passed']} / {row['total']}" if row else "-"
        points = f"{row['points']:.1f}" if row else "-"
        print(f"{check:<64}{part:<7}{tests:>13}{points:>8}  {'yes' if ok else 'NO'}")
    return all(ok for *_, ok in results)


# ----------------------------------------------------------------------------- command line
def parse_parts(text: str) -> list:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise AssignmentError(f"unknown part(s) {', '.join(unknown) or text!r}: choose from {','.join(PARTS)}")
    return parts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make", help="write a student copy with TODO bodies")
    make.add_argument("out")
    make.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {','.join(PARTS)}")
    grade_p = sub.add_parser("grade", help="grade a student copy with this repository's tests")
    grade_p.add_argument("student_dir")
    grade_p.add_argument("--parts", default=",".join(PARTS))
    grade_p.add_argument("--json", help="also write the grades to this JSON file")
    sub.add_parser("self-check", help="show that the grader tells right from wrong")
    args = parser.parse_args(argv)
    try:
        if args.command == "make":
            removed = make_copy(args.out, parse_parts(args.parts))
            print(f"wrote a student copy to {args.out}; TODO: {', '.join(removed)}")
        elif args.command == "grade":
            rows = grade(args.student_dir, parse_parts(args.parts))
            print_grades(rows)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump({"student_dir": os.path.abspath(args.student_dir), "parts": rows,
                               "total_points": sum(r["points"] for r in rows),
                               "max_points": sum(r["max_points"] for r in rows)}, f, indent=2)
        else:
            return 0 if self_check() else 1
    except AssignmentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

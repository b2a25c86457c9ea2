"""A grader a class can trust, tried as a cheating student would try it: every cheat of
course/integrity.py, graded on a fake /autograder layout built from the autograder zip, scores no
more than an empty submission (0) and leaves no line of the grader's files in the results; a part
stopped for time, memory or an exit scores 0 and the other parts are graded as usual; and every
correct alternative of course/alternatives.py (other draw orders, other ways to the same math)
gets full marks. Short limits (2 s a part) keep it fast; `make self-check` runs the same catalogues."""
import ast
import json
import os
import re
import zipfile

import pytest

from course import alternatives, autograder, gradescope, integrity, parts, sandbox, student_copy
from course.parts import PARTS

ALL = list(PARTS)
LIMITS = sandbox.Limits(part_s=20, memory_mb=768)
FAST = sandbox.Limits(part_s=2, memory_mb=512)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The autograder zip, unpacked once: every test's fake layout links to it."""
    out = tmp_path_factory.mktemp("zip")
    try:
        autograder.write_autograder(str(out / "autograder.zip"), ALL, limits=LIMITS)
    except student_copy.CopyError:
        pytest.skip("the autograder lists the project's files with git: needs a git checkout")
    with zipfile.ZipFile(out / "autograder.zip") as z:
        z.extractall(out / "source")
    return out / "source"


def grade_layout(source, tmp, files: dict, limits=LIMITS, parts_=ALL, user="nobody") -> dict:
    """Grade the submission `files` ({path: text}) as run_autograder does, on a layout under `tmp` (run as
    root, the children run as `user`, as on Gradescope; None: as this process's user)."""
    root = tmp / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "source").symlink_to(source)
    config = json.loads((source / "course" / "autograder.json").read_text())
    config.update(parts=parts_, part_s=limits.part_s, memory_mb=limits.memory_mb, user=user)
    (root / "source.json").write_text(json.dumps(config))
    for path, text in files.items():
        (root / "submission" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / path).write_text(text)
    os.environ.pop("COURSE_SANDBOX_USER", None)
    out = gradescope.grade_here(str(root), config, sandbox.shared())
    (root / "results").mkdir(exist_ok=True)
    return out


def submission(tmp, sources: dict) -> dict:
    folder = tmp / "written"
    alternatives.write_submission(str(folder), sources)
    return {os.path.relpath(os.path.join(d, n), folder): open(os.path.join(d, n)).read()
            for d, _, names in os.walk(folder) for n in names}


def points(results: dict) -> dict:
    out = {}
    for t in results["tests"]:
        part = t["name"].split(" / ")[0]
        out[part] = out.get(part, 0) + t["score"]
    return out


def windows(path) -> set:
    """40-character pieces of every line of a file (whitespace collapsed)."""
    out = set()
    for line in open(path, encoding="utf-8").read().splitlines():
        line = " ".join(line.split())
        out |= {line[i:i + 40] for i in range(0, max(0, len(line) - 40), 20)}
    return out


def leaks(source, results: dict) -> list:
    """Pieces of the hidden formulas anywhere in the results, or of any hidden test where students see it now."""
    hidden = source / "course" / "hidden"
    shown = results["output"] + json.dumps([t for t in results["tests"] if t["visibility"] == "visible"])
    found = [w for w in windows(hidden / "formulas.py") if w in json.dumps(results)]
    for name in os.listdir(hidden):
        found += [w for w in windows(hidden / name) if w in shown]
    return found


def test_an_empty_submission_scores_zero(source, tmp_path):
    results = grade_layout(source, tmp_path, {})
    assert results["score"] == 0 and all(t["output"].startswith("no ") for t in results["tests"])


@pytest.mark.parametrize("round_", range(len(integrity.rounds())))
def test_each_cheat_scores_no_more_than_an_empty_submission(source, tmp_path, round_):
    cheats = integrity.rounds()[round_]
    results = grade_layout(source, tmp_path, submission(tmp_path, integrity.sources(cheats)), FAST, list(cheats))
    scored = {p: s for p, s in points(results).items() if s > 0}
    assert not scored, {p: (cheats[p].what, s) for p, s in scored.items()}
    assert not leaks(source, results), leaks(source, results)[:3]
    assert results["output"].count("\n") == len(cheats)          # a line a part, and the note on hidden tests


def test_a_leak_is_withheld_even_when_the_child_can_read_the_hidden_files(source, tmp_path):
    """Without the drop to `nobody` (a local grading as your own user), the cheat finds the formulas
    beside the grader's process: what it prints and raises is withheld."""
    files = submission(tmp_path, {"ddim_step": integrity.LEAK.replace("{name}", "ddim_step")})
    results = grade_layout(source, tmp_path, files, FAST, ["ddim"], user=None)
    outputs = {t["output"] for t in results["tests"]}
    assert outputs == {"(message withheld: it quoted the grader's files)"}, outputs
    assert not leaks(source, results)


def test_a_stopped_part_scores_zero_and_the_others_are_graded(source, tmp_path):
    files = {"ga_loss": integrity.ALLOCATE.replace("{name}", "ga_loss"), "esd_loss": alternatives.ESD_1,
             "ddim_step": integrity.OS_EXIT.replace("{name}", "ddim_step")}
    results = grade_layout(source, tmp_path, submission(tmp_path, files), LIMITS, ["ga", "esd", "ddim"])
    assert points(results) == pytest.approx({"ga": 0, "esd": 10, "ddim": 0}, abs=0.01)
    reasons = {t["name"].split(" / ")[0]: t["output"] for t in results["tests"]}
    assert reasons["ga"].startswith("stopped: your code asked for more than the 768 MB") and "sys.exit" in reasons["ddim"]


@pytest.mark.parametrize("round_", [0, pytest.param(1, marks=pytest.mark.slow)])    # round 1: `make test-all`, self-check
def test_correct_alternatives_get_full_marks(source, tmp_path, round_):
    results = grade_layout(source, tmp_path, submission(tmp_path, alternatives.by_round(round_)))
    failed = [f"{t['name']}: {t['output']}" for t in results["tests"] if t["score"] < t["max_score"]]
    assert not failed, failed


def test_the_childs_code_holds_no_test_and_no_grader():
    """The zygote and the children import only these modules of course/ (and the part's project tree)."""
    assert sorted(sandbox.CHILD_FILES) == ["course/__init__.py", "course/child.py", "course/models.py",
                                           "course/objects.py", "course/wire.py"]
    for path in sandbox.CHILD_FILES:
        text = open(os.path.join(parts.ROOT, path)).read()
        assert not re.search(r"^\s*(from|import) course\.(hidden|grading|gradescope|runner|testkit|feedback)", text, re.M), path


def test_every_part_has_two_alternatives_and_every_cheat_is_dealt():
    for part in PARTS:
        assert len([a for a in alternatives.ALTERNATIVES if a.part == part]) >= 2, part
    dealt = [c for r in integrity.rounds() for c in r.values()]
    assert sorted(c.what for c in dealt) == sorted(c.what for c in integrity.CHEATS)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="dropping to another user needs root")
def test_the_child_as_nobody_cannot_read_the_graders_files(tmp_path):
    """What run_autograder does on Gradescope: the child becomes `nobody`, who cannot read a 0700 folder."""
    from course.child import become
    secret = tmp_path / "source"
    secret.mkdir(mode=0o700)
    (secret / "formulas.py").write_text("hidden")
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chown(home, 65534, 65534)
    pid = os.fork()
    if pid == 0:
        try:
            become([65534, 65534], str(home))
            try:
                open(secret / "formulas.py").read()
                os._exit(1)
            except PermissionError:
                os._exit(0 if os.getuid() == 65534 else 2)
        finally:
            os._exit(3)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_the_config_fields_each_part_must_honour_are_tested():
    """Every setting a part's function takes (and every cfg.<field> its body reads) is set by name in one
    of the part's tests (course/public, course/hidden)."""
    data = {"model", "schedule", "x_f", "c_f", "x_r", "c_r", "x_alt", "c_alt", "x_t", "eps", "t", "s", "noise",
            "d_aux", "forget_class", "forget_batches", "cfg", "progress"}
    for part, entries in PARTS.items():
        tests = "".join(open(os.path.join(parts.ROOT, parts.test_file(part, k))).read() for k in parts.KINDS)
        for path, name in entries:
            text = open(os.path.join(parts.ROOT, path)).read()
            func = next(n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name == name)
            settings = [a.arg for a in func.args.args + func.args.kwonlyargs if a.arg not in data]
            settings += sorted(set(re.findall(r"\bcfg\.(\w+)", ast.get_source_segment(text, func))))
            if part in ("ddim",):                     # positional by design: ddim_step(schedule, x_t, eps, t, s, eta, clip, noise)
                settings = [f for f in settings if f not in ("eta", "clip")]
            missing = [f for f in settings if not re.search(rf"\b{f}\s*=", tests)]
            assert not missing, f"{part}: no test sets {missing} by name"

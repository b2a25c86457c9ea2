'''Cheating submissions: each must score no more than an empty submission (0), and leave no grader
file's text in the results. tests/test_course_integrity.py grades them on a fake /autograder layout;
self-check grades them too. Extend CHEATS when you find another way in.

Each cheat is one part's function doing the cheating and then returning nothing useful, so that any
point it scored would come from the cheat. They are grouped in rounds of one cheat a part (ROUNDS),
so one grading runs six of them; a part's cheat can only reach its own part's child.
'''
from dataclasses import dataclass

from course.parts import PARTS

ANCESTORS = '''
    def ancestors_cwd():
        """The working folders of this process's parent, grandparent, ... (the grader's among them)."""
        import os
        pid, out = os.getpid(), []
        for _ in range(8):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    pid = int(f.read().rsplit(")", 1)[1].split()[1])
                out.append(os.readlink(f"/proc/{pid}/cwd"))
            except (OSError, ValueError, IndexError):
                break
        return out
'''

RECORDER = '''def {name}(*args, **kwargs):
    """Replace every recorder, check and scorer the grader might have with one that says 'passed'."""
    import importlib
    import sys
    for module in ["course.feedback", "course.runner", "course.testkit", "course.grading", "course.gradescope",
                   "pytest", "_pytest.outcomes"] + [m for m in list(sys.modules) if m.startswith("course")]:
        try:
            found = importlib.import_module(module)
        except Exception:
            continue
        for attr in ("record_result", "run_one", "expect", "expect_close", "fail", "score", "send"):
            if hasattr(found, attr):
                setattr(found, attr, lambda *a, **k: {"ok": True, "passed": True})
    return None
'''

RESULTS = '''def {name}(*args, **kwargs):
    """Write a full-marks results.json where Gradescope reads it, and beside each ancestor's folder."""
    import json
    import os''' + ANCESTORS + '''    fake = json.dumps({"score": 60.0, "output": "all tests passed", "tests": []})
    places = ["/autograder/results"] + [os.path.join(os.path.dirname(cwd), "results") for cwd in ancestors_cwd()
                                          if os.path.basename(cwd) == "source"]
    for place in places:
        try:
            if os.path.isdir(place):
                with open(os.path.join(place, "results.json"), "w") as f:
                    f.write(fake)
        except OSError:
            pass
    return None
'''

SYS_EXIT = '''def {name}(*args, **kwargs):
    """End the process with exit code 0, as if every test had passed."""
    import sys
    sys.exit(0)
'''

OS_EXIT = '''def {name}(*args, **kwargs):
    """End the process at once with exit code 0 (no exception to catch)."""
    import os
    os._exit(0)
'''

LEAK = '''def {name}(*args, **kwargs):
    """Find the hidden tests' formulas beside an ancestor process, print them and raise them."""
    import os''' + ANCESTORS + '''    for cwd in ancestors_cwd() + ["/autograder/source"]:
        path = os.path.join(cwd, "course", "hidden", "formulas.py")
        if os.path.exists(path):
            with open(path) as f:
                text = f.read()
            print(text)
            raise RuntimeError(" ".join(text.split())[200:1200])
    raise RuntimeError("no hidden file found")
'''

IMPORT_REFERENCE = '''def {name}(*args, **kwargs):
    """Import a reference from anywhere in the copy: the hidden formulas, the instructor's catalogues,
    the exercises' answers, or the twin a copy would hold (attack.datafree.run, DiMUM's loss)."""
    import importlib
    for module, attr in [("course.hidden.formulas", "ga"), ("course.alternatives", "GA_1"), ("course.wrong", "WRONG"),
                         ("course.exercise_answers", "ANSWERS"), ("tests.test_unlearn", "reference"),
                         ("attack.datafree", "run"), ("attack.inversion", "run"), ("unlearn.dimum", "dimum_loss")]:
        try:
            found = getattr(importlib.import_module(module), attr)
            if callable(found):
                return found(*args, **kwargs)
        except Exception:
            continue
    return None
'''

ENDLESS = '''def {name}(*args, **kwargs):
    """Never return: the part's time limit must stop it."""
    while True:
        pass
'''

ALLOCATE = '''def {name}(*args, **kwargs):
    """Ask for 16 GB at once: the part's memory limit must stop it."""
    import torch
    return torch.ones(16 << 30, dtype=torch.uint8).sum()
'''

PRETEND = '''def {name}(*args, **kwargs):
    """Return an object that says it equals anything and converts to any number it is asked for."""
    class Anything(float):
        def __eq__(self, other):
            return True

        def __lt__(self, other):
            return True

        def __gt__(self, other):
            return True
    return Anything(0.0)
'''

PIPES = '''def {name}(*args, **kwargs):
    """Write forged answers and garbage to every file descriptor the process holds."""
    import json
    import os
    import struct
    forged = json.dumps({"ok": True, "value": None, "token": "", "op": "exited", "code": 0}).encode()
    for fd in range(3, 64):
        for data in (struct.pack(">Q", len(forged)) + forged, b"garbage" * 100):
            try:
                os.write(fd, data)
            except OSError:
                pass
    return None
'''


@dataclass(frozen=True)
class Cheat:
    what: str
    source: str          # the function's def, with {name} where the part's function name goes


CHEATS = [
    Cheat("replaces or monkeypatches the recorder and the checks", RECORDER),
    Cheat("writes a full-marks results.json directly", RESULTS),
    Cheat("calls sys.exit(0)", SYS_EXIT),
    Cheat("calls os._exit(0)", OS_EXIT),
    Cheat("reads a hidden file and leaks it through a print and an exception", LEAK),
    Cheat("imports a reference from anywhere in the copy", IMPORT_REFERENCE),
    Cheat("loops forever", ENDLESS),
    Cheat("allocates 16 GB", ALLOCATE),
    Cheat("returns an object that equals anything", PRETEND),
    Cheat("writes forged answers and garbage to the grader's pipes", PIPES),
]


def rounds() -> list[dict]:
    """The cheats dealt to the parts, one a part a round: [{part: cheat}, ...], every cheat once."""
    parts, out = list(PARTS), []
    for i, cheat in enumerate(CHEATS):
        if i % len(parts) == 0:
            out.append({})
        out[-1][parts[i % len(parts)]] = cheat
    return out


def sources(round_: dict) -> dict:
    """{function: def text} of a round: each part's functions all doing that part's cheat."""
    return {name: cheat.source.replace("{name}", name) for part, cheat in round_.items() for _, name in PARTS[part]}

"""The answer key of the notebook's exercises 1-3 (course/exercises.py reads it when it is there).

The instructor's: the student copy leaves it out, so that `check_exercise` there cannot tell a
student the answer. Each entry: (the expected outcome and where it comes from, the check).
"""


def _number_near(target: float, tol: float):
    def check(answer):
        ok = isinstance(answer, (int, float)) and abs(answer - target) <= tol
        return ok, f"expected {target:.2f} ± {tol:.2f}, got {answer!r}"
    return check


def _word(target: str):
    def check(answer):
        ok = isinstance(answer, str) and answer.strip().lower() == target
        return ok, f"expected {target!r}, got {answer!r}"
    return check


def _verdict_and_level(verdict: str, target: float, tol: float):
    def check(answer):
        if not isinstance(answer, dict) or {"verdict", "forget_acc_at_300"} - set(answer):
            return False, "hand in {'verdict': ..., 'forget_acc_at_300': ...}"
        if not isinstance(answer["forget_acc_at_300"], (int, float)):
            return False, f"forget_acc_at_300 must be a number in [0, 1], got {answer['forget_acc_at_300']!r}"
        ok = answer["verdict"] == verdict and abs(answer["forget_acc_at_300"] - target) <= tol
        return ok, (f"expected verdict {verdict!r} and forget_acc {target:.2f} ± {tol:.2f} at step 300, "
                    f"got {answer['verdict']!r} and {answer['forget_acc_at_300']:.2f}")
    return check


ANSWERS = {
    1: ("1.00 ± 0.05 (results/mnist5k-quick/table.md: 1.00 ± 0.00 over 3 seeds)", _number_near(1.0, 0.05)),
    2: ("'dimum' (the only loss with a minimum it can reach)", _word("dimum")),
    3: ("'reversed' and 0.59 ± 0.25 (results/mnist5k-quick/ablation.md, one seed: 0.33 at step 100, 0.59 at 300; "
        "Retrain 0.00; the tolerance allows for the seed spread one seed cannot show)",
        _verdict_and_level("reversed", 0.59, 0.25)),
}

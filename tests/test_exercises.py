"""The exercises' checks accept the right answers and reject wrong ones (course/exercises.py)."""
import pytest

from ddpm.diffusion import noised, simple_loss
from course.exercises import EXERCISES, check_exercise
from unlearn.salun import random_other_class
import torch.nn.functional as F


def rl_loss(model, schedule, x_f, c_f, x_r, c_r, alpha):
    """A correct random-labelling loss (exercise 4)."""
    c_other = random_other_class(c_f, 10)
    t, eps, x_t = noised(schedule, x_f)
    loss = F.mse_loss(model(x_t, t, c_other), eps)
    if alpha > 0:
        loss = loss + alpha * simple_loss(model, schedule, x_r, c_r)
    return loss


def rl_loss_under_f(model, schedule, x_f, c_f, x_r, c_r, alpha):
    """Wrong: learns the noise under f itself, which is plain fine-tuning on D_f, not unlearning."""
    random_other_class(c_f, 10)
    t, eps, x_t = noised(schedule, x_f)
    loss = F.mse_loss(model(x_t, t, c_f), eps)
    return loss + alpha * simple_loss(model, schedule, x_r, c_r) if alpha > 0 else loss


def rl_loss_without_retain(model, schedule, x_f, c_f, x_r, c_r, alpha):
    """Wrong: ignores alpha."""
    return rl_loss(model, schedule, x_f, c_f, x_r, c_r, 0.0)


@pytest.mark.parametrize("n,right,wrong", [
    (1, 1.0, 0.5), (2, "dimum", "salun"),
    (3, {"verdict": "reversed", "forget_acc_at_300": 0.6}, {"verdict": "resists", "forget_acc_at_300": 0.0}),
])
def test_reading_exercises(n, right, wrong, capsys):
    assert check_exercise(n, right) and not check_exercise(n, wrong)
    assert f"Exercise {n}: right" in capsys.readouterr().out


def test_an_answer_cell_left_empty_is_not_yet_right(capsys):
    """The notebook's answer cells hand in `...` until the student fills them in."""
    assert not check_exercise(1, ...) and not check_exercise(2, "...")
    assert not check_exercise(3, {"verdict": "...", "forget_acc_at_300": ...})
    assert capsys.readouterr().out.count("not yet") == 3


def test_the_implementation_exercise_checks_the_formula():
    answer = {"prediction": "reversed", "measured": "resists"}
    assert check_exercise(4, {**answer, "loss": rl_loss})
    assert not check_exercise(4, {**answer, "loss": rl_loss_under_f})
    assert not check_exercise(4, {**answer, "loss": rl_loss_without_retain})
    assert not check_exercise(4, {"loss": rl_loss})                 # no prediction written down


def test_every_exercise_states_what_a_student_needs():
    for ex in EXERCISES.values():
        assert ex.question and ex.start and ex.hand_in and ex.expected and ex.cpu
    with pytest.raises(KeyError):
        check_exercise(99, None)


def test_without_the_answer_key_an_answer_is_recorded_not_judged(monkeypatch, capsys):
    """The student copy has no course/exercise_answers.py: exercises 1-3 then give no answer away."""
    import importlib
    import sys
    from course import exercises
    monkeypatch.setitem(sys.modules, "course.exercise_answers", None)      # import fails, as in the copy
    try:
        copy = importlib.reload(exercises)
        assert not copy.check_exercise(1, 1.0) and not copy.check_exercise(2, "dimum")
        out = capsys.readouterr().out
        assert out.count("no answer key") == 2 and "0.59" not in out
        assert all("instructor" in copy.EXERCISES[n].expected for n in (1, 2, 3))
    finally:
        monkeypatch.undo()
        importlib.reload(exercises)

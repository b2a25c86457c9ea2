"""The notebook's exercises, each with a definite answer and a check a student can run.

    from course.exercises import EXERCISES, check_exercise
    check_exercise(1, 1.0)           # prints whether the answer is right, returns True / False

Each exercise says where to start in experiments.ipynb, what to hand in, and the CPU time it needs
on 2 cores. The answers of exercises 1-3 (the expected outcome, with a tolerance taken from the
committed results) live in course/exercise_answers.py, which the student copy leaves out: there
`check_exercise` records the answer for the instructor instead of judging it. Exercise 4 asks for
an implementation: its check runs the student's method against the formula on random inputs (the
formula is part of the question), and compares their prediction, written down before running, with
what the attack measured.
"""
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F


@dataclass
class Exercise:
    question: str
    start: str            # where in experiments.ipynb to start
    hand_in: str          # what to pass to check_exercise
    expected: str         # the expected outcome and where it comes from
    cpu: str              # CPU time on 2 cores
    check: Callable[[Any], tuple[bool, str]]


def _no_key(n: int):
    def check(answer):
        return False, f"this copy has no answer key for exercise {n}: hand in {answer!r} to your instructor"
    return check


def random_label_reference(model, schedule, x_f, c_f, x_r, c_r, alpha, c_other, t, eps, t_r, eps_r):
    """Exercise 4's formula, with every random draw given:
        L_RL(theta) = || eps - eps_theta(x_t, t, c') ||^2  +  alpha || eps_r - eps_theta(x_t^r, t_r, c_r) ||^2
    where x_t noises x_f (images of f) and c' != f is a random other class."""
    x_t = schedule.q_sample(x_f, t, eps)
    loss = F.mse_loss(model(x_t, t, c_other), eps)
    if alpha > 0:
        loss = loss + alpha * F.mse_loss(model(schedule.q_sample(x_r, t_r, eps_r), t_r, c_r), eps_r)
    return loss


def _random_label_method(answer):
    """answer = {'loss': the student's loss function, 'prediction': 'resists' | 'reversed' | 'undecided',
    'measured': the verdict their row got under DiMRA-retain}."""
    from ddpm.schedule import NoiseSchedule
    from ddpm.unet import UNet, UNetConfig
    if not isinstance(answer, dict) or {"loss", "prediction", "measured"} - set(answer):
        return False, "hand in {'loss': your_loss, 'prediction': ..., 'measured': ...}"
    torch.manual_seed(0)
    model = UNet(UNetConfig(image_size=8, in_channels=1, ch=8, ch_mult=(1, 2), num_res_blocks=1, groups=4))
    schedule = NoiseSchedule(T=50)
    g = torch.Generator().manual_seed(1)
    x_f, x_r = torch.rand(6, 1, 8, 8, generator=g) * 2 - 1, torch.rand(6, 1, 8, 8, generator=g) * 2 - 1
    c_f, c_r = torch.full((6,), 3), torch.randint(0, 10, (6,), generator=g)
    for alpha in (0.0, 1.0):
        torch.manual_seed(7)             # the student's loss draws c', then t, eps, then t_r, eps_r
        got = answer["loss"](model, schedule, x_f, c_f, x_r, c_r, alpha=alpha)
        torch.manual_seed(7)
        c_other = (c_f + torch.randint(1, 10, c_f.shape)) % 10
        t, eps = torch.randint(0, 50, (6,)), torch.randn_like(x_f)
        t_r, eps_r = torch.randint(0, 50, (6,)), torch.randn_like(x_r)
        want = random_label_reference(model, schedule, x_f, c_f, x_r, c_r, alpha, c_other, t, eps, t_r, eps_r)
        if not torch.allclose(got, want, atol=1e-5):
            return False, f"the loss differs from the formula at alpha={alpha}: {got.item():.5f} vs {want.item():.5f}"
    right = answer["prediction"] == answer["measured"]
    return True, (f"the loss matches the formula; your prediction {answer['prediction']!r} "
                  f"{'matches' if right else 'differs from'} the measured verdict {answer['measured']!r}"
                  + ("" if right else ": explain the difference in one sentence"))


EXERCISES = {
    1: Exercise(
        question="How far does DiMRA-retain bring GA back? Read GA's forget_acc after 100 attack steps.",
        start="section 4, the recovery curves (or results/mnist5k-quick/table.md)",
        hand_in="a number in [0, 1]", expected="", cpu="none beyond the notebook's run", check=_no_key(1)),
    2: Exercise(
        question="Which method's unlearning loss converges, so that training stops at a plateau instead of "
                 "after a fixed number of steps? Hand in its name as in unlearn/__init__.py.",
        start="section 3, the unlearning loss curves", hand_in="a method name", expected="", cpu="none", check=_no_key(2)),
    3: Exercise(
        question="A stronger attacker: run DiMRA-retain at lr 1e-3 (10x the default) for 300 steps against DiMUM "
                 "and against Retrain. Does DiMUM still resist, and where is its forget_acc at step 300?",
        start="the cell 'Exercise 3'",
        hand_in="{'verdict': your row's verdict against Retrain under the same attack, 'forget_acc_at_300': ...}",
        expected="", cpu="about 6 minutes", check=_no_key(3)),
    4: Exercise(
        question="Implement random labelling (RL) as a fifth method through the registry: under label c' != f "
                 "(uniformly random), learn the noise of images of f, plus alpha times the retain term "
                 "(see course.exercises.random_label_reference). Before running it, predict its verdict under "
                 "DiMRA-retain with alpha = 0, then run it and compare.",
        start="README 'Add your own method' and the cell 'Exercise 4'",
        hand_in="{'loss': your loss function (model, schedule, x_f, c_f, x_r, c_r, alpha), 'prediction': ..., "
                "'measured': ...}; draw c' first, then (t, eps) for x_f, then (t, eps) for x_r",
        expected="the loss equals the formula to 1e-5 on random inputs; the prediction is yours to explain",
        cpu="about 5 minutes (unlearning, evaluation and two attacks)", check=_random_label_method),
}


try:                                             # the instructor's answer key (left out of the student copy)
    from course.exercise_answers import ANSWERS
except ImportError:
    ANSWERS = {}
for _n, (_expected, _check) in ANSWERS.items():
    EXERCISES[_n].expected, EXERCISES[_n].check = _expected, _check
for _exercise in EXERCISES.values():
    _exercise.expected = _exercise.expected or "your instructor holds the expected outcome"


def check_exercise(n: int, answer) -> bool:
    """Print whether `answer` is right for exercise n, and why; return True / False."""
    if n not in EXERCISES:
        raise KeyError(f"no exercise {n}: there are {', '.join(map(str, EXERCISES))}")
    ok, why = EXERCISES[n].check(answer)
    print(f"Exercise {n}: {'right' if ok else 'not yet'} ({why})")
    return ok

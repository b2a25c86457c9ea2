"""Public tests of part ddim: ddim_step in ddpm/diffusion.py (Song et al. 2021, Eq. 12).

    x0^   = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
    sigma = eta * sqrt((1 - abar_s) / (1 - abar_t)) * sqrt(1 - abar_t / abar_s)
    x_s   = sqrt(abar_s) x0^ + sqrt(1 - abar_s - sigma^2) eps + sigma z            (abar_{-1} = 1)

Each `call` runs your ddim_step in a process of its own (course/testkit.py). The tests build x_t from a known x0 and noise eps (q_sample), so they know where a step must land.
"""
import torch

from course.testkit import call, expect, expect_close, images
from ddpm.diffusion import ddpm_step
from ddpm.schedule import NoiseSchedule


def forward(schedule, t: int, x0_scale: float = 0.9, seed: int = 0):
    """(x0, eps, x_t): clean images, their noise, and x_t = q_sample(x0, t, eps)."""
    x0 = images(4, seed=seed) * x0_scale
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed + 1))
    return x0, eps, schedule.q_sample(x0, torch.full((4,), t), eps)


def test_ddim_last_step_returns_the_clean_image():
    """From t to the end (s = -1, where abar_s = 1), with the true noise, the step returns x0."""
    schedule = NoiseSchedule(50)
    x0, eps, x_t = forward(schedule, 30)
    got = call("ddim_step", schedule, x_t, eps, 30, -1, 0.0, False, None).value
    expect_close(got, x0, "the last step (s = -1, abar_s = 1) must return x0^ = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)",
                 atol=1e-4)


def test_ddim_eta0_with_the_true_noise_stays_on_the_forward_trajectory():
    """eta = 0 from t to s with the true eps lands on q_sample(x0, s, eps) = sqrt(abar_s) x0 + sqrt(1 - abar_s) eps."""
    schedule = NoiseSchedule(50)
    x0, eps, x_t = forward(schedule, 40)
    got = call("ddim_step", schedule, x_t, eps, 40, 25, 0.0, False, None).value
    expect_close(got, schedule.q_sample(x0, torch.full((4,), 25), eps),
                 "with eta = 0 and the true eps, the step from t = 40 to s = 25 must land on "
                 "sqrt(abar_s) x0 + sqrt(1 - abar_s) eps (abar of s, not of t; no noise term)", atol=1e-4)


def test_ddim_eta1_on_consecutive_steps_is_the_ddpm_step():
    """eta = 1 from t to t - 1 is ancestral DDPM sampling: the same x_{t-1} as ddpm_step for the same z."""
    schedule = NoiseSchedule(50)
    for t in (1, 20, 49):
        for clip in (False, True):
            _, eps, x_t = forward(schedule, t, x0_scale=1.5 if clip else 0.9)
            z = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(t))
            got = call("ddim_step", schedule, x_t, eps, t, t - 1, 1.0, clip, z).value
            expect_close(got, ddpm_step(schedule, x_t, eps, t, clip, z),
                         f"eta = 1 from t = {t} to t - 1 (clip={clip}) must equal the DDPM step: "
                         "check sigma = eta sqrt((1 - abar_s)/(1 - abar_t)) sqrt(1 - abar_t/abar_s) and the sigma z term",
                         atol=1e-4)


def test_ddim_clip_keeps_the_predicted_image_in_range():
    """With clip, x0^ is clipped to [-1, 1]: the last step from an x_t whose x0 is out of range returns clamp(x0)."""
    schedule = NoiseSchedule(50)
    x0, eps, x_t = forward(schedule, 10, x0_scale=3.0)
    got = call("ddim_step", schedule, x_t, eps, 10, -1, 0.0, True, None).value
    expect_close(got, x0.clamp(-1, 1), "with clip=True the last step must return x0^ clipped to [-1, 1]", atol=1e-4)
    expect(isinstance(got, torch.Tensor) and got.shape == x_t.shape, "ddim_step must return a tensor shaped like x_t")

import numpy as np
import pytest
import torch

from attack.dimra import DiMRAConfig, attack_set, dimra
from ddpm.data import ImageData, load_splits
from ddpm.errors import UserError
from ddpm.schedule import NoiseSchedule
from metrics.evaluate import param_distance
from metrics.fid import frechet_distance
from tests.conftest import tiny_unet


class Spy(torch.nn.Module):
    """Wraps a UNet and records every label it is asked to denoise with."""

    def __init__(self, model):
        super().__init__()
        self.model, self.seen, self.null_class = model, [], model.null_class

    def forward(self, x, t, c):
        self.seen.append(c.clone())
        return self.model(x, t, c)


def test_attack_sets():
    aux = load_splits("mnist5k", image_size=16)["aux"]
    retain = attack_set(aux, 3, "retain", 0.1)
    assert len(retain) == 900 and not (retain.labels == 3).any()
    mixed = attack_set(aux, 3, "mixed", share=0.1)
    assert (mixed.labels == 3).sum() == 100 and len(mixed) == 1000
    assert (attack_set(aux, 3, "mixed", share=0.01).labels == 3).sum() == 9
    with pytest.raises(UserError, match="out of range"):
        attack_set(aux, 10, "retain", 0.1)
    with pytest.raises(UserError, match="lower the share"):
        attack_set(aux, 3, "mixed", share=0.5)


def test_dimra_config_refuses_bad_values():
    for bad, match in [(dict(steps=0), "--steps 0"), (dict(lr=-1.0), "--lr -1.0"), (dict(eval_every=0), "--eval-every"),
                       (dict(aux="all"), "--aux 'all'"), (dict(share=1.0), "--share 1.0")]:
        with pytest.raises(UserError, match=match):
            DiMRAConfig(**bad)


def test_dimra_retain_never_reads_the_forgotten_class():
    aux = load_splits("mnist5k", image_size=8)["aux"]
    d_aux = attack_set(aux, 4, "retain", 0.1)
    spy, s = Spy(tiny_unet()), NoiseSchedule(50)
    dimra(spy, s, d_aux, 4, DiMRAConfig(steps=20, batch_size=32), progress=False)
    seen = torch.cat(spy.seen)
    assert len(seen) == 20 * 32 and not (seen == 4).any()
    assert (seen == 10).any()                     # label dropout to the null class, as in pre-training


def test_dimra_refuses_a_retain_set_with_the_class():
    aux = load_splits("mnist5k", image_size=8)["aux"]
    with pytest.raises(UserError, match="holds images of class 4"):
        dimra(tiny_unet(), NoiseSchedule(50), attack_set(aux, 4, "mixed", 0.1), 4, DiMRAConfig(aux="retain"),
              progress=False)


def test_dimra_records_the_recovery_curve():
    data = ImageData(torch.zeros(20, 1, 8, 8, dtype=torch.uint8), torch.arange(20) % 9 + 1)
    calls = []
    res = dimra(tiny_unet(), NoiseSchedule(50), data, 0, DiMRAConfig(steps=10, eval_every=4, batch_size=4),
                measure=lambda m: calls.append(1) or float(len(calls)), progress=False)
    assert res["curve"]["step"] == [0, 4, 8, 10] and len(res["loss"]) == 10
    assert res["curve"]["forget_acc"] == [1.0, 2.0, 3.0, 4.0]


def test_measuring_does_not_change_the_attack():
    """The recovery curve only watches: measuring at every step, only at the end, or taking step 0's
    value from the caller (as reproduce.py does) leaves the losses and the attacked weights the same."""
    data = ImageData(torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8), torch.arange(40) % 9 + 1)

    def attack(eval_every, start=None):
        torch.manual_seed(0)
        model, calls = tiny_unet(), []

        def measure(m):              # samples from its own generator, as metrics.evaluate.generate does
            calls.append(1)
            with torch.no_grad():
                x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
                return float(m(x, torch.zeros(4, dtype=torch.long), torch.zeros(4, dtype=torch.long)).mean())
        res = dimra(model, NoiseSchedule(50), data, 0, DiMRAConfig(steps=6, eval_every=eval_every, batch_size=8),
                    measure=measure, progress=False, start=start)
        return res, model.state_dict(), len(calls)

    every, w_every, n_every = attack(1)
    end, w_end, n_end = attack(6)
    given, w_given, n_given = attack(6, start=every["curve"]["forget_acc"][0])
    assert (n_every, n_end, n_given) == (7, 2, 1)
    assert every["loss"] == end["loss"] == given["loss"]
    for k in w_every:
        assert torch.equal(w_every[k], w_end[k]) and torch.equal(w_every[k], w_given[k])
    assert end["curve"] == given["curve"] == {"step": [0, 6], "forget_acc": [every["curve"]["forget_acc"][0],
                                                                             every["curve"]["forget_acc"][-1]]}


def test_frechet_distance_matches_torchmetrics():
    """Same statistics, torchmetrics' FID formula (eigenvalues of S_1 S_2, in float64)."""
    from torchmetrics.image.fid import _compute_fid
    rng = np.random.default_rng(0)
    for d in (1, 8, 64):
        a, b = rng.normal(size=(500, d)), rng.normal(0.3, 1.5, size=(400, d)) @ rng.normal(size=(d, d))
        mu1, s1 = a.mean(0), np.atleast_2d(np.cov(a, rowvar=False))
        mu2, s2 = b.mean(0), np.atleast_2d(np.cov(b, rowvar=False))
        ref = _compute_fid(*(torch.from_numpy(v) for v in (mu1, s1, mu2, s2))).item()
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-6)


def test_frechet_distance_closed_forms():
    # same Gaussian: 0; shifted mean only: ||mu1 - mu2||^2; 1-d: (m1-m2)^2 + (s1-s2)^2
    s = np.diag([1.0, 2.0, 3.0])
    assert frechet_distance(np.zeros(3), s, np.zeros(3), s) == pytest.approx(0, abs=1e-8)
    assert frechet_distance(np.zeros(3), s, np.ones(3), s) == pytest.approx(3.0)
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]])) == \
        pytest.approx(4 + 1)


def test_param_distance():
    model = tiny_unet()
    theta0 = {k: v.clone() for k, v in model.state_dict().items()}
    assert param_distance(model, theta0) == 0
    with torch.no_grad():
        model.conv_in.bias.add_(torch.full_like(model.conv_in.bias, 0.5))
    assert param_distance(model, theta0) == pytest.approx(0.5 * model.conv_in.bias.numel() ** 0.5)

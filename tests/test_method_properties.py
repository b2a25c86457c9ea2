"""Each method's defining property, and the labels the UNet actually sees in every entry point.

These tests fail on plausible one-line bugs: a saliency mask that keeps the smallest gradients,
a SalUn target without its stop-gradient, a frozen ESD model that receives gradients, a DiMUM loss
that does not reach its minimum, pre-training or DiMRA that stop dropping labels to the null class
(classifier-free guidance), or unlearning that starts dropping them.
"""
import copy

import pytest
import torch
import torch.nn.functional as F

from attack.dimra import DiMRAConfig, dimra
from ddpm.data import ImageData
from ddpm.diffusion import noised, simple_loss
from ddpm.schedule import NoiseSchedule
from ddpm.train_loop import Plateau, fit
from ddpm.unet import UNet
from lab.presets import make_config
from lab.pretrain import pretrain
from tests.conftest import tiny_unet
from unlearn import METHODS
from unlearn.dimum import dimum_loss
from unlearn.esd import esd_loss
from unlearn.run import make_settings, unlearn
from unlearn.salun import saliency_mask, salun_loss


def images(n, seed=0, size=8):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=g) * 2 - 1


def tiny_train(size=8):
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat_interleave(8)
    return ImageData(torch.randint(0, 256, (80, 1, size, size), generator=g, dtype=torch.uint8), labels)


# ----------------------------------------------------------------------------- SalUn
def test_saliency_mask_keeps_the_largest_gradients():
    model, s = tiny_unet(), NoiseSchedule(50)
    x, c = images(8), torch.full((8,), 3)
    torch.manual_seed(0)
    masks = saliency_mask(model, s, iter(lambda: (x, c), None), 0.3, n_batches=2)
    torch.manual_seed(0)                     # the same draws again: the gradient the mask was built from
    model.zero_grad()
    for _ in range(2):
        (simple_loss(model, s, x, c) / 2).backward()
    grads = torch.cat([p.grad.abs().flatten() for p in model.parameters()])
    kept = torch.cat([masks[n].flatten() for n, _ in model.named_parameters()]).bool()
    assert grads[kept].min() >= grads[~kept].max()
    assert kept.sum() == round(0.3 * len(kept))


def test_salun_target_carries_no_gradient():
    """The gradient of the SalUn loss equals that of || eps(x_t, t, f) - sg[eps(x_t, t, c')] ||^2."""
    model, s = tiny_unet(), NoiseSchedule(50)
    x_f, c_f = images(6), torch.full((6,), 2)
    torch.manual_seed(4)
    salun_loss(model, s, x_f, c_f, None, None, alpha=0.0, num_classes=10).backward()
    got = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    torch.manual_seed(4)
    t, _, x_t = noised(s, x_f)
    c_other = (c_f + torch.randint(1, 10, c_f.shape)) % 10
    F.mse_loss(model(x_t, t, c_f), model(x_t, t, c_other).detach()).backward()
    for a, b in zip(got, (p.grad for p in model.parameters())):
        assert torch.allclose(a, b, atol=1e-6)


# ----------------------------------------------------------------------------- ESD
def test_esd_gradient_flows_only_through_the_models_f_branch(monkeypatch):
    model, s = tiny_unet(), NoiseSchedule(50)
    frozen = copy.deepcopy(model).eval().requires_grad_(False)
    seen = []
    forward = UNet.forward

    def spy(self, x, t, c):
        if self is model:
            seen.append(c.clone())
        return forward(self, x, t, c)
    monkeypatch.setattr(UNet, "forward", spy)
    x_f, c_f = images(6), torch.full((6,), 5)
    loss = esd_loss(model, s, x_f, c_f, None, None, alpha=0.0, frozen=frozen, neg_guidance=1.0)
    loss.backward()
    assert len(seen) == 1 and (seen[0] == 5).all()          # one pass of the trained model, under f only
    assert all(p.grad is None for p in frozen.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_esd_target_is_negative_guidance_away_from_f():
    """With neg_guidance 0 the target is the frozen model's unconditional prediction; the loss is 0
    when the trained model predicts exactly that under f."""
    model, s = tiny_unet(), NoiseSchedule(50)
    frozen = copy.deepcopy(model).eval().requires_grad_(False)

    class Unconditional(torch.nn.Module):          # predicts eps_0(x, t, null) whatever the label
        null_class = 10

        def forward(self, x, t, c):
            return frozen(x, t, torch.full_like(c, 10))
    torch.manual_seed(1)
    loss = esd_loss(Unconditional(), s, images(4), torch.full((4,), 1), None, None, alpha=0.0, frozen=frozen,
                    neg_guidance=0.0)
    assert loss.item() == pytest.approx(0.0, abs=1e-10)


# ----------------------------------------------------------------------------- DiMUM
def test_dimum_loss_is_l_simple_on_the_alternative_set_and_reaches_its_minimum():
    """DiMUM's loss converges: memorising one alternative image drives it far below its start, and
    the plateau rule then stops the loop."""
    torch.manual_seed(0)
    model, s = tiny_unet(), NoiseSchedule(50)
    x_alt, c_alt = images(1).repeat(16, 1, 1, 1), torch.full((16,), 0)
    torch.manual_seed(3)
    a = dimum_loss(model, s, x_alt, c_alt, None, None, alpha=0.0)
    torch.manual_seed(3)
    assert torch.equal(a, simple_loss(model, s, x_alt, c_alt))
    hist = fit(model, lambda: dimum_loss(model, s, x_alt, c_alt, None, None, alpha=0.0), 600, 3e-3,
               plateau=Plateau(window=50, rel_tol=0.02, min_steps=100), progress=False)
    first, last = sum(hist["loss"][:20]) / 20, sum(hist["loss"][-20:]) / 20
    assert last < 0.3 * first
    assert hist["stopped"] == "plateau"


# ----------------------------------------------------------------------------- labels per entry point
class LabelSpy:
    """Records the labels of every forward pass of the UNet under training."""

    def __init__(self, monkeypatch, only=None):
        self.seen, forward, spy_self = [], UNet.forward, self

        def spy(model, x, t, c):
            if (only is None or model is only) and torch.is_grad_enabled():
                spy_self.seen.append(c.detach().clone())
            return forward(model, x, t, c)
        monkeypatch.setattr(UNet, "forward", spy)

    def null_share(self, null=10) -> float:
        labels = torch.cat(self.seen)
        return (labels == null).float().mean().item()


def test_pretraining_drops_labels_to_the_null_class(monkeypatch, tmp_path):
    spy = LabelSpy(monkeypatch)
    cfg = make_config("mnist5k-quick", steps=30, batch_size=32, ch=8, ch_mult=(1, 2), groups=4,
                      sample_every=10 ** 6, ckpt_every=10 ** 6, image_size=8)
    pretrain(cfg, str(tmp_path / "d.pt"), progress=False)
    assert len(torch.cat(spy.seen)) == 30 * 32
    assert abs(spy.null_share() - cfg.p_uncond) < 0.04       # binomial sd at n = 960 is 0.01


def test_dimra_drops_labels_like_pretraining(monkeypatch):
    model = tiny_unet()
    spy = LabelSpy(monkeypatch, only=model)
    data = ImageData(torch.zeros(40, 1, 8, 8, dtype=torch.uint8), torch.arange(40) % 9 + 1)
    dimra(model, NoiseSchedule(50), data, 0, DiMRAConfig(steps=30, batch_size=32, eval_every=30), progress=False)
    assert abs(spy.null_share() - DiMRAConfig.p_uncond) < 0.04


@pytest.mark.parametrize("method", list(METHODS))
def test_unlearning_never_drops_labels(method, monkeypatch):
    """Unlearning losses are conditional: the trained UNet sees class labels, never the null class."""
    model = tiny_unet()
    spy = LabelSpy(monkeypatch, only=model)
    unlearn(model, NoiseSchedule(50), tiny_train(), method,
            make_settings(method, forget_class=2, steps=3, batch_size=8), progress=False)
    assert spy.seen and spy.null_share() == 0.0

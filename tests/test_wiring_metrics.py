"""Each metric's samples carry the label it scores (metrics/evaluate.py, metrics/unconditional.py).

Two views of the same property:
  * a label-writing sampler replaces DDIM inside `generate`: every image it returns is a flat tone that
    encodes the label it was asked for, and a label-reading judge decodes it. A metric that judges each
    image against the label it was generated with then scores exactly 1 (or 0, where the right answer
    is "never f"), whatever the labels are; one that samples label f + 1, or judges against shifted,
    reordered or other labels, does not. The sampler also records which labels it was given.
  * with the real tiny UNet: the labels the UNet's forward pass sees (conditional half of each
    classifier-free-guidance batch), and the images the judge is asked about are the ones `generate`
    makes from those labels.
"""
import pytest
import torch
from torch import nn

import attack.datafree as datafree
import metrics.evaluate as evaluate
from attack.datafree import own_samples
from ddpm.data import ImageData, to_float
from ddpm.schedule import NoiseSchedule
from ddpm.unet import UNet
from metrics.evaluate import SampleSettings, forget_acc, generate, retain_labels, retain_metrics
from metrics.unconditional import unconditional_share
from tests.conftest import tiny_unet

NULL = 10                       # the null label (K = 10 classes)
SETTINGS = SampleSettings(steps=2, guidance=1.5, batch_size=4)


def tone(labels: torch.Tensor) -> torch.Tensor:
    """Flat 8 x 8 images whose grey level encodes the label (0..10): the middle of 11 equal bins of [-1, 1]."""
    return (-1 + 2 * (labels.float() + 0.5) / 11).view(-1, 1, 1, 1).expand(-1, 1, 8, 8).clone()


class LabelWritingSampler:
    """Stands in for ddim_sample: returns tone(labels) and records each call's labels, steps and guidance."""

    def __init__(self):
        self.calls = []

    def __call__(self, model, schedule, labels, steps, guidance, generator=None, **kwargs):
        self.calls.append((labels.clone(), steps, guidance))
        return tone(labels)

    def labels(self) -> torch.Tensor:
        return torch.cat([c[0] for c in self.calls])


class LabelReadingJudge(nn.Module):
    """Reads the label back from a tone image (11 classes: the null label too); records what it is asked."""

    def __init__(self):
        super().__init__()
        self.dummy, self.asked, self.featured = nn.Parameter(torch.zeros(1)), [], []

    def read(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.mean((1, 2, 3)) + 1) / 2 * 11).floor().long().clamp(0, 10)

    def forward(self, x):
        self.asked.append(x.clone())
        return nn.functional.one_hot(self.read(x), 11).float() + self.dummy

    def features(self, x):
        self.featured.append(x.clone())
        return x.flatten(1)[:, :3] + torch.linspace(0, 1, len(x))[:, None]


class SaysAlways(LabelReadingJudge):
    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def read(self, x):
        return torch.full((len(x),), self.k)


@pytest.fixture
def sampler(monkeypatch):
    fake = LabelWritingSampler()
    monkeypatch.setattr(evaluate, "ddim_sample", fake)
    return fake


REAL = ImageData(torch.randint(0, 256, (20, 1, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8),
                 torch.arange(10).repeat(2))


@pytest.mark.parametrize("f", [0, 3, 9])
def test_forget_acc_samples_label_f_and_judges_against_f(sampler, f):
    judge = LabelReadingJudge()
    acc = forget_acc(tiny_unet(), NoiseSchedule(50), judge, f, 6, SETTINGS, seed=0)
    assert sampler.labels().tolist() == [f] * 6
    assert [(len(c), steps, w) for c, steps, w in sampler.calls] == [(4, 2, 1.5), (2, 2, 1.5)]
    assert acc == 1.0                                     # each image was judged against the label it was drawn with
    assert torch.equal(torch.cat(judge.asked), tone(torch.full((6,), f)))
    assert forget_acc(tiny_unet(), NoiseSchedule(50), SaysAlways((f + 1) % 10), f, 6, SETTINGS) == 0.0


@pytest.mark.parametrize("f", [0, 4, None])
def test_retain_metrics_sample_each_retained_class_with_its_own_label(sampler, f):
    judge = LabelReadingJudge()
    out = retain_metrics(tiny_unet(), NoiseSchedule(50), judge, f, REAL, 3, SETTINGS, seed=0)
    labels = sampler.labels()
    kept = [k for k in range(10) if k != f]
    assert sorted(labels.tolist()) == sorted(kept * 3)   # every retained class, 3 times, never f
    assert out["retain_acc"] == 1.0                       # and each image judged against its own label
    assert torch.equal(torch.cat(judge.asked), tone(labels))
    assert torch.equal(judge.featured[0], tone(labels))   # cFID compares these very samples ...
    real_kept = REAL.images[REAL.labels != f] if f is not None else REAL.images
    assert torch.equal(judge.featured[1], to_float(real_kept))   # ... with the real retained images
    if f is not None:
        assert retain_metrics(tiny_unet(), NoiseSchedule(50), SaysAlways(f), f, REAL, 3, SETTINGS)["retain_acc"] == 0.0


def test_the_unconditional_share_samples_the_null_label_unguided_and_scores_f(sampler):
    judge = LabelReadingJudge()
    assert unconditional_share(tiny_unet(), NoiseSchedule(50), judge, 3, 6, SETTINGS) == 0.0    # reads NULL, not f
    assert sampler.labels().tolist() == [NULL] * 6
    assert all(w == 0.0 and steps == 2 for _, steps, w in sampler.calls)
    assert unconditional_share(tiny_unet(), NoiseSchedule(50), SaysAlways(3), 3, 6, SETTINGS) == 1.0


def test_data_free_samples_keep_the_label_they_were_drawn_with(sampler, monkeypatch):
    monkeypatch.setattr(datafree, "ddim_sample", sampler)        # it samples as `generate` does, not through it
    data = own_samples(tiny_unet(), NoiseSchedule(50), 2, 12, SETTINGS, seed=0)
    assert torch.equal(data.labels, sampler.labels())
    assert 2 not in data.labels.tolist() and len(data) == 12
    assert torch.equal(LabelReadingJudge().read(to_float(data.images)), data.labels)


class ForwardSpy:
    """Records the labels of every UNet forward pass (the conditional half of a guided batch)."""

    def __init__(self, monkeypatch):
        self.conditional, forward = [], UNet.forward

        def spy(model, x, t, c):
            self.conditional.append(c[:len(c) // 2].clone())
            return forward(model, x, t, c)
        monkeypatch.setattr(UNet, "forward", spy)


class Recorder(LabelReadingJudge):
    def read(self, x):
        return torch.zeros(len(x), dtype=torch.long)


def test_the_unet_sees_label_f_and_the_judge_sees_its_samples(monkeypatch):
    model, schedule = tiny_unet(), NoiseSchedule(50)
    expected = generate(model, schedule, torch.full((6,), 3), SETTINGS, seed=5)
    spy, judge = ForwardSpy(monkeypatch), Recorder()
    forget_acc(model, schedule, judge, 3, 6, SETTINGS, seed=5)
    assert torch.cat(spy.conditional).unique().tolist() == [3]
    assert [len(c) for c in spy.conditional] == [4, 4, 2, 2]           # 2 DDIM steps, batches of 4 and 2
    assert torch.equal(torch.cat(judge.asked), expected)


def test_the_unet_sees_each_retained_label_in_the_order_judged(monkeypatch):
    model, schedule = tiny_unet(), NoiseSchedule(50)
    settings = SampleSettings(steps=1, guidance=1.5, batch_size=100)   # one batch, one pass
    labels = retain_labels(4, 2)
    expected = generate(model, schedule, labels, settings, seed=1)
    spy, judge = ForwardSpy(monkeypatch), Recorder()
    out = retain_metrics(model, schedule, judge, 4, REAL, 2, settings, seed=1)
    assert torch.equal(torch.cat(spy.conditional), labels)
    assert torch.equal(torch.cat(judge.asked), expected)
    assert out["retain_acc"] == pytest.approx((labels == 0).float().mean().item())   # the judge says 0

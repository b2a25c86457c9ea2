"""Tests written to kill mutants that survived mutation testing (docs/testing.md).

Each test names, in its docstring, the wrong formula or wrong setting it rejects: a one-line change
of the source that the rest of the suite let through. All of them run on tiny models or hand-made
numbers (CPU, well under a second each).
"""
import pytest
import torch
from torch import nn

import attack.dimra as dimra_module
from attack.dimra import DiMRAConfig, attack_set, dimra
from ddpm.data import ImageData, to_float
from ddpm.diffusion import ddim_sample, guided_eps, simple_loss
from ddpm.errors import UserError
from ddpm.schedule import NoiseSchedule, cosine_betas
from metrics.evaluate import (NonFiniteSamples, SampleSettings, check_finite, forget_acc, retain_labels,
                              retain_metrics)
from metrics.fid import fid_from_features
from harness.decisions import decisions, verdict_cell
from tests.conftest import tiny_unet
from unlearn.dimum import alternative_set, parse_alt
from unlearn.esd import esd_loss
from unlearn.ga import ga_loss
from unlearn.run import make_settings, unlearn
from unlearn.salun import saliency_mask


def images(n, seed=0, size=8):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=g) * 2 - 1


def tiny_train(per_class=8, size=8):
    """80 random uint8 images, 8 of each of the 10 classes."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat_interleave(per_class)
    return ImageData(torch.randint(0, 256, (10 * per_class, 1, size, size), generator=g, dtype=torch.uint8), labels)


# ----------------------------------------------------------------------------- ddpm/schedule.py
def test_cosine_schedule_clips_beta_at_0_999():
    """Nichol & Dhariwal clip beta_t at 0.999. Rejects a missing or different clip (max_beta = 1.999): the
    last beta is then 1 - abar(T) / abar(T-1) = 1, since abar(T) = cos^2(pi / 2) = 0."""
    betas = cosine_betas(50)
    assert betas[-1].item() == pytest.approx(0.999, abs=1e-12)
    assert betas.max().item() == pytest.approx(0.999, abs=1e-12)
    assert (betas[:-1] < 0.999).all()           # only the singular last step is clipped
    assert NoiseSchedule(50, "cosine").betas[-1].item() == pytest.approx(0.999)


# ----------------------------------------------------------------------------- ddpm/diffusion.py
def test_guidance_scale_one_uses_both_predictions():
    """w = 1: eps~ = 2 eps(c) - eps(null). Rejects a shortcut taken at w = 1 instead of w = 0
    (`if scale == 1: return model(x_t, t, c)`), which the tests at w = 0 and w = 2 cannot see."""
    model = tiny_unet().eval()
    x, t, c = torch.randn(4, 1, 8, 8), torch.tensor([1, 5, 20, 40]), torch.tensor([0, 1, 2, 3])
    null = torch.full_like(c, model.null_class)
    expected = 2 * model(x, t, c) - model(x, t, null)
    assert torch.allclose(guided_eps(model, x, t, c, 1.0), expected, atol=1e-5)
    assert not torch.allclose(expected, model(x, t, c), atol=1e-3)     # the two predictions differ here


# ----------------------------------------------------------------------------- unlearn/ga.py, esd.py, salun.py
def test_ga_without_retain_term_never_evaluates_the_retain_batch():
    """alpha = 0 is plain gradient ascent: L = -L_simple(D_f). Rejects `if alpha >= 0`, which adds
    0 * L_simple(D_r) (an extra forward pass and extra random draws; NaN if that term is not finite)."""
    model, s = tiny_unet(), NoiseSchedule(50)
    x_f, c_f = images(4), torch.full((4,), 2)
    torch.manual_seed(3)
    got = ga_loss(model, s, x_f, c_f, None, None, alpha=0.0)      # no retain batch at all
    torch.manual_seed(3)
    assert torch.equal(got, -simple_loss(model, s, x_f, c_f))


def test_esd_retain_term_is_added_with_weight_alpha():
    """L_ESD + alpha * L_simple(D_r) for 0 < alpha < 1. Rejects `alpha > 1` as the condition (the retain
    term silently dropped for alpha <= 1) and `loss - alpha * L_simple(D_r)`: the ESD tests only use alpha = 0."""
    model, s = tiny_unet(), NoiseSchedule(50)
    frozen = tiny_unet(seed=1).eval().requires_grad_(False)
    x_f, c_f, x_r, c_r = images(4), torch.full((4,), 1), images(4, seed=1), torch.tensor([2, 3, 4, 5])
    torch.manual_seed(11)
    got = esd_loss(model, s, x_f, c_f, x_r, c_r, alpha=0.5, frozen=frozen, neg_guidance=1.0)
    torch.manual_seed(11)                  # the same draws: first the forget term, then the retain term
    forget_term = esd_loss(model, s, x_f, c_f, None, None, alpha=0.0, frozen=frozen, neg_guidance=1.0)
    retain_term = simple_loss(model, s, x_r, c_r)
    assert torch.allclose(got, forget_term + 0.5 * retain_term, atol=1e-6)


def test_salun_through_the_shared_loop_moves_only_the_salient_weights():
    """unlearn(..., 'salun') must hand SalUn's saliency mask to the training loop. Rejects
    `Plan(..., grad_mask=None)` in salun.setup: then every weight moves, and SalUn is random labelling."""
    model, s = tiny_unet(), NoiseSchedule(50)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    settings = make_settings("salun", forget_class=2, steps=2, batch_size=4, fraction=0.25)
    unlearn(model, s, tiny_train(), "salun", settings, progress=False)
    total = sum(p.numel() for p in model.parameters())
    unchanged = sum((p == before[n]).sum().item() for n, p in model.named_parameters())
    assert unchanged >= total - round(0.25 * total)          # at most 25 % of the weights moved
    assert unchanged < total                                 # and some did


def test_salun_fraction_is_in_0_excluded_1_included():
    """--fraction is in (0, 1]: 1 (every weight salient) is allowed, more than 1 is not. Rejects
    `0 < fraction < 1` and `fraction <= 2` as the check."""
    assert make_settings("salun", forget_class=0, fraction=1.0).fraction == 1.0
    with pytest.raises(UserError, match="--fraction"):
        make_settings("salun", forget_class=0, fraction=1.5)


def test_saliency_mask_averages_ten_forget_batches_by_default():
    """The mask is built from the gradient of L_simple over 10 batches of D_f. Rejects another default
    number of batches (n_batches = 11), which the tests, passing n_batches explicitly, cannot see."""
    model, s = tiny_unet(), NoiseSchedule(50)
    x, c, drawn = images(2), torch.full((2,), 3), []

    def stream():
        while True:
            drawn.append(1)
            yield x, c
    saliency_mask(model, s, stream(), 0.5)
    assert len(drawn) == 10


# ----------------------------------------------------------------------------- unlearn/dimum.py
def test_checker_pattern_is_a_4_by_4_board_of_0_and_255():
    """pattern:checker is a uint8 4 x 4 checkerboard (cells of size // 4 pixels), labelled f. Rejects any
    change of the board formula (cell size, parity, 255), which no other test looks at."""
    for size in (8, 28):
        cell = size // 4
        board = torch.tensor([[255 * ((i // cell + j // cell) % 2) for j in range(size)] for i in range(size)],
                             dtype=torch.uint8)
        alt = alternative_set("pattern:checker", tiny_train(size=size), forget_class=2)
        assert alt.images.dtype == torch.uint8 and alt.images.shape == (1, 1, size, size)
        assert torch.equal(alt.images[0, 0], board)
        assert alt.labels.tolist() == [2]
    blank = alternative_set("pattern:blank", tiny_train(), forget_class=2)
    assert blank.images.dtype == torch.uint8            # uint8 like every ImageData, not float zeros


def test_alternative_spec_boundaries():
    """class:K takes any K in 0..9 other than f, fixed:K:N needs N >= 1 and exactly three parts; both give
    ('class', K, N or None). Rejects `0 < k`, `k <= num_classes`, `n < 2`, `or` for `and` in the spec parser,
    a misspelt kind, and fixed:K:N read as class N."""
    assert parse_alt("class:0", 5) == ("class", 0, None)
    assert parse_alt("class:9", 5) == ("class", 9, None)
    assert parse_alt("fixed:1:1", 5) == ("class", 1, 1)
    assert parse_alt("fixed:1:3", 5) == ("class", 1, 3)         # K is the class, N the count
    for bad in ("class:10", "class:-1", "fixed:1:0", "fixed:1", "class:1:2", "fixed:1:2:3"):
        with pytest.raises(UserError):
            parse_alt(bad, 5)


def test_fixed_alternative_images_are_the_same_for_a_seed():
    """fixed:K:N picks N images of class K with a generator seeded by `seed`. Rejects an unseeded pick
    (generator=None): the alternative set, and so the unlearned model, would change from run to run."""
    train = tiny_train()
    a = alternative_set("fixed:1:3", train, 2, seed=0)
    b = alternative_set("fixed:1:3", train, 2, seed=0)
    c = alternative_set("fixed:1:3", train, 2, seed=1)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)


def test_dimum_trains_on_the_alternative_set_of_its_settings(monkeypatch):
    """DiMUM's loss is L_simple on D_alt = {(x_alt, f)}, D_alt built from the run's spec and seed. Rejects
    `alternative_set(s.alt, data.train, s.seed)` (the seed taken for f: D_alt labelled 0, and f never
    trained) and a dropped seed (fixed:K:N would pick seed 0's images whatever --seed says)."""
    import unlearn.dimum as dimum_module
    built = []

    class SpyBatches(dimum_module.Batches):
        def __init__(self, data, *args, **kwargs):
            built.append(data)
            super().__init__(data, *args, **kwargs)
    monkeypatch.setattr(dimum_module, "Batches", SpyBatches)
    train = tiny_train()
    settings = make_settings("dimum", forget_class=2, steps=1, batch_size=4, alt="fixed:1:3", seed=1)
    unlearn(tiny_unet(), NoiseSchedule(50), train, "dimum", settings, progress=False)
    expected = alternative_set("fixed:1:3", train, 2, seed=1)
    assert len(built) == 1
    assert torch.equal(built[0].images, expected.images) and built[0].labels.tolist() == [2, 2, 2]


# ----------------------------------------------------------------------------- attack/dimra.py
def test_dimra_config_boundaries():
    """Each setting's allowed range, at its edges. Rejects `>` for `>=` (and back) in DiMRAConfig's checks,
    and a misspelt 'mixed'."""
    DiMRAConfig(aux="mixed", share=0.0, steps=1, batch_size=1, p_uncond=0.0, eval_every=1, seed=0)
    assert DiMRAConfig(steps=5).to_dict()["steps"] == 5          # what reproduce.py records with a result
    for bad in (dict(lr=0.0), dict(grad_clip=0.0), dict(p_uncond=1.0), dict(share=-0.1), dict(batch_size=0),
                dict(seed=-1), dict(p_uncond=-0.1)):
        with pytest.raises(UserError):
            DiMRAConfig(**bad)


def test_mixed_attack_set_is_the_same_for_a_seed():
    """The forgotten-class images of a 'mixed' D_aux are drawn with a seeded generator. Rejects an unseeded
    draw (generator=None), which the counts-only test cannot see."""
    aux = ImageData(torch.arange(200, dtype=torch.uint8).view(200, 1, 1, 1).expand(200, 1, 4, 4).clone(),
                    torch.arange(200) % 10)
    a, b = attack_set(aux, 3, "mixed", 0.1, seed=0), attack_set(aux, 3, "mixed", 0.1, seed=0)
    assert torch.equal(a.images, b.images)
    assert (a.labels == 3).sum() == round(0.1 * 180 / 0.9)
    assert not torch.equal(a.images, attack_set(aux, 3, "mixed", 0.1, seed=1).images)


def test_dimra_trains_with_its_own_settings(monkeypatch):
    """DiMRA fine-tunes for cfg.steps at cfg.lr with gradient clipping cfg.grad_clip, on batches seeded with
    cfg.seed. Rejects dropping any of them on the way (e.g. grad_clip=None: no clipping, or fit's default 1.0;
    the batch seed dropped: Batches' default 0, the same for every --seed)."""
    seen = {}

    def spy_fit(model, loss_fn, steps, lr, **kw):
        seen.update(steps=steps, lr=lr, grad_clip=kw.get("grad_clip", "fit's default"))
        return {"loss": [], "stopped": None}
    monkeypatch.setattr(dimra_module, "fit", spy_fit)
    batch_seeds = []

    class SpyBatches(dimra_module.Batches):
        def __init__(self, data, batch_size, seed=0, **kwargs):
            batch_seeds.append(seed)
            super().__init__(data, batch_size, seed=seed, **kwargs)
    monkeypatch.setattr(dimra_module, "Batches", SpyBatches)
    data = ImageData(torch.zeros(8, 1, 8, 8, dtype=torch.uint8), torch.arange(8) % 4 + 1)
    res = dimra(tiny_unet(), NoiseSchedule(50), data, 0, DiMRAConfig(steps=7, lr=3e-4, grad_clip=0.5, seed=3),
                progress=False)
    assert seen == {"steps": 7, "lr": 3e-4, "grad_clip": 0.5}
    assert batch_seeds == [3]                     # D_aux's batch order follows --seed
    assert res["diverged"] is False


def test_dimra_reports_a_diverged_attack():
    """A loss that is not finite stops the attack and sets 'diverged'. Rejects a lost or inverted flag
    (`hist['stopped'] != 'nonfinite'`, a misspelt key or value): report.py would then score a diverged model."""
    class Exploding(nn.Module):
        def __init__(self):
            super().__init__()
            self.net, self.null_class = tiny_unet(), 10

        def forward(self, x, t, c):
            return self.net(x, t, c) * float("inf")
    data = ImageData(torch.zeros(8, 1, 8, 8, dtype=torch.uint8), torch.arange(8) % 4 + 1)
    model = Exploding()
    res = dimra(model, NoiseSchedule(50), data, 0, DiMRAConfig(steps=3, batch_size=4),
                measure=lambda m: 0.5 if m is model else -1.0, progress=False)      # measures the attacked model
    assert res["diverged"] is True
    assert res["curve"] == {"step": [0], "forget_acc": [0.5]} and res["loss"] == []


# ----------------------------------------------------------------------------- metrics/evaluate.py
class ConstJudge(nn.Module):
    """A judge that calls every image class `k`; its features are the first 3 pixels."""

    def __init__(self, k):
        super().__init__()
        self.k, self.dummy = k, nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return nn.functional.one_hot(torch.full((len(x),), self.k), 10).float() + self.dummy

    def features(self, x):
        return x.flatten(1)[:, :3]


def test_check_finite_counts_the_bad_images():
    """NaN/inf samples raise NonFiniteSamples naming how many *images* are bad. Rejects counting pixels
    (flatten/any over the wrong dimension), counting the finite images, or raising on finite samples."""
    x = torch.zeros(5, 1, 4, 4)
    assert check_finite(x) is x
    x[1, 0, 0, 0] = x[1, 0, 2, 3] = float("nan")
    x[3, 0, 1, 1] = float("inf")
    with pytest.raises(NonFiniteSamples, match="2 of 5 generated images"):
        check_finite(x)


def test_retain_labels_are_every_other_class_n_times():
    """retain_acc samples n images of every class except f (all 10 classes when f is None)."""
    assert retain_labels(3, 2).tolist() == [0, 0, 1, 1, 2, 2, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]
    assert retain_labels(None, 1).tolist() == list(range(10))


def test_sample_settings_of_a_ddpm_config():
    """The evaluation sampler takes ddim_steps and guidance from the DDPM config, not swapped or dropped."""
    cfg = type("Cfg", (), {"ddim_steps": 7, "guidance": 1.5})()
    s = SampleSettings.of(cfg)
    assert (s.steps, s.guidance) == (7, 1.5)


def test_forget_acc_judges_n_samples_labelled_f():
    """forget_acc = the judge's accuracy on n samples generated with label f. Rejects other labels or
    sample counts: a judge that always answers f scores 1, one that answers another class 0."""
    model, s = tiny_unet(), NoiseSchedule(50)
    settings = SampleSettings(steps=2, guidance=0.0, batch_size=4)
    assert forget_acc(model, s, ConstJudge(3), 3, 6, settings) == 1.0
    assert forget_acc(model, s, ConstJudge(4), 3, 6, settings) == 0.0


def test_retain_metrics_use_only_the_retained_classes():
    """retain_acc over n samples of each class but f, and cFID against the real images of those classes
    only. Rejects keeping f's real images (or only them), sampling other labels, or a broken f = None case."""
    model, s = tiny_unet(), NoiseSchedule(50)
    settings = SampleSettings(steps=2, guidance=0.0, batch_size=500)      # one batch, one draw of x_T
    real = tiny_train(per_class=4)
    out = retain_metrics(model, s, ConstJudge(0), 3, real, 2, settings, seed=5)
    assert out["retain_acc"] == pytest.approx(2 / 18)        # the judge says 0: right for 2 of 18 samples
    g = torch.Generator().manual_seed(5)
    x = ddim_sample(model.eval(), s, retain_labels(3, 2), steps=2, guidance=0.0, generator=g)
    real_x = to_float(real.images[real.labels != 3])
    assert out["cfid"] == pytest.approx(fid_from_features(x.flatten(1)[:, :3], real_x.flatten(1)[:, :3]), rel=1e-6)
    # f = None (the pre-trained model's row): every class is sampled and every real image kept.
    everything = retain_metrics(model, s, ConstJudge(0), None, real, 1, settings, seed=5)
    assert everything["retain_acc"] == pytest.approx(0.1)


def test_metrics_sample_with_the_seed_they_are_given(monkeypatch):
    """forget_acc and retain_metrics draw their samples with `seed` (default 0): the same model, seed and
    settings give the same number. Rejects a seed that is dropped on the way to generate() or another default."""
    import metrics.evaluate as evaluate
    seeds, generate = [], evaluate.generate

    def spy(model, schedule, labels, s, seed=0):
        seeds.append(seed)
        return generate(model, schedule, labels, s, seed)
    monkeypatch.setattr(evaluate, "generate", spy)
    model, s, settings = tiny_unet(), NoiseSchedule(50), SampleSettings(steps=1, guidance=0.0)
    forget_acc(model, s, ConstJudge(3), 3, 2, settings)
    forget_acc(model, s, ConstJudge(3), 3, 2, settings, seed=7)
    retain_metrics(model, s, ConstJudge(0), 3, tiny_train(per_class=2), 1, settings)
    retain_metrics(model, s, ConstJudge(0), 3, tiny_train(per_class=2), 1, settings, seed=9)
    assert seeds == [0, 7, 0, 9]


# ----------------------------------------------------------------------------- harness/decisions.py
def _attack(accs, **extra):
    return {"curve": {"step": [0, 50, 100], "forget_acc": accs, "forget_acc_knn": accs},
            "attack": {"steps": 100}, **extra}


def test_a_row_is_decided_against_retrain_under_the_same_attack():
    """decisions(rows, row, attack) compares the row with Retrain's rows under that attack, by both
    judges; Retrain's own cell, a row never attacked that way, and a Retrain never attacked are empty;
    diverged attacks and seeds without that attack are left out."""
    zero = [0.0, 0.0, 0.0]
    rows = {"retrain": {0: {"dimra_retain": _attack(zero)}, 1: {"dimra_retain": _attack(zero)}},
            "ga": {0: {"dimra_retain": _attack([0.0, 0.9, 1.0])}, 1: {"dimra_retain": _attack([0.0, 0.8, 1.0])},
                   2: {"dimra_retain": _attack(zero, diverged="x")}, 3: {}},
            "esd": {0: {"dimra_retain": _attack(zero)}},
            "salun": {0: {"dimra_mixed": _attack([1.0, 1.0, 1.0])}}}
    assert decisions(rows, "retrain", "dimra_retain", 100, 100) == {}
    ga = decisions(rows, "ga", "dimra_retain", 100, 100)
    assert set(ga) == {"CNN", "kNN"} and ga["CNN"].verdict == "reversed" and ga["CNN"].seeds == 2
    assert decisions(rows, "esd", "dimra_retain", 100, 100)["CNN"].verdict == "resists"
    assert decisions(rows, "salun", "dimra_retain", 100, 100) == {}
    assert decisions(rows, "salun", "dimra_mixed", 100, 100) == {}


def test_a_cell_never_gives_one_word_when_the_judges_disagree():
    rows = {"retrain": {0: {"a": _attack([0.0, 0.0, 0.0])}},
            "x": {0: {"a": {**_attack([0.0, 0.0, 0.0]), "curve": {"step": [0, 50, 100], "forget_acc": [0.0] * 3,
                                                                   "forget_acc_knn": [0.0, 0.9, 0.9]}}}}}
    cell = verdict_cell(decisions(rows, "x", "a", 100, 100))
    assert cell.startswith("⚑ judges disagree (CNN resists, kNN reversed)") and "[" in cell


def test_dimum_alternative_batches_follow_the_runs_seed(monkeypatch):
    """DiMUM's D_alt batches are drawn with the run's seed (+2, after D_f's +0 and D_r's +1): dropping the
    seed would make the batch order the same for every --seed."""
    import unlearn.dimum as dimum
    seen, real = [], dimum.Batches

    def spy(data, batch_size, seed=0, device="cpu"):
        seen.append(seed)
        return real(data, batch_size, seed=seed, device=device)
    monkeypatch.setattr(dimum, "Batches", spy)
    unlearn(tiny_unet(), NoiseSchedule(50), tiny_train(), "dimum",
            make_settings("dimum", forget_class=2, steps=1, batch_size=4, seed=5), progress=False)
    assert seen == [7]


def test_linear_schedule_rescales_both_ends_for_other_T():
    """beta runs from 1e-4 * 1000/T to 0.02 * 1000/T: at T = 100, 1e-3 to 0.2 (a mutant that divides the
    end by the scale is invisible at T = 1000, where the scale is 1)."""
    from ddpm.schedule import linear_betas
    b = linear_betas(100)
    assert b[0].item() == pytest.approx(1e-3) and b[-1].item() == pytest.approx(0.2)


def test_the_schedule_defaults_to_the_ddpm_papers_T():
    assert NoiseSchedule().T == 1000 and len(NoiseSchedule().betas) == 1000

"""The controls of issue 25: label dropout during unlearning (every method), SalUn as its released code
runs it (the retain term summed over pixels, the mask from the guided loss), what a judge reads a
model's samples of f as (DiMUM's memorisation), and the rows --controls adds."""
import pytest
import torch

from ddpm.diffusion import simple_loss
from ddpm.errors import UserError
from ddpm.schedule import NoiseSchedule
from harness.pipeline import Pipeline
from harness.research.memorisation import memorisation_curve, plateau_stop
from harness.run import choose_rows
from harness.settings import ABLATION, CONTROLS, SALUN_RELEASED, SMOKE, Settings
from lab.hardware import precision_region
from metrics.evaluate import read_as
from tests.conftest import tiny_unet
from tests.test_reproduce import in_copy, smoke_run  # noqa: F401 (fixtures)
from tests.test_unlearn import batch, draw, mse
from unlearn.dimum import dimum_loss
from unlearn.esd import esd_loss
from unlearn.ga import ga_loss
from unlearn.run import make_settings
from unlearn.salun import saliency_mask, salun_loss

NULL = 10


class LabelSpy:
    """Records the labels a model's class embedding is called with (one list per forward pass)."""

    def __init__(self, model):
        self.calls = []
        model.class_emb.register_forward_hook(lambda mod, args, out: self.calls.append(args[0].clone()))


def losses(model, s, x_f, f, x_r, c_r, p):
    """Each method's loss at label dropout p, with a retain term (alpha = 1)."""
    frozen = tiny_unet(seed=1).eval().requires_grad_(False)
    return {"ga": lambda: ga_loss(model, s, x_f, f, x_r, c_r, alpha=1.0, p_uncond=p),
            "esd": lambda: esd_loss(model, s, x_f, f, x_r, c_r, alpha=1.0, frozen=frozen, neg_guidance=1.0, p_uncond=p),
            "salun": lambda: salun_loss(model, s, x_f, f, x_r, c_r, alpha=1.0, num_classes=10, p_uncond=p),
            "dimum": lambda: dimum_loss(model, s, x_f, f, x_r, c_r, alpha=1.0, p_uncond=p)}


@pytest.mark.parametrize("method", ["ga", "esd", "salun", "dimum"])
def test_label_dropout_reaches_every_label_the_trained_model_is_given_and_no_target(method):
    """p_uncond = 1: every label the trained model is conditioned on is the null label; SalUn's target
    (no gradient) is still computed under a real class c' != f. p_uncond = 0: no null label anywhere."""
    model, s, (x_f, f, x_r, c_r) = tiny_unet(), NoiseSchedule(50), batch()
    spy = LabelSpy(model)
    losses(model, s, x_f, f, x_r, c_r, 1.0)[method]()
    trained = [c for c in spy.calls if not (method == "salun" and c is spy.calls[0])]   # SalUn's 1st call: the target
    assert trained and all((c == NULL).all() for c in trained)
    if method == "salun":
        assert ((spy.calls[0] != NULL) & (spy.calls[0] != 0)).all()
    spy.calls.clear()
    losses(model, s, x_f, f, x_r, c_r, 0.0)[method]()
    assert not any((c == NULL).any() for c in spy.calls)


def test_esd_target_ignores_label_dropout():
    """With every label dropped, ESD still trains eps_theta(x_t, t, null) towards the target built from f."""
    model, s, (x_f, f, x_r, c_r) = tiny_unet(), NoiseSchedule(50), batch()
    frozen = tiny_unet(seed=1).eval().requires_grad_(False)
    torch.manual_seed(7)
    got = esd_loss(model, s, x_f, f, x_r, c_r, alpha=0.0, frozen=frozen, neg_guidance=2.0, p_uncond=1.0)
    torch.manual_seed(7)
    t, _, xt = draw(s, x_f)
    null = torch.full_like(f, NULL)
    target = frozen(xt, t, null) - 2.0 * (frozen(xt, t, f) - frozen(xt, t, null))
    assert torch.allclose(got, mse(model(xt, t, null), target), atol=1e-5)


@pytest.mark.parametrize("channels", [1, 3])
def test_salun_retain_sum_is_the_per_image_pixel_sum(channels):
    """retain_sum: alpha * (C*H*W) * L_simple(D_r), the released code's sum over pixels and channels, mean
    over images: on 3-channel images (CIFAR-10) the factor is 3 * 8 * 8 = 192, not H*W = 64."""
    model, s, (x_f, f, x_r, c_r) = tiny_unet(in_channels=channels), NoiseSchedule(50), batch()
    x_f, x_r = x_f.repeat(1, channels, 1, 1), x_r.repeat(1, channels, 1, 1)
    torch.manual_seed(3)
    forget = salun_loss(model, s, x_f, f, x_r, c_r, alpha=0.0, num_classes=10)
    t, eps, xt = draw(s, x_r)
    retain_sum = ((eps - model(xt, t, c_r)) ** 2).sum(dim=(1, 2, 3)).mean()
    torch.manual_seed(3)
    got = salun_loss(model, s, x_f, f, x_r, c_r, alpha=1e-3, num_classes=10, retain_sum=True)
    assert torch.allclose(got, forget + 1e-3 * retain_sum, atol=1e-6)
    torch.manual_seed(3)
    mean = salun_loss(model, s, x_f, f, x_r, c_r, alpha=1e-3, num_classes=10)
    assert torch.allclose(got - forget, channels * 64 * (mean - forget), rtol=1e-4)


def test_the_mask_of_the_guided_loss_ranks_its_gradient():
    """mask_guidance w: the mask keeps the top |grad| of || eps - ((1 + w) eps(f) - w eps(null)) ||^2."""
    model, s, (x_f, f, _, _) = tiny_unet(), NoiseSchedule(50), batch()
    torch.manual_seed(5)
    masks = saliency_mask(model, s, iter(lambda: (x_f, f), None), 0.3, guidance=2.0, n_batches=1)
    torch.manual_seed(5)
    t, eps, xt = draw(s, x_f)
    guided = 3.0 * model(xt, t, f) - 2.0 * model(xt, t, torch.full_like(f, NULL))
    mse(guided, eps).backward()
    scores = torch.cat([p.grad.abs().flatten() for p in model.parameters()])
    keep = torch.zeros_like(scores)
    keep[torch.topk(scores, round(0.3 * len(scores))).indices] = 1
    assert torch.equal(torch.cat([m.flatten() for m in masks.values()]), keep)
    torch.manual_seed(5)
    plain = saliency_mask(model, s, iter(lambda: (x_f, f), None), 0.3, n_batches=1)
    assert any(not torch.equal(plain[k], masks[k]) for k in masks)          # w = 0 is another mask


def test_guidance_zero_gives_the_mask_of_l_simple():
    model, s, (x_f, f, _, _) = tiny_unet(), NoiseSchedule(50), batch()
    torch.manual_seed(5)
    masks = saliency_mask(model, s, iter(lambda: (x_f, f), None), 0.3, n_batches=1)
    torch.manual_seed(5)
    simple_loss(model, s, x_f, f).backward()
    scores = torch.cat([p.grad.abs().flatten() for p in model.parameters()])
    keep = torch.zeros_like(scores)
    keep[torch.topk(scores, round(0.3 * len(scores))).indices] = 1
    assert torch.equal(torch.cat([m.flatten() for m in masks.values()]), keep)


@pytest.mark.parametrize("overrides,expect", [
    (dict(p_uncond=1.0), "--p-uncond 1.0 must be in [0, 1)"),
    (dict(p_uncond=-0.1), "--p-uncond -0.1"),
    (dict(retain_reduction="max"), "--retain-reduction 'max'"),
    (dict(mask_guidance=-1.0), "--mask-guidance -1.0 must be >= 0"),
])
def test_bad_control_settings_are_refused(overrides, expect):
    with pytest.raises(UserError, match=expect.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        make_settings("salun", forget_class=0, **overrides)


def test_salun_released_is_a_valid_salun_with_the_released_numbers():
    s = make_settings("salun", forget_class=0, **SALUN_RELEASED)
    assert (s.alpha, s.retain_reduction, s.steps, s.batch_size, s.p_uncond, s.mask_guidance) == (
        1e-3, "sum", 1000, 128, 0.1, 2.0)


def test_read_as_counts_each_class():
    assert read_as(torch.tensor([1, 1, 3, 9, 1])) == [0, 3, 0, 1, 0, 0, 0, 0, 0, 1]


def test_controls_add_every_method_at_its_other_alpha_to_the_headline_rows():
    rows, ablation = choose_rows(controls=True, control=True)
    names = [v.name for v in rows]
    assert names[:7] == ["pretrained", "retrain", "hidden-emb", "ga", "esd", "salun", "dimum"] and not ablation
    assert "hidden-emb" not in [v.name for v in choose_rows(controls=True)[0]]   # the hiding control: with control
    alphas = {v.method: v.unlearn["alpha"] for v in CONTROLS}
    defaults = {m: make_settings(m, forget_class=0).alpha for m in alphas}
    assert alphas == {"esd": 1.0, "salun": 0.0, "dimum": 0.0} and all(alphas[m] != defaults[m] for m in alphas)
    assert all(v.attacks is None for v in rows[1:])          # every control gets every attack of the run
    same = {v.name: v.unlearn for v in ABLATION}
    assert all(same[v.name] == v.unlearn for v in CONTROLS)  # the ablation's rows of the same name: same models
    with pytest.raises(UserError, match="two tables"):
        choose_rows(ablation=True, controls=True)


@pytest.mark.slow
def test_the_memorisation_curve_is_the_dimum_row_up_to_its_stop(in_copy):
    """Measuring during DiMUM's training draws nothing from its random streams: the curve's last point
    (after the smoke budget) reads exactly the samples the pipeline's DiMUM row was scored on."""
    pipe = Pipeline(Settings(smoke=True, seeds=(0,), progress=False), torch.device("cpu"))
    pipe.prepare()
    row = pipe.evaluate(next(v for v in choose_rows("dimum")[0] if v.name == "dimum"), 0)
    steps = SMOKE["unlearn_steps"]
    with precision_region(pipe.s.precision, "cpu"):
        curve = memorisation_curve(pipe, 0, steps, every=steps, progress=False)
    n = SMOKE["n_forget"]
    assert curve["step"] == [0, steps] and curve["loss"] == row["unlearn_loss"]
    assert curve["forget"][-1] == row["forget_acc"] and curve["forget_knn"][-1] == row["forget_acc_knn"]
    assert curve["alt"][-1] == row["forget_read_as"][curve["alt_class"]] / n
    assert plateau_stop([1.0] * 199 + [1.0]) == 200 and plateau_stop([1.0] * 150) is None


def test_the_memorisation_script_refuses_a_bad_budget_in_one_line(capsys):
    from harness.research.memorisation import main
    from tests.conftest import error_lines
    assert main(["--smoke", "--steps", "0"]) == 2
    err = capsys.readouterr().err
    assert "--steps and --every must be at least 1" in err and len(error_lines(err)) == 1


def test_a_later_setting_enters_the_models_key_only_away_from_its_default():
    """Stages cached before p_uncond, mask_guidance and retain_reduction existed computed their defaults:
    at the default the key is the old one (the field left out); any other value changes the key."""
    from harness.settings import Variant
    from types import SimpleNamespace
    fake = SimpleNamespace(model_ids={None: "base"}, data_ids={"train": "train"}, precision={},
                           settings=lambda v, seed: make_settings(v.method, forget_class=0, seed=seed, **v.unlearn))
    key = lambda **u: Pipeline.model_inputs(fake, Variant("x", "salun", u), 0)["unlearn"]   # noqa: E731
    assert not {"p_uncond", "mask_guidance", "retain_reduction"} & set(key())
    assert key(p_uncond=0.1)["p_uncond"] == 0.1 and key(retain_reduction="sum")["retain_reduction"] == "sum"
    assert key(mask_guidance=2.0)["mask_guidance"] == 2.0 and key(fraction=0.3) != key()

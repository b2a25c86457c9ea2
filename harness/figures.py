"""The figures of a run: the recovery curves, the unlearning losses and the forgotten class's samples.
Each plot_* function takes plain data (rows, names, the forget class) and writes a PNG, or returns the
figure when `path` is None (the notebook shows it)."""
import os

import matplotlib.pyplot as plt   # picks the Agg backend by itself on a machine without a display
import torch

from .rows import REFERENCES, attack_label, attacked, color, label

def _save(fig, path):
    """Write the figure to `path` and close it; with path None return it (a notebook shows it)."""
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


def plot_forget_samples(grid_folder, names, path, f, image_size, seed):
    """Row 1 of each saved grid (10 samples of class f): after unlearning and after each attack."""
    stages = [("unlearned", "after unlearning"), ("dimra-retain", "after DiMRA-retain"),
              ("dimra-mixed", "after DiMRA-mixed")]
    size = image_size + 2      # one image and its 1 px padding on each side
    fig, axes = plt.subplots(len(names), 3, figsize=(9, 0.75 * len(names) + 0.6), squeeze=False)
    for i, name in enumerate(names):
        for j, (stage, title) in enumerate(stages):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            file = os.path.join(grid_folder, f"{name}-{stage}.png")
            if os.path.exists(file):
                ax.imshow(plt.imread(file)[:size], cmap="gray")
            else:
                ax.text(0.5, 0.5, "not attacked", ha="center", va="center", transform=ax.transAxes)
            if i == 0:
                ax.set_title(title)
            if j == 0:
                ax.set_ylabel(label(name), rotation=0, ha="right", va="center")
    fig.suptitle(f"Samples of the forgotten class {f} (seed {seed})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_recovery(rows, names, path, f, attacks=None):
    """forget_acc (CNN judge) along each attack, mean ± sd over the seeds, one panel per attack
    (written to `path`, or returned when path is None). `attacks`: the row keys to draw (default:
    every attack the rows hold)."""
    attacks = attacks or sorted({k for n in names for r in rows[n].values() for k, v in r.items()
                                 if isinstance(v, dict) and "curve" in v}, key=lambda k: (not k.startswith("dimra"), k))
    fig, axes = plt.subplots(1, max(len(attacks), 1), figsize=(5.5 * max(len(attacks), 1), 4), sharey=True,
                             squeeze=False)
    n_seeds = 1
    for ax, attack in zip(axes[0], attacks):
        for name in names:
            runs = attacked(list(rows[name].values()), attack)
            if not runs:
                continue
            n_seeds = max(n_seeds, len(runs))
            steps = runs[0]["curve"]["step"]
            accs = torch.tensor([r["curve"]["forget_acc"] for r in runs])
            m, sd = accs.mean(0), (accs.std(0) if len(runs) > 1 else torch.zeros(len(steps)))
            ls = "--" if name in REFERENCES else "-"
            ax.plot(steps, m, ls, marker="o", ms=3, color=color(name), label=label(name))
            ax.fill_between(steps, m - sd, m + sd, color=color(name), alpha=0.15)
        ax.set_title(attack_label(attack))
        ax.set_xlabel("attack step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"forget_acc (judge accuracy on class-{f} samples)")
    axes[0][-1].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Recovery of the forgotten class {f} under each attack (mean ± sd over {n_seeds} seed(s))")
    return _save(fig, path)


def plot_losses(rows, names, path):
    """The unlearning loss of every method and seed: does it converge (DiMUM) or not (GA, ESD, SalUn)?"""
    methods = [n for n in names if any("unlearn_loss" in r for r in rows[n].values())]
    fig, axes = plt.subplots(1, max(len(methods), 1), figsize=(3.2 * max(len(methods), 1), 3.2), squeeze=False)
    for ax, name in zip(axes[0], methods):
        for seed, r in rows[name].items():
            ax.plot(r["unlearn_loss"], color=color(name), alpha=0.6, lw=0.8, label=f"seed {seed}")
        ax.set_title(f"{label(name)} unlearning loss")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("loss")
    if methods:
        axes[0][-1].legend(fontsize=7)
    return _save(fig, path)

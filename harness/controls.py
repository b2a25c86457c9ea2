"""The hiding control of inversion and the unconditional branch: theta_0 with f's usual path cut.

    E'[f] = m + s * z,   z ~ N(0, I),   m, s: the mean and standard deviation of the other class rows

Every weight of theta_0 is kept but row f of the class embedding, which is redrawn like a class the
model never learned. f is still in the weights (the unconditional branch draws it as often as
theta_0 does; a conditioning vector that reaches it exists, E[f] itself), only label f no longer
leads there. An attack that cannot bring f back out of this model cannot tell "removed" from
"hidden behind the label" (harness/settings.py HIDING_CONTROL; docs/design.md).
"""
import torch


@torch.no_grad()
def hide_class_embedding(model, forget_class: int, seed: int):
    """Redraw row f of model.class_emb in place (seeded); returns the model."""
    weight = model.class_emb.weight
    others = torch.cat([weight[:forget_class], weight[forget_class + 1:-1]])     # rows of the other classes
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(weight.shape[1], generator=g).to(weight)
    weight[forget_class] = others.mean(0) + others.std() * z
    return model

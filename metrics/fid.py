"""Frechet distance between two Gaussians fitted to image features (Heusel et al. 2017):

    d^2 = || mu_1 - mu_2 ||^2 + Tr( S_1 + S_2 - 2 (S_1 S_2)^{1/2} )

With Inception-v3 pool features this is FID. Inception-v3 weights are downloaded from the
internet, which the project's own machines cannot do, and they mean little on 16 px digits; so
by default the features are the judge's penultimate layer and the number is called **cFID**
(lower is better, comparable only between runs that use the same judge checkpoint).
"""
import warnings

import numpy as np
import torch
from scipy import linalg

from ddpm.errors import UserError


def gaussian_stats(features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    f = features.double().cpu().numpy()
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """d^2 above. sqrtm of S_1 S_2 is taken with scipy; a near-singular product gets eps * I added
    to both covariances, and the tiny imaginary part numerical error leaves is dropped."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    with warnings.catch_warnings():      # judge features after a ReLU can make S_1 S_2 singular
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(sigma1)) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


@torch.no_grad()
def judge_features(judge, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    device = next(judge.parameters()).device
    judge.eval()
    return torch.cat([judge.features(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def inception_features(x: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
    """2048-d pool features of torchvision's Inception-v3, if its weights are already in the torch
    hub cache (they are never downloaded here). Raises UserError otherwise."""
    import torchvision
    from torchvision.models import Inception_V3_Weights
    weights = Inception_V3_Weights.IMAGENET1K_V1
    import os
    cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
    if not os.path.exists(cached):
        raise UserError(f"Inception-v3 weights are not at {cached}: download them once with internet "
                        f"access, or use --fid-features judge (cFID)")
    net = torchvision.models.inception_v3(weights=weights, aux_logits=True).eval()
    net.fc = torch.nn.Identity()
    out = []
    for i in range(0, len(x), batch_size):
        b = x[i:i + batch_size]
        b = b.repeat(1, 3, 1, 1) if b.shape[1] == 1 else b
        b = torch.nn.functional.interpolate((b + 1) / 2, size=(299, 299), mode="bilinear", align_corners=False)
        b = torchvision.transforms.functional.normalize(b, weights.transforms().mean, weights.transforms().std)
        with torch.no_grad():
            out.append(net(b))
    return torch.cat(out)


def fid_from_features(f_gen: torch.Tensor, f_real: torch.Tensor) -> float:
    return frechet_distance(*gaussian_stats(f_gen), *gaussian_stats(f_real))

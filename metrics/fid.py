"""Frechet distance between two Gaussians fitted to image features (Heusel et al. 2017):

    d^2 = || mu_1 - mu_2 ||^2 + Tr( S_1 + S_2 - 2 (S_1 S_2)^{1/2} )

With Inception-v3 pool features this is FID. Inception-v3 weights are downloaded from the
internet, which the project's own machines cannot do, and they mean little on 16 px digits; so
the features here are the judge's penultimate layer and the number is called **cFID** (lower is
better, comparable only between runs that use the same judge checkpoint). Inception FID is not
implemented: `frechet_distance` takes any features, so adding it means adding their extractor.
"""
import warnings

import numpy as np
import torch
from scipy import linalg

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


def fid_from_features(f_gen: torch.Tensor, f_real: torch.Tensor) -> float:
    return frechet_distance(*gaussian_stats(f_gen), *gaussian_stats(f_real))

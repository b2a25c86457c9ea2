"""bf16 on the CPU (reproduce.py --bf16): one autocast region spans the whole run, so it must see
every weight update, and the judge must measure in float32 inside it."""
import torch
from torch import nn

from ddpm.data import ImageData
from lab.hardware import precision_region
from metrics.judge import Judge
from metrics.knn import KNNJudge


def test_training_in_a_bf16_region_follows_its_own_updates():
    """With autocast's weight cache on (its default), every step after the first would reuse the
    first step's bf16 copies of the weights, and the loss would not fall (this test then fails)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.SiLU(), nn.Linear(32, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.randn(64, 8)
    y = x[:, :1] * 2
    with precision_region("bf16"):
        losses = []
        for _ in range(60):
            loss = nn.functional.mse_loss(model(x).float(), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    assert all(p.dtype == torch.float32 for p in model.parameters())    # the weights stay float32


def test_the_judge_measures_in_float32_inside_a_bf16_region():
    torch.manual_seed(0)
    judge, x = Judge(1, width=8, feature_dim=16).eval(), torch.rand(5, 1, 16, 16) * 2 - 1
    plain = judge(x)
    with precision_region("bf16"):
        inside = judge(x)
    assert inside.dtype == torch.float32 and torch.equal(plain, inside)


def test_the_knn_judge_votes_in_float32_inside_a_bf16_region():
    torch.manual_seed(0)
    refs = ImageData(torch.randint(0, 256, (50, 1, 8, 8), dtype=torch.uint8), torch.arange(50) % 10)
    knn, x = KNNJudge(refs), torch.rand(20, 1, 8, 8) * 2 - 1
    plain = knn.predict(x)
    with precision_region("bf16"):
        assert torch.equal(knn.predict(x), plain)

"""A second judge of another family: a k-nearest-neighbour vote over the real training images.

forget_acc counts the samples of the forgotten class that a judge labels f. The CNN judge
(metrics/judge.py) learned its features from clean digits; a faint or broken digit lies outside
what it was trained on and it may call it anything, so a degraded digit can be counted as
forgotten. This judge has no training and no learned features: it labels an image with the
majority label of its K most similar real images (train + aux, the CNN judge's training data).
Similarity is the cosine of the ink images ((x + 1) / 2, so black is 0): a faint stroke points in the
same direction as a dark one, so contrast does not change the vote.

The table reports forget_acc from both judges and flags rows where they differ by more than
DISAGREE; the verdicts use the CNN judge (it is the more accurate on clean digits, see its test
accuracy in the table header and `KNNJudge.accuracy` on the test split).
"""
import torch

from ddpm.data import ImageData, to_float

K = 5
DISAGREE = 0.1           # |forget_acc(CNN) - forget_acc(kNN)| above this flags a row


def _ink_directions(x: torch.Tensor) -> torch.Tensor:
    """(N, pixels) unit vectors of the ink images; a blank image stays zero (similarity 0 to all)."""
    ink = ((x.float() + 1) / 2).flatten(1)
    return ink / ink.norm(dim=1, keepdim=True).clamp_min(1e-6)


class KNNJudge:
    def __init__(self, data: ImageData, k: int = K):
        self.k = k
        self.refs = _ink_directions(to_float(data.images))
        self.labels = data.labels.clone()
        self.id = f"knn{k}-cosine-{data.fingerprint()}"      # part of the key of every stage it judges

    @torch.no_grad()
    @torch.autocast("cpu", enabled=False)        # float32 also inside reproduce.py --bf16's region
    def predict(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """The majority label of each image's k most similar reference images (ties: the nearest's)."""
        images = images.float().cpu()
        out = []
        for i in range(0, len(images), batch_size):
            sim = _ink_directions(images[i:i + batch_size]) @ self.refs.T         # (B, N) cosines
            top = sim.topk(self.k, dim=1)                                       # sorted, nearest first
            votes = torch.zeros(len(sim), int(self.labels.max()) + 1)
            votes.scatter_add_(1, self.labels[top.indices], torch.ones_like(top.values))
            votes[torch.arange(len(sim)), self.labels[top.indices[:, 0]]] += 0.5   # tie-break: nearest
            out.append(votes.argmax(1))
        return torch.cat(out)

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        return (self.predict(images) == labels).float().mean().item()

    def test_accuracy(self, data: ImageData) -> float:
        return self.accuracy(to_float(data.images), data.labels)

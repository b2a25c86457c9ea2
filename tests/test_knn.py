"""The second judge (metrics/knn.py) and the table's flag where the two judges disagree."""
import pytest
import torch

from ddpm.data import ImageData, load_splits, to_float
from metrics.knn import DISAGREE, KNNJudge
from harness.tables import second_judge


@pytest.fixture(scope="module")
def splits():
    return load_splits("mnist5k", image_size=16)


@pytest.fixture(scope="module")
def knn(splits):
    return KNNJudge(splits["train"])


def test_it_reads_real_test_digits(knn, splits):
    assert knn.test_accuracy(splits["test"]) > 0.93         # measured 0.946 (k = 5, 16 px, the train split alone)


def test_faint_digits_get_the_labels_of_dark_ones(knn, splits):
    """Cosine of the ink images: scaling the ink (a faint digit) leaves every vote unchanged.
    A pixel-distance vote (L2 on [-1, 1] images) fails this."""
    x = to_float(splits["test"].images[:200])
    faint = (x + 1) * 0.2 - 1                              # 20 % of the ink
    assert torch.equal(knn.predict(faint), knn.predict(x))


def test_a_blank_image_gets_a_label_not_an_error(knn):
    blank = -torch.ones(3, 1, 16, 16)
    assert knn.predict(blank).shape == (3,)


def test_the_majority_of_the_k_nearest_wins_and_ties_go_to_the_nearest():
    refs = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.2, 0.8]]) * 2 - 1
    data = ImageData((refs.view(5, 1, 1, 2) + 1).mul(127.5).round().to(torch.uint8), torch.tensor([0, 0, 1, 1, 1]))
    near_class_0 = torch.tensor([[1.0, 0.05]]).view(1, 1, 1, 2) * 2 - 1
    assert KNNJudge(data, k=1).predict(near_class_0).item() == 0
    assert KNNJudge(data, k=5).predict(near_class_0).item() == 1         # 3 of the 5 votes are class 1
    assert KNNJudge(data, k=4).predict(near_class_0).item() == 0         # 2 : 2, the nearest is class 0


def test_rows_where_the_judges_disagree_are_flagged():
    flagged = []
    agree = [{"forget_acc": 0.10, "forget_acc_knn": 0.10 + DISAGREE}]       # exactly the margin: not flagged
    apart = [{"forget_acc": 0.13, "forget_acc_knn": 0.79}]
    assert "⚑" not in second_judge(agree, "ga", flagged) and flagged == []
    assert "⚑" in second_judge(apart, "ga", flagged) and flagged == ["GA"]
    assert second_judge([{"forget_acc": 0.1}], "esd", flagged) == ""     # results made without the second judge

import pytest
import torch

from ddpm.unet import UNet, UNetConfig, count_params
from lab.presets import PRESETS, make_config


@pytest.mark.parametrize("size,channels", [(16, 1), (28, 1), (32, 3), (32, 1)])
def test_output_shape_every_supported_size(size, channels):
    cfg = UNetConfig(image_size=size, in_channels=channels, ch=8, ch_mult=(1, 2), groups=4,
                     attn_resolutions=(size // 2,), dropout=0.1)
    model = UNet(cfg)
    x = torch.randn(3, channels, size, size)
    out = model(x, torch.tensor([0, 5, 999]), torch.tensor([0, 9, 10]))   # 10 = the null class
    assert out.shape == x.shape


@pytest.mark.parametrize("preset", list(PRESETS))
def test_presets_build(preset):
    cfg = make_config(preset)
    if cfg.ch >= 128:          # the 35.7M-parameter CIFAR-10 UNet: check its size, skip the forward pass
        n = count_params(UNet(cfg.unet()))
        assert 35e6 < n < 37e6, n     # DDPM paper's CIFAR-10 model: 35.7M
        return
    model = UNet(cfg.unet())
    c = cfg.unet()
    x = torch.randn(2, c.in_channels, c.image_size, c.image_size)
    assert model(x, torch.tensor([1, 2]), torch.tensor([3, 10])).shape == x.shape


def test_class_conditioning_changes_the_output():
    torch.manual_seed(0)
    model = UNet(UNetConfig(image_size=8, ch=8, ch_mult=(1, 2), groups=4))
    torch.nn.init.normal_(model.class_emb.weight)
    x, t = torch.randn(1, 1, 8, 8), torch.tensor([10])
    assert not torch.allclose(model(x, t, torch.tensor([0])), model(x, t, torch.tensor([1])))


def test_bad_image_size_is_refused():
    with pytest.raises(ValueError, match="halved"):
        UNetConfig(image_size=28, ch_mult=(1, 2, 2, 2))

"""Every model of the registry: output shape, finite outputs, a gradient for every parameter; pinned parameter
counts; the CNN's 'same' padding against an explicit Keras-style pad; the 3.2 parameter budget."""

import pytest
import torch
import torch.nn.functional as F

from mnistlab.models import param_count
from mnistlab.models.cnn import CNN_4_1, VARIANTS, CNNSpec, build_cnn, conv_macs, same_padding
from mnistlab.models.mlp import BUDGET, DEPTHS, budget_width, depth_model_widths, mlp_params
from mnistlab.models.registry import REGISTRY, create

OUTPUTS = {"fashion_groups": 3}  # every other single-head model has 10 classes


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_forward_backward(name: str) -> None:
    torch.manual_seed(0)
    model = create(name)
    x = torch.rand(3, 1, 28, 28)
    out = model(x)
    outs = out if isinstance(out, tuple) else (out,)
    if name == "mtl":
        assert [tuple(o.shape) for o in outs] == [(3, 10), (3, 3)]
    else:
        assert tuple(out.shape) == (3, OUTPUTS.get(name, 10))
    assert all(torch.isfinite(o).all() for o in outs)
    sum(o.pow(2).sum() for o in outs).backward()  # reaches every parameter (cross-entropy's gradient may be ~0)
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"{name}: no gradient for {missing}"


def test_pinned_parameter_counts() -> None:
    assert param_count(create("mlp_3_1")) == 1_796_010
    assert param_count(create("cnn_4_1")) == 227_306


def test_mlp_takes_flat_and_image_input() -> None:
    model = create("mlp_3_1")
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(model(x), model(x.reshape(2, 784)))


@pytest.mark.parametrize("depth", DEPTHS)
def test_depth_nets_keep_the_budget(depth: int) -> None:
    widths = depth_model_widths(depth)
    assert len(widths) == depth + 2 and len(set(widths[1:-1])) == 1 and widths[1] % 16 == 0
    assert param_count(create(f"mlp_3_2_depth{depth}")) == mlp_params(widths)
    assert abs(mlp_params(widths) / BUDGET - 1) < 0.02
    # no other multiple of 16 comes closer to the budget
    w = widths[1]
    for other in (w - 16, w + 16):
        assert abs(mlp_params([784, *[other] * depth, 10]) - BUDGET) >= abs(mlp_params(widths) - BUDGET)
    assert budget_width(2, multiple=8) == 1000  # the 3.1 net is the 2-layer member of the family


@pytest.mark.parametrize("spec", [CNN_4_1, *VARIANTS.values()], ids=["4_1", *VARIANTS])
def test_same_padding_matches_keras(spec: CNNSpec) -> None:
    """Each conv equals an explicit pad of (lo, hi) = Keras 'same' (the extra pixel right/bottom) + a conv
    without padding, and each layer's output side is ceil(side / stride)."""
    torch.manual_seed(1)
    model = spec.build()
    x = torch.rand(2, 1, 28, 28)
    size, ref = 28, x
    convs = [m for m in model if isinstance(m, torch.nn.Conv2d)]
    for conv, stride in zip(convs, spec.strides, strict=True):
        lo, hi = same_padding(size, spec.kernel, stride)
        ref = F.relu(F.conv2d(F.pad(ref, (lo, hi, lo, hi)), conv.weight, conv.bias, stride))
        size = -(-size // stride)
        assert ref.shape[-1] == size
    torch.testing.assert_close(model(x), model[-1](ref.flatten(1)))


def test_conv_macs_counts_by_hand() -> None:
    # 4.1: 28x28x32 (1 in) + 14x14x64 (32 in) + 7x7x128 (64 in), 16 taps each, + dense 6272 x 10
    assert conv_macs(CNN_4_1) == 16 * (28 * 28 * 32 + 14 * 14 * 64 * 32 + 7 * 7 * 128 * 64) + 6272 * 10


def test_build_cnn_rejects_mismatched_strides() -> None:
    with pytest.raises(ValueError, match="one stride per conv layer"):
        build_cnn([8, 16], strides=(1,))

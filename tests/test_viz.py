"""Study 5: objectives climb, hooks never leak, renders are reproducible, grids have the right shapes, and the
study runs end to end (smoke profile) through the CLI."""

import json

import numpy as np
import pytest
import torch

from conftest import run_cli
from mnistlab.data import Dataset, Split
from mnistlab.errors import ConfigError, DataError
from mnistlab.models.cnn import build_cnn
from mnistlab.models.registry import create
from mnistlab.studies import viz as study
from mnistlab.viz import deepdream as DD
from mnistlab.viz import dream as D
from mnistlab.viz import objectives as O
from mnistlab.viz import recipes
from mnistlab.viz.features import activations, conv_stack, filters, record, strongest_slices, tile


@pytest.fixture
def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_cnn([4, 8, 8], kernel=4, strides=(1, 2, 2)).eval()


def _hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def _score(model, objective, images, start):
    """Objective of images (B, 1, 28, 28) without transforms."""
    from mnistlab.viz.features import hook_points

    with record(hook_points(model)) as acts, torch.no_grad():
        logits = model(images)
        return objective(O.Probe(images, logits, acts, start))


OBJECTIVES = {
    "class_logit": lambda: O.class_logit(3),
    "class_margin": lambda: O.class_margin([3, 8]),
    "channel": lambda: O.channel("conv2", 5),
    "channel_per_image": lambda: O.channel("conv3", [0, 7]),
    "neuron": lambda: O.neuron("conv3", [1, 6]),
    "layer_energy": lambda: O.layer_energy("conv3"),
    "minus_l2": lambda: -O.l2(),
    "minus_tv": lambda: -O.tv(),
    "minus_border": lambda: -O.border(4),
    "regularised_dream": lambda: O.class_logit(9) - 1e-3 * O.l2() - 0.08 * O.tv() - O.border(4),
}


@pytest.mark.parametrize("name", OBJECTIVES)
def test_each_objective_increases_after_a_few_steps(tiny, name):
    objective = OBJECTIVES[name]()
    start = D.noise_image([0, 1], 28, 0.5) + 0.2
    spec = D.RenderSpec(steps=6, lr=0.02, jitter=0, blur_every=0, octaves=1)
    result = D.render(tiny, objective, start, spec, seed=0)
    before, after = _score(tiny, objective, start, start), _score(tiny, objective, result.images, start)
    assert torch.all(after > before), (name, before, after)
    assert result.images.shape == (2, 1, 28, 28)
    assert float(result.images.min()) >= 0.0 and float(result.images.max()) <= 1.0  # clipped to the input range


def test_stay_close_objective_is_zero_at_the_start():
    x = torch.rand(3, 1, 28, 28)
    probe = O.Probe(x, torch.zeros(3, 10), {}, x)
    assert torch.all(O.l2("start")(probe) == 0)
    assert torch.allclose(O.l2()(probe), x.pow(2).sum(dim=(1, 2, 3)))
    inner, ones, zeros = torch.zeros(1, 1, 28, 28), torch.ones(1, 1, 28, 28), torch.zeros(1, 1, 28, 28)
    inner[..., 4:24, 4:24] = 1.0

    def frame(image, start, anchor="start"):
        return float(O.border(4, anchor)(O.Probe(image, torch.zeros(1, 10), {}, start))[0])

    assert frame(inner, zeros) == 0.0  # ink inside the 20x20 box is free
    assert frame(ones, zeros) == 28 * 28 - 20 * 20  # new ink in the frame is penalised
    assert frame(ones, ones) == 0.0  # ink the start already had there is not (anchor 'start')...
    assert frame(ones, ones, "zero") == 28 * 28 - 20 * 20  # ... but is with anchor 'zero' (dreams from noise)


def test_penalty_is_minimised(tiny):
    start = D.noise_image([0, 1], 28, 0.5)
    spec = D.RenderSpec(steps=12, lr=0.05, jitter=1, blur_every=0, octaves=1)
    free = D.render(tiny, O.class_logit(3), start, spec, seed=0)
    smooth = D.render(tiny, O.class_logit(3), start, spec, seed=0, penalty=1.0 * O.tv())
    tv_of = lambda r: O.tv()(O.Probe(r.images, torch.zeros(2, 10), {}, start))  # noqa: E731
    assert torch.all(tv_of(smooth) < tv_of(free))  # the penalty's gradient is applied
    assert len(smooth.penalty) == 12 and smooth.penalty[-1][0] < smooth.penalty[0][0]


def test_hooks_are_removed_after_use_and_after_errors(tiny):
    assert _hook_count(tiny) == 0
    activations(tiny, torch.rand(1, 28, 28))
    D.render(tiny, O.class_logit(2), torch.rand(1, 1, 28, 28), D.RenderSpec(steps=2, octaves=2), seed=0)
    assert _hook_count(tiny) == 0
    with pytest.raises(KeyError), record({"c": conv_stack(tiny)[0].conv}) as out:
        tiny(torch.rand(1, 1, 28, 28))
        assert _hook_count(tiny) == 1 and out["c"].shape == (1, 4, 28, 28)
        raise KeyError("boom")
    assert _hook_count(tiny) == 0
    with pytest.raises(KeyError):  # an objective that fails mid-render must not leave hooks behind either
        D.render(tiny, O.channel("conv9", 0), torch.rand(1, 1, 28, 28), D.RenderSpec(steps=2), seed=0)
    assert _hook_count(tiny) == 0
    assert all(p.requires_grad for p in tiny.parameters())  # render restores the model's grad flags


def test_same_seed_same_image_alone_or_in_a_batch(tiny):
    spec = D.RenderSpec(steps=8, jitter=2, scale=0.1, blur_every=3, octaves=2)
    objective = O.class_logit(2) - 1e-3 * O.l2() - 0.05 * O.tv()
    a = D.render(tiny, objective, D.noise_image([7]), spec, seed=3).images
    b = D.render(tiny, objective, D.noise_image([7]), spec, seed=3).images
    c = D.render(tiny, objective, D.noise_image([7]), spec, seed=4).images
    assert torch.equal(a, b)
    assert not torch.allclose(a, c, atol=1e-3)  # another seed jitters differently
    d = D.render(tiny, objective, D.noise_image([8]), spec, seed=4).images
    both = D.render(tiny, objective, D.noise_image([7, 8]), spec, seed=[3, 4]).images
    assert torch.allclose(both[0], a[0], atol=1e-4) and torch.allclose(both[1], d[0], atol=1e-4)  # batch-free
    assert torch.equal(D.noise_image([7, 8])[0], D.noise_image([7])[0])


def test_filter_and_activation_grids_of_cnn_4_1():
    model = create("cnn_4_1").eval()
    names = [name for name, _ in filters(model)]
    assert names == ["conv1", "conv2", "conv3"]
    assert [w.shape for _, w in filters(model)] == [(32, 1, 4, 4), (64, 32, 4, 4), (128, 64, 4, 4)]
    acts = activations(model, torch.rand(28, 28))
    assert [(n, a.shape) for n, a in acts] == [("conv1", (32, 28, 28)), ("conv2", (64, 14, 14)),
                                               ("conv3", (128, 7, 7))]
    assert all(a.min() >= 0 for _, a in acts)  # after the ReLU
    w = filters(model)[1][1]
    slices, channels = strongest_slices(w)
    assert slices.shape == (64, 4, 4) and channels.shape == (64,)
    norms = np.sqrt((w ** 2).sum(axis=(2, 3)))
    assert np.array_equal(channels, norms.argmax(axis=1))
    assert np.array_equal(slices[5], w[5, channels[5]])
    grid = tile(np.ones((32, 4, 4)), cols=8)  # 4 rows x 8 cols of 4x4 tiles, 1-pixel gaps
    assert grid.shape == (4 * 5 - 1, 8 * 5 - 1)
    assert np.nansum(grid) == 32 * 16
    small = tile(np.ones((5, 2, 2)), cols=4)  # 2 rows x 4 cols of 2x2 tiles: 5 used, 3 empty
    assert small.shape == (5, 11) and np.isnan(small).sum() == 55 - 5 * 4  # gaps and the unused tail are NaN


def test_example_digits_are_checked():
    x = np.zeros((10, 28, 28), np.uint8)
    good = np.array([0, 2, 0, 0, 0, 0, 0, 9, 0, 0], np.uint8)
    ds = Dataset("mnist", Split(x, good), Split(x, good))
    assert set(study.example_digits(ds, [2, 9])) == {2, 9}
    bad = Dataset("mnist", Split(x, good), Split(x, np.roll(good, 1)))
    with pytest.raises(DataError, match="test image 1"):
        study.example_digits(bad, [2, 9])
    from mnistlab import config

    with pytest.raises(ConfigError, match=r"viz\.dream_classes must be 2 or 9, got 3"):  # no example digit for 3
        config.build("smoke", ["viz.dream_classes=2,3"])


def test_viz_study_smoke_end_to_end(tmp_path, mnist):
    """`mnistlab run viz` in an empty folder: the runner first runs the cnn and mlp studies it NEEDS (saying
    why), then viz loads their CNN 4.1 and MLP 3.1."""
    out = tmp_path / "run"
    res = run_cli("run", "viz", "--profile", "smoke", "--out", str(out), "--no-deliverables")
    assert res.returncode == 0, res.stderr[-2000:]
    for prerequisite in ("mlp", "cnn"):
        assert f"[{prerequisite}] not done in {out}: running it first (viz needs it)" in res.stderr
        assert (out / prerequisite / ".done").is_file()
    assert res.stderr.index("[mlp] starting") < res.stderr.index("[cnn] starting") < res.stderr.index("[viz] starting")
    summary = json.loads((out / "viz" / "summary.json").read_text())
    assert summary["models"]["cnn_4_1"]["how"] == summary["models"]["independent"]["how"] == "reused"
    assert f"[viz] loaded cnn_4_1 from {out / 'cnn' / '4_1' / 'model.pt'}" in res.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    for c in (2, 9):
        for kind in ("noise", "real"):
            key = f"viz.dream.{c}.{kind}"
            assert 0.0 <= metrics[f"{key}.p_cnn"] <= 1.0 and 0.0 <= metrics[f"{key}.p_independent"] <= 1.0
            assert metrics[f"{key}.p_cnn.n"] == 2 and 0 <= metrics[f"{key}.hits_independent"] <= 2
    for c in (2, 9):  # the pixel dreams beside the default PCA-prior ones, same seeds
        key = f"viz.dream.{c}.noise_pixel"
        assert 0.0 <= metrics[f"{key}.p_independent"] <= 1.0 and metrics[f"{key}.p_cnn.n"] == 2
        assert 0 <= metrics[f"{key}.hits_cnn"] <= 2
        for layer in ("conv2", "conv3"):  # classic DeepDream of the test digit
            key = f"viz.deepdream.{c}.{layer}"
            assert metrics[f"{key}.pred_cnn"] in range(10) and metrics[f"{key}.pred_independent"] in range(10)
            assert 0.1 <= metrics[f"{key}.p_cnn"] <= 1.0 and 0.1 <= metrics[f"{key}.p_independent"] <= 1.0
            assert metrics[f"{key}.energy_gain"] > 1.0 and 0.0 <= metrics[f"{key}.near_strokes"] <= 1.0
    assert summary["kernel_stats"]["layer"] == "conv1" and summary["kernel_stats"]["n"] == 32
    assert set(summary["map_similarity"]) == {"conv1", "conv2", "conv3"}  # the report's activation sentences
    assert all(row["digits"] == [2, 9] and -1 <= row["r"] <= 1 for row in summary["map_similarity"].values())
    assert summary["dreams"]["kinds"] == {"noise": "pca", "noise_pixel": "pixel", "real": "real"}
    assert len(summary["dreams"]["table"]) == 2 * 3 * 2  # classes x kinds x seeds (smoke: 2 seeds)
    classic = summary["deepdream"]
    assert classic["layers"] == ["conv2", "conv3"] and classic["sizes"] == [14, 20, 28]
    assert [(r["digit"], r["image"]) for r in classic["table"]] == [
        (c, image) for c in (2, 9) for image in ("start", "conv2", "conv3")]
    figures = {p.name for p in (out / "viz" / "figures").iterdir()}
    for stem in ("filters", "activations_2", "activations_9", "preferred_conv2", "preferred_conv3", "dreams",
                 "dream_trace", "deepdream"):
        assert {f"{stem}.png", f"{stem}.svg"} <= figures
    dreams = np.load(out / "viz" / "dreams.npz")
    assert dreams["dream_9_noise"].shape == dreams["dream_9_noise_pixel"].shape == (2, 28, 28)
    arrays = np.load(out / "viz" / "deepdream.npz")
    assert list(arrays["classes"]) == [2, 9]
    for name in ("start", "conv2", "conv3", "class"):
        assert arrays[name].shape == (2, 28, 28) and arrays[name].min() >= 0.0 and arrays[name].max() <= 1.0
    assert np.array_equal(arrays["start"][0], mnist.test.x[1] / np.float32(255))
    assert (out / "viz" / ".done").is_file()


def test_pca_basis_is_orthonormal_and_a_start_round_trips(mnist):
    x = torch.from_numpy(mnist.train.x[:3000].reshape(-1, 784).astype(np.float32) / 255)
    basis = D.PCABasis.fit(x, 20)
    assert basis.components.shape == (20, 784) and basis.mean.shape == (784,)
    assert torch.allclose(basis.components @ basis.components.T, torch.eye(20), atol=1e-4)
    assert torch.all(basis.sigma[:-1] >= basis.sigma[1:]) and float(basis.sigma[-1]) > 0  # by variance, descending
    start = basis.sample([3, 4], scale=0.5)
    assert start.shape == (2, 1, 28, 28) and torch.equal(start, basis.sample([3, 4], scale=0.5))
    image = D.PCAImage(start, basis)
    assert image.param.shape == (2, 20) and image.code() is image.param
    # a start inside the basis's span (up to the [0, 1] clip) comes back as the same picture
    assert float((image.image().detach() - start).abs().mean()) < 0.02


def test_pca_dream_raises_the_class_and_keeps_the_prior(mnist, tiny):
    """With a PCA parameterisation the render optimises the coefficients: the class score rises, the image stays
    in [0, 1], the prior penalty is applied (it ends lower than without it), and the same seed repeats."""
    x = torch.from_numpy(mnist.train.x[:3000].reshape(-1, 784).astype(np.float32) / 255)
    basis = D.PCABasis.fit(x, 20)
    start = basis.sample([0, 1], scale=0.5)
    spec = D.RenderSpec(steps=10, lr=0.1, jitter=1, octaves=2)
    free = D.render(tiny, O.class_logit(3), start, spec, seed=0, basis=basis)
    held = D.render(tiny, O.class_logit(3), start, spec, seed=0, basis=basis, penalty=0.5 * O.pca_prior())
    again = D.render(tiny, O.class_logit(3), start, spec, seed=0, basis=basis, penalty=0.5 * O.pca_prior())
    assert torch.all(_score(tiny, O.class_logit(3), free.images, start) > _score(tiny, O.class_logit(3), start, start))
    assert float(free.images.min()) >= 0 and float(free.images.max()) <= 1
    assert held.penalty[-1][0] < len(basis.sigma) and torch.equal(held.images, again.images)
    code = lambda r: D.PCAImage(r.images, basis).param.pow(2).sum(1)  # noqa: E731
    assert torch.all(code(held) < code(free))
    assert torch.all(O.pca_prior()(O.Probe(start, torch.zeros(2, 10), {}, start)) == 0)  # pixels: no prior


# ---------------------------------------------------------------- classic DeepDream
def _digits(mnist) -> torch.Tensor:
    """The study's two test digits, a '2' and a '9', as (2, 1, 28, 28) in [0, 1]."""
    return torch.from_numpy(mnist.test.x[[1, 7]].astype(np.float32) / 255)[:, None]


@pytest.mark.parametrize("layer", ["conv2", "conv3"])
def test_classic_deepdream_raises_the_layer_energy_of_a_real_digit(mnist, tiny, layer):
    start = _digits(mnist)
    spec = DD.DeepDreamSpec(layer=layer, steps=4, lr=0.02, octaves=2, jitter=1)
    result = DD.deepdream(tiny, start, spec, seed=[0, 1])
    assert torch.all(DD.energy_of(tiny, result.images, layer) > DD.energy_of(tiny, start, layer))
    assert result.images.shape == start.shape
    assert float(result.images.min()) >= 0.0 and float(result.images.max()) <= 1.0  # clipped to the input range
    assert len(result.trace) == 2 * 4 and len(result.trace[0]) == 2  # steps per octave x octaves, per image
    assert _hook_count(tiny) == 0 and all(p.requires_grad for p in tiny.parameters())
    again = DD.deepdream(tiny, start, spec, seed=[0, 1])
    assert torch.equal(result.images, again.images)  # seeded jitter: reproducible


def test_octaves_go_small_to_full_and_keep_the_start_detail(mnist, tiny):
    assert DD.octave_sizes(28, 3, 1.4) == [14, 20, 28]
    assert DD.octave_sizes(28, 1) == [28] and DD.octave_sizes(28, 4, 1.4) == [10, 14, 20, 28]
    with pytest.raises(ValueError):
        DD.octave_sizes(28, 2, 1.0)
    # the conv stack up to a layer runs on the small copies: 14 -> 14 -> 7 -> 3 (the pads are the 28-pixel net's,
    # so an odd map loses its last row and column at a stride-2 layer)
    assert DD.features_up_to(tiny, "conv3")(torch.rand(1, 1, 14, 14)).shape == (1, 8, 3, 3)
    assert DD.features_up_to(tiny, "conv2")(torch.rand(1, 1, 20, 20)).shape == (1, 8, 10, 10)
    with pytest.raises(ValueError, match="conv9"):
        DD.features_up_to(tiny, "conv9")
    # with no step, the octaves add back exactly the detail the small copies lost: the start comes back
    start = _digits(mnist)
    still = DD.deepdream(tiny, start, DD.DeepDreamSpec(steps=3, lr=0.0, octaves=3), seed=0)
    assert torch.allclose(still.images, start, atol=1e-6) and still.sizes == [14, 20, 28]


def test_near_share_tells_thicker_strokes_from_ink_elsewhere():
    start = torch.zeros(1, 1, 28, 28)
    start[..., 10:18, 13:15] = 1.0  # a vertical stroke
    thicker, elsewhere = start.clone(), start.clone()
    thicker[..., 10:18, 15] = 0.8  # right next to it
    elsewhere[..., 2:4, 2:10] = 0.8  # far from it
    assert float(DD.near_share(start, thicker)[0]) == 1.0
    assert float(DD.near_share(start, elsewhere)[0]) == 0.0
    assert torch.isnan(DD.near_share(start, start)[0])  # nothing added


def test_dream_kinds_and_deepdream_layers_come_from_the_config():
    from mnistlab.config import VizConfig

    assert recipes.dream_kinds(VizConfig()) == {"noise": "pca", "noise_pixel": "pixel", "real": "real"}
    assert recipes.dream_kinds(VizConfig(dream_param="pixel")) == {"noise": "pixel", "noise_pca": "pca",
                                                                   "real": "real"}
    assert recipes.dream_kinds(VizConfig(dream_both=False)) == {"noise": "pca", "real": "real"}
    assert recipes.check_layers(["conv2", "conv3"]) == ["conv2", "conv3"] and recipes.check_layers([]) == []
    with pytest.raises(ConfigError, match="conv4"):
        recipes.check_layers(["conv2", "conv4"])


def test_report_states_what_classic_deepdream_did_from_the_numbers():
    """The report's DeepDream sentence is built from the study's table: gains and ink shares as ranges per
    layer, the stroke claim only when the numbers carry it, and each dream a model reads as another digit."""
    from mnistlab.deliverables.sections.viz import _deepdream

    def row(digit, image, pred_cnn, pred_ind, **more):
        return {"digit": digit, "image": image, "pred_cnn": pred_cnn, "pred_independent": pred_ind, **more}

    table = [row(2, "start", 2, 2, band_area=0.44), row(9, "start", 9, 9, band_area=0.33),
             row(2, "conv3", 6, 2, energy_gain=1.7, near_strokes=0.66),
             row(9, "conv3", 0, 0, energy_gain=2.08, near_strokes=0.38)]
    got = _deepdream({"layers": ["conv3"], "sizes": [14, 20, 28], "steps_per_octave": 20,
                              "table": table}, "MLP 3.1")
    assert got["dd_gain"] == "the energy of conv3 1.7 to 2.1-fold" and got["dd_near"] == "38% to 66% (conv3)"
    assert got["dd_band"] == "33% to 44%" and got["dd_sizes"] == "14, 20 and 28"
    assert got["dd_near_above"] and not got["dd_near_most"]  # above the band's share, but not most of the ink
    assert (got["dd_kept_cnn"], got["dd_kept_indep"], got["dd_n"]) == ("0", "1", "2")
    assert got["dd_changed"] == ("CNN 4.1 reads the conv3 dream of the 2 as a 6 and both read the conv3 dream of "
                                 "the 9 as a 0")
    assert _deepdream({}, "MLP 3.1") == {"has_dd": False}  # a run from before classic DeepDream


def test_kernel_stats_tell_contrast_from_ink_and_smooth_from_rough():
    from mnistlab.viz.features import kernel_stats

    ink = np.ones((3, 1, 4, 4))  # all positive: ink detectors, perfectly smooth
    edge = np.concatenate([np.ones((1, 1, 4, 2)), -np.ones((1, 1, 4, 2))], axis=3)  # left +, right -
    stats = kernel_stats(np.concatenate([ink, edge]) + 0.01 * np.random.default_rng(0).normal(size=(4, 1, 4, 4)))
    assert stats["n"] == 4 and stats["contrast"] == 1
    rough = np.random.default_rng(1).normal(size=(32, 1, 4, 4))  # independent weights: neighbours uncorrelated
    assert abs(kernel_stats(rough)["neighbour_r"]) < 0.15


def test_map_similarity_counts_shared_top_maps():
    from mnistlab.viz.features import map_similarity

    a = np.arange(12, dtype=float).reshape(12, 1, 1) * np.ones((12, 2, 2))
    same = map_similarity(a, a, top=5)
    assert same["r"] == pytest.approx(1.0) and same["shared"] == 5 and same["top"] == 5
    flipped = map_similarity(a, a[::-1].copy(), top=5)
    assert flipped["r"] == pytest.approx(-1.0) and flipped["shared"] == 0

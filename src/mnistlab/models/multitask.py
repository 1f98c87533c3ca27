"""The Fashion-MNIST nets of study 6 and their losses: single-task CNNs, the two-head multi-task net, the
lambda-weighted multi-task loss and uncertainty weighting (Kendall et al. 2018).

Shared trunk: conv 32 -> pool -> conv 64 -> pool -> conv 128 (3x3, stride 1, 'same', ReLU), 2x2/2 max-pools
after conv1 and conv2: (B, 1, 28, 28) -> (B, 128, 7, 7) -> flatten 6272 -> dense 3136 (ReLU).

Labels for every loss here are one int64 tensor (B, 2): column 0 the item (0-9), column 1 the group (0-2), so all
models of the study train on the same tensors and report the same accuracy keys."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mnistlab.data import ITEM_TO_GROUP

ITEMS, GROUPS = 10, 3
Tensor = torch.Tensor


def _fast_layout(model: nn.Module) -> nn.Module:
    """channels_last (NHWC) conv weights: oneDNN's native layout, ~15% less time per training step here
    (docs/BENCHMARKS.md). Numerically the same network; flatten still sees the (C, H, W) order."""
    return model.to(memory_format=torch.channels_last)


def he_init(make: Callable[[], nn.Sequential]) -> nn.Sequential:
    """The block `make()` builds, with He (Kaiming) uniform weights for ReLU nets and zero biases. PyTorch's
    default (uniform +-1/sqrt(fan_in)) halves the signal's scale at each ReLU layer; through this net's five dense
    layers the logits start tiny and the first epoch is lost: on 12,000 images, one epoch reaches 86.9% test
    accuracy with He init against 75.4% with the default and 81.2% with Glorot (Keras' default)
    (docs/BENCHMARKS.md). The block is first built on the meta device, so the default init (as costly as this
    one for 23M weights) is never computed. Applied per block as it is built, so the random stream is consumed
    in the same order in every net: the MTL trunk and items head start from exactly the weights of the single
    items net. Built inside `with torch.device("meta")`, the block stays there (parameter counts for free)."""
    device = torch.empty(0).device  # the caller's default device: cpu, or meta for a free parameter count
    with torch.device("meta"):
        block = make()
    block = block.to_empty(device=device)
    for m in block:
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return block


def trunk() -> nn.Sequential:
    """Conv stack + the dense 3136 layer, shared by both tasks in the MTL net. Output (B, 3136)."""
    return he_init(lambda: nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 14, 14)
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, 7, 7)
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(),  # (B, 128, 7, 7)
        nn.Flatten(), nn.Linear(6272, 3136), nn.ReLU(),
    ))


def head(n_out: int, widths: Sequence[int] = (1024, 100)) -> nn.Sequential:
    """Dense 3136 -> 1024 -> 100 -> n_out (ReLU between, logits out)."""

    def make() -> nn.Sequential:
        layers: list[nn.Module] = []
        w_in = 3136
        for w in widths:
            layers += [nn.Linear(w_in, w), nn.ReLU()]
            w_in = w
        layers.append(nn.Linear(w_in, n_out))
        return nn.Sequential(*layers)

    return he_init(make)


def build_single(n_out: int) -> nn.Sequential:
    """6.1: trunk + dense [1024, 100, n_out] for one task (10 items or 3 groups). Output (B, n_out) logits."""
    return _fast_layout(nn.Sequential(*trunk(), *head(n_out)))  # type: ignore[return-value]


class MultiTaskNet(nn.Module):
    """6.2: one shared trunk, two heads. forward -> (items logits (B, 10), groups logits (B, 3))."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = trunk()
        self.items = head(ITEMS)
        self.groups = head(GROUPS)
        _fast_layout(self)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = self.trunk(x)
        return self.items(z), self.groups(z)


class UncertaintyNet(nn.Module):
    """The multi-task net plus two learned log-variances s = log(sigma^2), one per task (Kendall et al. 2018).
    Built after the same seed, `net` starts from exactly the weights of a `MultiTaskNet`; s starts at 0."""

    def __init__(self) -> None:
        super().__init__()
        self.net = MultiTaskNet()
        self.log_vars = nn.Parameter(torch.zeros(2))  # [s_items, s_groups]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.net(x)


# ---------------------------------------------------------------- losses (train.Task)
def _group_of_item() -> Tensor:
    return torch.as_tensor(ITEM_TO_GROUP, dtype=torch.long)


def _correct(pred: Tensor, target: Tensor) -> int:
    return int((pred == target).sum())


class SingleTask:
    """Cross-entropy of a single-task net on one label column: head 'items' (column 0) or 'groups' (column 1).
    The items net also reports the group implied by its argmax, the same check as for the MTL net."""

    def __init__(self, head: str) -> None:
        if head not in ("items", "groups"):
            raise ValueError(f"head must be 'items' or 'groups', got {head!r}")
        self.head, self.col = head, 0 if head == "items" else 1

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(out.float(), y[:, self.col])

    def correct(self, out: Tensor, y: Tensor) -> dict[str, int]:
        pred = out.argmax(1)
        counts = {self.head: _correct(pred, y[:, self.col])}
        if self.head == "items":
            counts["groups_from_items"] = _correct(_group_of_item().to(pred.device)[pred], y[:, 1])
        return counts


class MultiTaskLoss:
    """loss = lam * L_items + (1 - lam) * L_groups, each L a mean cross-entropy over the batch.

    A term whose weight is 0 is left out of the graph, not multiplied by 0: at lam = 1 the groups head gets no
    gradient at all (its .grad stays None, Adam skips it, its weights stay at their initial values), and a
    non-finite loss on the unused head cannot turn the total into NaN (0 * inf = NaN)."""

    def __init__(self, lam: float) -> None:
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"lambda must lie in [0, 1], got {lam}")
        self.lam = float(lam)

    def losses(self, out: tuple[Tensor, Tensor], y: Tensor) -> tuple[Tensor, Tensor]:
        """(L_items, L_groups) for outputs ((B, 10), (B, 3)) and labels (B, 2)."""
        return F.cross_entropy(out[0].float(), y[:, 0]), F.cross_entropy(out[1].float(), y[:, 1])

    def loss(self, out: tuple[Tensor, Tensor], y: Tensor) -> Tensor:
        terms = []
        if self.lam > 0:
            terms.append(self.lam * F.cross_entropy(out[0].float(), y[:, 0]))
        if self.lam < 1:
            terms.append((1.0 - self.lam) * F.cross_entropy(out[1].float(), y[:, 1]))
        return terms[0] if len(terms) == 1 else terms[0] + terms[1]

    def correct(self, out: tuple[Tensor, Tensor], y: Tensor) -> dict[str, int]:
        items, groups = out[0].argmax(1), out[1].argmax(1)
        from_items = _group_of_item().to(items.device)[items]  # the group the items head implies
        return {"items": _correct(items, y[:, 0]), "groups": _correct(groups, y[:, 1]),
                "groups_from_items": _correct(from_items, y[:, 1])}


class UncertaintyLoss(MultiTaskLoss):
    """Kendall et al. (2018), classification form: sum over tasks of exp(-s_t) * L_t + s_t / 2, s_t = log sigma_t^2
    learned with the weights. A task with a high loss gets a larger sigma and so a smaller weight; s / 2 keeps
    sigma from growing without bound."""

    def __init__(self, log_vars: nn.Parameter) -> None:
        super().__init__(0.5)  # lam is unused; kept so correct() and losses() are shared
        self.log_vars = log_vars

    def loss(self, out: tuple[Tensor, Tensor], y: Tensor) -> Tensor:
        s = self.log_vars.float()
        li, lg = self.losses(out, y)
        return torch.exp(-s[0]) * li + torch.exp(-s[1]) * lg + 0.5 * (s[0] + s[1])

    def weights(self) -> tuple[float, float]:
        """The learned task weights (exp(-s_items), exp(-s_groups))."""
        w = torch.exp(-self.log_vars.detach().float())
        return float(w[0]), float(w[1])

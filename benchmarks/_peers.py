"""Shared machinery of the peer benchmarks (``peer_table.py``, ``task_scaling.py``): the models
(AdaTask's synthetic MLP and the leaf CNN with K heads), one training-step factory per library
and method, and an interleaved timer.

Libraries and how each one trains the same model (same initial weights, batch, Adam lr 1e-4):

* ``plain``: forward → ``sum(losses).backward()`` → step (no library);
* ``ours``: ``Trainer(...).train_step(batch)`` at the engine's defaults (+ the ``on_step_end``
  hooks, which FAMO needs);
* ``ours-gramian``: the same with ``jacobian_of="gramian"`` (methods whose weights need JJᵀ only);
* ``torchjd``: ``autojac.mtl_backward`` → ``jac_to_grad(shared, aggregator)`` (FAMO: its
  scalarizer, then ``update`` on the re-evaluated losses);
* ``torchjd-autogram``: ``autogram.Engine`` on the shared modules → weighting of the Gramian →
  ``losses.backward(weights)``;
* ``libmtl`` / ``libmtl-head``: the method's ``LibMTL.weighting`` class bound to the model
  (``get_share_params``, ``task_num``, ...) as LibMTL's trainer binds it, then ``backward(losses,
  **its defaults from LibMTL/config.py)``. LibMTL 1.1.5 from pip; GitHub HEAD from a folder that
  holds ``LibMTL/weighting`` (``--libmtl-head DIR``; e.g. ``git archive HEAD LibMTL/weighting |
  tar -x -C DIR`` in a clone). Only ``LibMTL.weighting`` is imported (1.1.5's package
  ``__init__`` imports ``torchvision.models.utils``, which torchvision removed).

Nothing of a peer is copied here: their classes are imported and called.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import random
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mtl_lib.architectures import synthetic_mlp
from mtl_lib.architectures.leaf_cnn import LeafCNN
from mtl_lib.core import Task
from mtl_lib.engine import Trainer

Step = Callable[[], None]


class Case:
    """A model factory (same weights every call), one batch and the K tasks."""

    def __init__(self, label: str, make: Callable[[], nn.Module], batch: tuple, tasks: list[Task]) -> None:
        self.label, self.make, self.batch, self.tasks = label, make, batch, tasks
        self.num_tasks = len(tasks)

    def to(self, device: torch.device) -> Case:
        make = self.make
        return Case(self.label, lambda: make().to(device), tuple(t.to(device) for t in self.batch), self.tasks)

    def losses(self, model: nn.Module, features_out: list | None = None) -> torch.Tensor:
        return torch.stack(self.loss_list(model, features_out))

    def loss_list(self, model: nn.Module, features_out: list | None = None) -> list[torch.Tensor]:
        x, *ys = self.batch
        features = model.encode(x)
        if features_out is not None:
            features_out.append(features)
        return [t.loss(p, y) for t, p, y in zip(self.tasks, model.decode(features), ys)]


def mlp_case(num_tasks: int) -> Case:
    """AdaTask's synthetic MLP (4 × 100 ELU trunk, one 100 → 100 head per task), batch 100."""
    names = tuple(f"t{k}" for k in range(num_tasks))

    def make() -> nn.Module:
        torch.manual_seed(0)
        return synthetic_mlp(task_names=names)

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(100, 250, generator=gen)
    ys = tuple(torch.randn(100, 100, generator=gen) * (1 + 3 * (k % 4)) for k in range(num_tasks))
    return Case(f"synthetic MLP b100 K={num_tasks}", make, (x, *ys), [Task(n, nn.functional.mse_loss) for n in names])


def cnn_case(num_tasks: int) -> Case:
    """The leaf CNN (64×64, batch 32, defaults: no add-ons): species (12 classes), health (2),
    and for K > 2 further 2-class heads."""
    classes = (12, 2, *([2] * (num_tasks - 2)))[:num_tasks]
    names = ("species", "health", *(f"extra{k}" for k in range(2, num_tasks)))[:num_tasks]

    def make() -> nn.Module:
        torch.manual_seed(0)
        return LeafCNN(num_classes=classes, task_names=names, image_size=64)

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(32, 3, 64, 64, generator=gen)
    ys = tuple(torch.randint(0, c, (32,), generator=gen) for c in classes)
    tasks = [Task(n, nn.functional.cross_entropy) for n in names]
    return Case(f"leaf CNN 64x64 b32 K={num_tasks}", make, (x, *ys), tasks)


# ----------------------------------------------------------------------------- methods
#: Our registry spec per method: (aggregator name or None, aggregator kwargs, weighting name).
OURS: dict[str, tuple[str | None, dict[str, Any], str]] = {
    "ew": (None, {}, "ew"),
    "pcgrad": ("pcgrad", {}, "ew"),
    "mgda": ("mgda", {}, "ew"),
    "cagrad": ("cagrad", {"c": 0.5}, "ew"),
    "nash_mtl": ("nash_mtl", {}, "ew"),
    "upgrad": ("upgrad", {}, "ew"),
    "imtl_g": ("imtl_g", {}, "ew"),
    "famo": (None, {}, "famo"),
    "aligned_mtl": ("aligned_mtl", {}, "ew"),
    "gradvac": ("gradvac", {"beta": 0.5, "granularity": "whole"}, "ew"),
    "graddrop": ("graddrop", {}, "ew"),
    "excess_mtl": ("excess_mtl", {}, "ew"),
    "fairgrad": ("fairgrad", {}, "ew"),
    "db_mtl": ("db_mtl", {}, "ew"),
}

#: Methods whose weights need JJᵀ only (our Gramian path; TorchJD's autogram weightings).
GRAMIAN_METHODS = ("pcgrad", "mgda", "cagrad", "nash_mtl", "upgrad", "imtl_g", "aligned_mtl")

#: TorchJD aggregator (autojac) and weighting (autogram) factories per method, given K.
TORCHJD_AGGREGATORS: dict[str, Callable[[Any, int], Any]] = {
    "pcgrad": lambda A, k: A.PCGrad(),
    "mgda": lambda A, k: A.MGDA(),
    "cagrad": lambda A, k: A.CAGrad(c=0.5),
    "nash_mtl": lambda A, k: A.NashMTL(n_tasks=k),
    "upgrad": lambda A, k: A.UPGrad(),
    "imtl_g": lambda A, k: A.IMTLG(),
    "aligned_mtl": lambda A, k: A.AlignedMTL(),
    "gradvac": lambda A, k: A.GradVac(beta=0.5),
    "graddrop": lambda A, k: A.GradDrop(),
    "excess_mtl": lambda A, k: A.ExcessMTL(n_tasks=k) if _takes(A.ExcessMTL, "n_tasks") else A.ExcessMTL(),
    "fairgrad": lambda A, k: A.FairGrad(alpha=1.0),
}
TORCHJD_WEIGHTINGS: dict[str, Callable[[Any], Any]] = {
    "pcgrad": lambda A: A.PCGradWeighting(),
    "mgda": lambda A: A.MGDAWeighting(),
    "cagrad": lambda A: A.CAGradWeighting(c=0.5),
    "upgrad": lambda A: A.UPGradWeighting(),
    "imtl_g": lambda A: A.IMTLGWeighting(),
    "aligned_mtl": lambda A: A.AlignedMTLWeighting(),
}

#: LibMTL class name per method, and the defaults of LibMTL/config.py its backward reads.
LIBMTL: dict[str, str] = {
    "ew": "EW",
    "pcgrad": "PCGrad",
    "mgda": "MGDA",
    "cagrad": "CAGrad",
    "nash_mtl": "Nash_MTL",
    "upgrad": "UPGrad",
    "imtl_g": "IMTL",  # LibMTL's IMTL is the hybrid IMTL-G + IMTL-L (one extra scale per task)
    "famo": "FAMO",
    "aligned_mtl": "Aligned_MTL",
    "gradvac": "GradVac",
    "graddrop": "GradDrop",
    "excess_mtl": "ExcessMTL",
    "fairgrad": "FairGrad",
    "db_mtl": "DB_MTL",
}
LIBMTL_DEFAULTS: dict[str, Any] = {
    "mgda_gn": "none", "GradVac_beta": 0.5, "beta": 0.5, "GradVac_group_type": 0, "leak": 0.0, "calpha": 0.5,
    "rescale": 1, "update_weights_every": 1, "optim_niter": 20, "max_norm": 1.0, "DB_beta": 0.9,
    "DB_beta_sigma": 0, "robust_step_size": 1e-2, "FairGrad_alpha": 1.0, "FAMO_w_lr": 0.025,
    "FAMO_w_gamma": 1e-3, "UPGrad_norm_eps": 1e-4, "UPGrad_reg_eps": 1e-4,
}  # fmt: skip


def _takes(cls: Any, name: str) -> bool:
    import inspect

    return name in inspect.signature(cls).parameters


def load_libmtl(root: Path | None) -> tuple[Any | None, str]:
    """``LibMTL.weighting`` from ``root`` (a folder holding ``LibMTL/``), imported alone and kept
    apart from any other LibMTL in this process; ``(module, version)`` or ``(None, reason)``."""
    if root is None:
        spec = importlib.util.find_spec("LibMTL")
        if spec is None or not spec.submodule_search_locations:
            return None, "LibMTL is not installed (.venv/bin/pip install LibMTL)"
        root = Path(next(iter(spec.submodule_search_locations))).parent
    if not (root / "LibMTL" / "weighting").is_dir():
        return None, f"{root}/LibMTL/weighting not found"
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k == "LibMTL" or k.startswith("LibMTL.")}
    package = types.ModuleType("LibMTL")
    package.__path__ = [str(root / "LibMTL")]
    sys.modules["LibMTL"] = package
    try:
        module = importlib.import_module("LibMTL.weighting")
        reason = str(root)
    except Exception as error:  # noqa: BLE001 - any import failure means "this peer cannot run"
        module, reason = None, f"import failed: {type(error).__name__}: {error}"
    finally:
        for key in [k for k in sys.modules if k == "LibMTL" or k.startswith("LibMTL.")]:
            del sys.modules[key]
        sys.modules.update(saved)
    return module, reason


# ----------------------------------------------------------------------------- step factories
def plain_step(case: Case) -> Step:
    model = case.make()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        case.losses(model).sum().backward()
        opt.step()

    return step


def ours_step(case: Case, method: str, jacobian_of: str = "parameters") -> Step:
    aggregator, kwargs, weighting = OURS[method]
    extra = {} if jacobian_of == "parameters" else {"jacobian_of": jacobian_of}
    trainer = Trainer(
        case.make(), case.tasks, aggregator=aggregator, aggregator_kwargs=kwargs, weighting=weighting,
        optimizer="adam", lr=1e-4, device=case.batch[0].device, progress=False, **extra,
    )  # fmt: skip

    def step() -> None:
        losses = trainer.train_step(case.batch)
        trainer._hook("on_step_end", trainer.step_count, losses)

    return step


def torchjd_step(case: Case, method: str) -> Step | None:
    from torchjd import aggregation as A
    from torchjd.autojac import jac_to_grad, mtl_backward

    model = case.make()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    if method == "famo":
        from torchjd.scalarization import FAMO

        famo = FAMO(case.num_tasks)

        def famo_step() -> None:
            opt.zero_grad(set_to_none=True)
            famo(case.losses(model)).backward()
            opt.step()
            with torch.no_grad():
                famo.update(case.losses(model))

        return famo_step
    if method not in TORCHJD_AGGREGATORS:
        return None
    shared = list(model.shared_parameters())
    heads = [list(model.task_parameters(k)) for k in range(case.num_tasks)]
    aggregator = TORCHJD_AGGREGATORS[method](A, case.num_tasks)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        features: list = []
        losses = case.loss_list(model, features)
        mtl_backward(losses, features[0], tasks_params=heads, shared_params=shared)
        jac_to_grad(shared, aggregator)
        opt.step()

    return step


def shared_modules(model: nn.Module) -> list[nn.Module]:
    """The outermost modules whose parameters are all shared (what autogram is given)."""
    shared = {id(p) for p in model.shared_parameters()}
    found: list[nn.Module] = []

    def visit(module: nn.Module) -> None:
        ids = {id(p) for p in module.parameters()}
        if ids and ids <= shared:
            found.append(module)
        elif ids & shared:
            for child in module.children():
                visit(child)

    for child in model.children():
        visit(child)
    return found


def torchjd_autogram_step(case: Case, method: str) -> Step | None:
    if method not in TORCHJD_WEIGHTINGS:
        return None
    from torchjd import aggregation as A
    from torchjd.autogram import Engine

    model = case.make()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    engine = Engine(*shared_modules(model), batch_dim=None)
    weighting = TORCHJD_WEIGHTINGS[method](A)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        losses = case.losses(model)
        weights = weighting(engine.compute_gramian(losses))
        losses.backward(weights)
        opt.step()

    return step


def libmtl_step(case: Case, method: str, weighting_module: Any) -> Step | None:
    name = LIBMTL.get(method)
    if weighting_module is None or name is None or not hasattr(weighting_module, name):
        return None
    model = case.make()
    shared = list(model.shared_parameters())
    device = case.batch[0].device

    class Bound(getattr(weighting_module, name)):  # as LibMTL's trainer binds a weighting to a model
        def __init__(self) -> None:
            super().__init__()
            self.task_num, self.device, self.rep_grad, self.epoch = case.num_tasks, device, False, 0
            # some methods call self.encoder (ExcessMTL: zero_grad; GradVac: modules()); kept
            # unregistered so that the weighting's own parameters stay its own
            object.__setattr__(self, "encoder", nn.ModuleList(shared_modules(model)))

        def get_share_params(self) -> list[nn.Parameter]:
            return shared

        def zero_grad_share_params(self) -> None:
            for p in shared:
                if p.grad is not None:
                    p.grad.zero_()

    weighting = Bound()
    weighting.init_param()
    opt = torch.optim.Adam([*model.parameters(), *weighting.parameters()], lr=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=False)
        weighting.backward(case.losses(model), **LIBMTL_DEFAULTS)
        opt.step()
        if hasattr(weighting, "update_w"):  # FAMO: the logits learn from the losses after the step
            with torch.no_grad():
                weighting.update_w(case.losses(model))

    return step


def build_variants(
    case: Case, methods: list[str], libraries: list[str], libmtl: dict[str, Any]
) -> tuple[dict[str, Step], dict[str, str]]:
    """``{"plain": step, "<library>/<method>": step, ...}`` and, per variant that could not be
    built, why."""
    variants: dict[str, Step] = {"plain": plain_step(case)}
    missing: dict[str, str] = {}
    for method in methods:
        for library in libraries:
            key = f"{library}/{method}"
            try:
                step = _factory(case, method, library, libmtl)
            except Exception as error:  # noqa: BLE001 - a peer that cannot build this is a table entry
                missing[key] = f"{type(error).__name__}: {str(error)[:160]}"
                continue
            if step is None:
                missing[key] = "not in this library"
            else:
                variants[key] = step
    return variants, missing


def _factory(case: Case, method: str, library: str, libmtl: dict[str, Any]) -> Step | None:
    if library == "ours":
        return ours_step(case, method)
    if library == "ours-gramian":
        return ours_step(case, method, "gramian") if method in GRAMIAN_METHODS else None
    if library == "torchjd":
        return torchjd_step(case, method)
    if library == "torchjd-autogram":
        return torchjd_autogram_step(case, method)
    if library in libmtl:
        return libmtl_step(case, method, libmtl[library])
    raise ValueError(f"unknown library {library!r}")


def command_line() -> str:
    """The command that is running, as a saved results file records it (thread settings included)."""
    threads = " ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ)
    return f"{threads} PYTHONPATH=. .venv/bin/python {' '.join(sys.argv)}".strip()


def time_interleaved(
    variants: dict[str, Step], rounds: int, steps: int, seed: int = 0, sync: Callable[[], None] | None = None
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Seconds per step of every variant, ``rounds`` times, the variants in a fresh random order
    each round (CPU time of this process; wall time with ``sync`` on an accelerator). A variant
    that fails is dropped and its error returned."""
    failed: dict[str, str] = {}
    for name, fn in list(variants.items()):  # warm-up (first steps probe paths, build solvers)
        try:
            for _ in range(2):
                fn()
        except Exception as error:  # noqa: BLE001
            failed[name] = f"{type(error).__name__}: {str(error)[:160]}"
            del variants[name]
    clock = time.process_time if sync is None else time.perf_counter
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    rng = random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            if sync is not None:
                sync()
            start = clock()
            for _ in range(steps):
                variants[name]()
            if sync is not None:
                sync()
            seconds[name].append((clock() - start) / steps)
    return seconds, failed


def ratios(seconds: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Per variant: median, min and max over rounds of (its time / the plain step's, same round)."""
    plain = seconds["plain"]
    out = {}
    for name, values in seconds.items():
        r = [v / p for v, p in zip(values, plain)]
        out[name] = {
            "median": statistics.median(r),
            "min": min(r),
            "max": max(r),
            "ms_median": 1e3 * statistics.median(values),
            "ms_min": 1e3 * min(values),
            "ms_max": 1e3 * max(values),
        }
    return out

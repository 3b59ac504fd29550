"""How the trainer computes the task Jacobian: one vmapped backward or K sequential ones.

The choice is made once per trainer, by a documented rule (:func:`choose_jacobian_path`) or by
timing both paths on the first real steps (:class:`JacobianPathProbe`). :class:`JacobianPath`
holds the decision (recorded in every run's record as ``jacobian_path``) and is what the
backward passes call to get the per-task gradients.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

from mtl_lib.core.jacobian import task_jacobians

#: The values ``Trainer(batched_jacobian=...)`` accepts.
BATCHED_JACOBIAN_CHOICES = (True, False, "auto", "probe")

#: Layer types whose vmapped (``is_grads_batched``) backward is slower than K sequential
#: backward passes on CPU: on the leaf CNN (64×64, batch 32, K = 2, one thread) the batched
#: path cost 1.81–1.94× a plain step against 1.53–1.64× for the sequential one, and 110–150 MB
#: more peak memory (``benchmarks/jacobian_path.py`` re-measures it).
_SLOW_BATCHED_ON_CPU = (torch.nn.modules.conv._ConvNd, torch.nn.modules.batchnorm._BatchNorm)


def check_batched_jacobian(batched: Any) -> None:
    """Raise ``ValueError`` naming the valid choices unless ``batched`` is one of them."""
    if not (isinstance(batched, bool) or (isinstance(batched, str) and batched in BATCHED_JACOBIAN_CHOICES)):
        raise ValueError(f"batched_jacobian must be True, False, 'auto' or 'probe', got {batched!r}")


def choose_jacobian_path(model: torch.nn.Module, device: torch.device, batched: bool | str) -> dict[str, Any]:
    """The documented rule behind ``batched_jacobian``: forced ``True``/``False`` are obeyed;
    ``"auto"`` picks the sequential path (K ``autograd.grad`` calls) on CPU when the model has
    convolutions or batch norm, whose batched backward is the slower one there, and the batched
    path (one vmapped backward) otherwise — on accelerators the wider pass fills the device, on
    CPU it replaces K passes of small matrix products by one. Returns ``{"path", "mode",
    "reason"}``; ``Trainer(batched_jacobian="probe")`` measures instead."""
    if batched is True or batched is False:
        path = "batched" if batched else "sequential"
        return {"path": path, "mode": "forced", "reason": f"batched_jacobian={batched}"}
    if batched != "auto":
        raise ValueError(f"batched_jacobian must be True, False, 'auto' or 'probe', got {batched!r}")
    if device.type != "cpu":
        return {"path": "batched", "mode": "auto", "reason": f"rule: {device.type} device → one vmapped backward"}
    slow = sorted({type(m).__name__ for m in model.modules() if isinstance(m, _SLOW_BATCHED_ON_CPU)})
    if slow:
        return {
            "path": "sequential",
            "mode": "auto",
            "reason": f"rule: CPU and {'/'.join(slow)} layers (their vmapped backward is slower on CPU)",
        }
    return {"path": "batched", "mode": "auto", "reason": "rule: CPU, no convolution or batch norm"}


class JacobianPathProbe:
    """Times the batched and the sequential Jacobian on the first real steps, alternating
    (batched, sequential, batched, sequential by default), and picks the faster by each path's
    best time (the minimum is the least disturbed by other load on the machine)."""

    def __init__(self, rounds: int = 2) -> None:
        self.schedule = [True, False] * rounds
        self.seconds: dict[bool, list[float]] = {True: [], False: []}

    def next_path(self) -> bool:
        return self.schedule[len(self.seconds[True]) + len(self.seconds[False])]

    def record(self, batched: bool, seconds: float) -> None:
        self.seconds[batched].append(seconds)

    @property
    def done(self) -> bool:
        return len(self.seconds[True]) + len(self.seconds[False]) >= len(self.schedule)

    def decision(self) -> dict[str, Any]:
        best = {path: min(values) for path, values in self.seconds.items()}
        path = "batched" if best[True] <= best[False] else "sequential"
        return {
            "path": path,
            "mode": "probe",
            "reason": f"probe: best of {len(self.seconds[True])} Jacobians per path, {path} faster",
            "timings_ms": {
                "batched": [round(1e3 * t, 3) for t in self.seconds[True]],
                "sequential": [round(1e3 * t, 3) for t in self.seconds[False]],
            },
        }


class JacobianPath:
    """The trainer's Jacobian path: the decision (:attr:`info`, ``{"path", "mode", "reason"}``),
    whether it is the batched one (:attr:`batched`), and the probe while it is still timing.

    ``needed=False`` (no ingredient needs per-task gradients) records path ``"none"``."""

    def __init__(self, model: torch.nn.Module, device: torch.device, batched: bool | str, *, needed: bool) -> None:
        check_batched_jacobian(batched)
        self.device = device
        self.probe: JacobianPathProbe | None = None
        if not needed:
            self.info: dict[str, Any] = {"path": "none", "reason": "no ingredient needs per-task gradients"}
            self.batched = False
        elif batched == "probe":
            self.probe = JacobianPathProbe()
            self.info = {"path": "probing", "mode": "probe", "reason": "timing both paths on the first steps"}
            self.batched = True
        else:
            self.info = choose_jacobian_path(model, device, batched)
            self.batched = self.info["path"] == "batched"

    def task_jacobians(
        self, terms: torch.Tensor, params: Sequence[torch.Tensor], retain_graph: bool = False
    ) -> list[torch.Tensor]:
        """Per-parameter ``(K, *shape)`` task gradients by the chosen path (timed while probing)."""
        probe = self.probe
        if probe is None:
            return task_jacobians(terms, params, retain_graph=retain_graph, batched=self.batched)
        batched = probe.next_path()
        self._synchronize()
        started = time.perf_counter()
        grads = task_jacobians(terms, params, retain_graph=retain_graph, batched=batched)
        self._synchronize()
        probe.record(batched, time.perf_counter() - started)
        if probe.done:
            self.info = probe.decision()
            self.batched = self.info["path"] == "batched"
            self.probe = None
        return grads

    def _synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def state_dict(self) -> dict[str, Any]:
        """The decision and any probe timings so far (a resumed run keeps the same path)."""
        probe = None if self.probe is None else {str(k): list(v) for k, v in self.probe.seconds.items()}
        return {"info": dict(self.info), "batched": self.batched, "probe_seconds": probe}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.info = dict(state["info"])
        self.batched = bool(state["batched"])
        seconds = state.get("probe_seconds")
        if seconds is None:
            self.probe = None
        else:
            self.probe = self.probe or JacobianPathProbe()
            self.probe.seconds = {True: list(seconds["True"]), False: list(seconds["False"])}

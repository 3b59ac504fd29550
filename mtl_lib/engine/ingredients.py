"""Building and wiring the trainer's ingredients: loss weighting, aggregator, optimizer.

Each builder accepts a registered name (with options) or a ready object, and wires what the
ingredient must know before the first step: a weighting's number of tasks (so its learnable
weights exist before the optimizer is built), the aggregator's parameter names and sizes, and a
task-aware optimizer's shared parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from mtl_lib.aggregators import AGGREGATORS, Aggregator, GramianWeightedAggregator
from mtl_lib.core.errors import UsageError
from mtl_lib.core.model import MultiTaskModel, parameter_names
from mtl_lib.core.optimizers import OPTIMIZERS
from mtl_lib.core.options import OptionError
from mtl_lib.core.runtime import accepts_argument
from mtl_lib.engine.backward import ParameterLayout
from mtl_lib.optim import build_optimizer, consumes_task_gradients
from mtl_lib.weighting import WEIGHTINGS, LossWeighting

#: The values ``Trainer(jacobian_of=...)`` accepts.
JACOBIAN_OF = ("parameters", "representation", "gramian")
#: The values ``Trainer(autocast=...)`` accepts.
AUTOCAST = (None, "bf16")


def build_weighting(
    spec: str | LossWeighting, options: Mapping[str, Any] | None, num_tasks: int, device: torch.device
) -> LossWeighting:
    options = dict(options or {})
    if isinstance(spec, str) and accepts_argument(WEIGHTINGS.get(spec), "num_tasks"):
        # so that learnable per-task weights exist before the optimizer is built
        options.setdefault("num_tasks", num_tasks)
    return WEIGHTINGS.build(spec, **options).to(device)


def build_aggregator(spec: str | Aggregator | None, options: Mapping[str, Any] | None) -> Aggregator | None:
    if spec is None:
        if options:
            raise UsageError(
                f"aggregator_kwargs {sorted(options)} given without an aggregator: pass aggregator='<name>' "
                f"(one of {', '.join(AGGREGATORS.names())}) or drop aggregator_kwargs"
            )
        return None
    return AGGREGATORS.build(spec, **dict(options or {}))


def trainable_parameters(model: torch.nn.Module, weighting: LossWeighting) -> list[torch.nn.Parameter]:
    """The model's then the weighting's trainable parameters: what the optimizer updates."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    return trainable + [p for p in weighting.parameters() if p.requires_grad]


def build_trainer_optimizer(
    spec: Any,
    trainable: Sequence[torch.nn.Parameter],
    lr: float | None,
    options: Mapping[str, Any] | None,
    model: MultiTaskModel,
) -> torch.optim.Optimizer:
    options = dict(options or {})
    if isinstance(spec, str):
        problems = OPTIMIZERS.option_problems(spec, options, supplied={"params"})
        if problems:
            raise OptionError("; ".join(problems))
    if lr is not None:
        options["lr"] = lr
    optimizer = build_optimizer(spec, list(trainable), **options)
    if hasattr(optimizer, "bind_model"):
        # task-aware optimizers must know which parameters are shared before the first step
        optimizer.bind_model(model)
    return optimizer


def parameter_layout(model: MultiTaskModel, weighting: LossWeighting) -> ParameterLayout:
    return ParameterLayout(
        shared=model.shared_parameters(),
        per_task=[model.task_parameters(k) for k in range(model.num_tasks)],
        weighting=[p for p in weighting.parameters() if p.requires_grad],
    )


def bind_aggregator(aggregator: Aggregator | None, model: MultiTaskModel, layout: ParameterLayout) -> None:
    """Tell the aggregator the names and sizes of the parameters whose Jacobian it receives."""
    if aggregator is None:
        return
    if aggregator.acts_on_all_parameters:
        everything = layout.shared + layout.task_flat
        n_shared = len(layout.shared)
        aggregator.bind_all_parameters(
            parameter_names(model, everything),
            [p.numel() for p in everything],
            [True] * n_shared + [False] * (len(everything) - n_shared),
        )
    else:
        aggregator.bind_shared_parameters(parameter_names(model, layout.shared), [p.numel() for p in layout.shared])


def check_representation_level(aggregator: Aggregator | None, model: MultiTaskModel, optimizer: Any) -> None:
    """``jacobian_of="representation"`` needs a Gramian-only aggregator, an encode/decode split
    with one shared representation, and a plain optimizer."""
    if not isinstance(aggregator, GramianWeightedAggregator):
        raise ValueError(
            "jacobian_of='representation' needs an aggregator whose weights depend on the "
            f"Gram matrix only (GramianWeightedAggregator), got {aggregator!r}"
        )
    check = getattr(aggregator, "check_gram_only", None)
    if callable(check):
        check()  # e.g. GradVac per layer needs per-layer parameter Gramians
    if not (hasattr(model, "encode") and hasattr(model, "decode")):
        raise ValueError(f"{type(model).__name__} has no encode/decode split")
    check = getattr(model, "check_shared_representation", None)
    if callable(check):
        check()  # e.g. a task-conditioned trunk has no single shared representation
    if consumes_task_gradients(optimizer):
        raise ValueError("a task-aware optimizer needs parameter-level task gradients")


def check_choice(name: str, value: Any, valid: Sequence[Any]) -> None:
    if value not in valid:
        raise UsageError(f"{name} must be one of {tuple(valid)}, got {value!r}")

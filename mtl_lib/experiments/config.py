"""A run is a plain, serialisable config."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run. Ingredients are registry names.

    ``label`` is how plots and tables name the method (defaults to weighting+aggregator).
    ``device`` is not part of the run's identity: the same config run on a GPU or a CPU is the
    same experiment, and a sweep resumes across them. Nor is the CPU thread count, which the
    sweep pins (``sweep(threads=1)``) and each record states: results are bit-identical for a
    given seed, device and thread count, and may differ in the last digits across thread counts
    (floating-point sums are reduced in another order).
    """

    problem: str
    weighting: str = "ew"
    aggregator: str | None = None
    optimizer: str = "adam"
    lr: float = 1e-3
    epochs: int = 10
    batch_size: int = 32
    seed: int = 0
    problem_kwargs: dict[str, Any] = field(default_factory=dict)
    weighting_kwargs: dict[str, Any] = field(default_factory=dict)
    aggregator_kwargs: dict[str, Any] = field(default_factory=dict)
    optimizer_kwargs: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    device: str = "auto"
    #: Diagnostics recorded into the results file, by their names in
    #: :data:`mtl_lib.diagnostics.DIAGNOSTICS`, e.g. "rau" (AdaTask's rAU bucket shares of every
    #: task, overall and per shared tensor, at the end and over training).
    diagnostics: tuple[str, ...] = ()
    #: Mixed precision for the forward pass: ``None`` (float32) or ``"bf16"`` (bfloat16
    #: autocast; losses, gradients and optimizer state stay float32). Part of the run's identity
    #: only when set, so records made before this field existed keep their run ids.
    autocast: str | None = None
    #: A registered wrapper of :data:`mtl_lib.architectures.ARCHITECTURES` put around the
    #: problem's model (a builder taking ``base=``, e.g. ``"rotograd"``), and its options. The
    #: problem still chooses the network itself: it is tied to the data's shapes.
    architecture: str | None = None
    architecture_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def method_label(self) -> str:
        if self.label:
            return self.label
        parts = [self.weighting.upper()] + ([self.aggregator] if self.aggregator else [])
        return "+".join(parts)

    def identity(self) -> dict[str, Any]:
        """The settings that define the run, normalised as JSON stores them (tuples become
        lists), so a config compares equal to the one read back from its record."""
        data = asdict(self)
        data.pop("device")
        if data["autocast"] is None:
            data.pop("autocast")
        if self.architecture is None and not self.architecture_kwargs:
            # runs without a wrapper keep the identity (and run id) they had before the field existed
            data.pop("architecture")
            data.pop("architecture_kwargs")
        return json.loads(json.dumps(data, sort_keys=True))

    def run_id(self) -> str:
        """Readable and unique: method, seed and a hash of every other setting."""
        digest = hashlib.sha1(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:10]
        parts = [
            self.problem,
            self.weighting,
            self.aggregator or "none",
            self.optimizer,
            f"seed{self.seed}",
        ]
        slug = "-".join(str(part) for part in parts)
        return f"{slug}-{digest}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        data = dict(data)
        if "diagnostics" in data:
            data["diagnostics"] = tuple(data["diagnostics"])
        return cls(**data)

"""The survey's side claims (mtl_lib.studies.survey_claims): every claim is a Claim built from the
library's methods, the verdicts are what the methods compute, and a broken method flips its claim."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from mtl_lib.aggregators.cagrad import CAGrad
from mtl_lib.aggregators.nash_mtl import NashMTL
from mtl_lib.studies import survey_claims
from mtl_lib.studies._common import NOT_REPRODUCED, REPRODUCED, VERDICTS, Claim
from mtl_lib.studies.survey_claims import adatask_pareto, gradient, loss
from mtl_lib.weighting.dwa import DWA
from mtl_lib.weighting.stch import STCH
from mtl_lib.weighting.uw import UncertaintyWeighting


@pytest.fixture(scope="module")
def loss_claims() -> list[Claim]:
    return survey_claims.loss_balancing_claims()


@pytest.fixture(scope="module")
def gradient_claims() -> list[Claim]:
    return survey_claims.gradient_balancing_claims()


def test_every_claim_is_a_claim_with_numbers_and_an_exact_test(loss_claims, gradient_claims):
    for claim in loss_claims + gradient_claims:
        assert isinstance(claim, Claim) and claim.verdict in VERDICTS
        assert claim.paper and claim.test.startswith("exact computation")
        assert any(ch.isdigit() for ch in claim.ours), claim.ours
    texts = [c.claim for c in loss_claims + gradient_claims]
    assert len(set(texts)) == len(texts)


def test_verdicts_as_measured(loss_claims, gradient_claims):
    """Every survey claim holds for the library's methods; AdaTask's inference does not."""
    assert [c.verdict for c in loss_claims] == [REPRODUCED] * len(loss_claims)
    verdicts = {c.claim.split(":")[0]: c.verdict for c in gradient_claims}
    assert verdicts.pop("AdaTask, Pareto remark (inference)") == NOT_REPRODUCED
    assert set(verdicts.values()) == {REPRODUCED}
    assert (len(loss_claims), len(gradient_claims)) == (9, 15)


def test_every_claim_carries_its_register_id(loss_claims, gradient_claims):
    from mtl_lib.studies.claims_register import ENTRIES

    registered = {e.id: e for e in ENTRIES}
    for claim in loss_claims + gradient_claims:
        entry = registered[claim.id]
        assert claim.claim.startswith(entry.prefix), (claim.id, entry.prefix)


def test_graddrop_reads_the_library_purity():
    (claim,) = gradient.graddrop_claims()
    assert "P = 1.0000 and 0.7000" in claim.ours


def test_a_wrong_nash_solver_fails_its_claims(monkeypatch):
    monkeypatch.setattr(NashMTL, "solve", lambda self, gram: torch.ones(gram.shape[0], dtype=torch.float64))
    assert [c.verdict for c in gradient.nash_claims()] == [NOT_REPRODUCED] * 4


def test_uw_weighting_growing_with_sigma_fails_the_claim(monkeypatch):
    def wrong(self, losses):  # the weight e^{+s}: grows with the noise
        return torch.exp(self.log_vars) * losses - self.log_vars

    monkeypatch.setattr(UncertaintyWeighting, "forward", wrong)
    assert {c.verdict for c in loss.uw_claims()} == {NOT_REPRODUCED}


def test_dwa_without_temperature_fails_the_large_t_claim(monkeypatch):
    ignore_t = property(lambda self: None if self.previous is None else 3 * torch.softmax(self.previous, 0))
    monkeypatch.setattr(DWA, "weights", ignore_t)
    assert loss.dwa_claims()[0].verdict == NOT_REPRODUCED


def test_cagrad_that_returns_the_average_fails_its_claim(monkeypatch):
    monkeypatch.setattr(CAGrad, "weights_from_gram", lambda self, gram: torch.ones(gram.shape[0], dtype=gram.dtype))
    assert gradient.cagrad_claims()[0].verdict == NOT_REPRODUCED


def test_stch_without_its_warmup_fails_the_warmup_claim(monkeypatch):
    monkeypatch.setattr(STCH, "in_warmup", property(lambda self: False))
    assert loss.stch_claims()[0].verdict == NOT_REPRODUCED


def test_slides_mgda_closed_form_cases():
    theta, bar = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert gradient._slides_mgda_gamma(theta, bar) == pytest.approx(0.5)
    assert gradient._slides_mgda_gamma(torch.tensor([0.5, 0.0]), torch.tensor([1.0, 0.0])) == 1.0
    assert gradient._slides_mgda_gamma(torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.0])) == 0.0


def test_premise_finds_a_method_better_everywhere():
    table = pd.DataFrame({"A": [0.9, 0.95], "B": [0.7, 0.8]}, index=["AdaTask", "Better"])
    higher = {"A": True, "B": True}
    assert adatask_pareto.beats_on_every_metric(table, higher, "AdaTask", "Better")
    assert not adatask_pareto.beats_on_every_metric(table, {"A": True, "B": False}, "AdaTask", "Better")


def test_claims_table_has_one_row_per_claim(loss_claims):
    table = survey_claims.claims_table(loss_claims)
    assert list(table.columns) == ["claim", "paper", "ours", "verdict", "test"]
    assert list(table.index) == list(range(1, len(loss_claims) + 1))

"""Config checks before anything trains (experiments/validation.py): one run through ``run``,
every config of a sweep through ``validate_configs``. Cases of issue 25 item 1 that a config
can carry; the Trainer's own cases are in tests/engine/test_validation.py."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from mtl_lib.experiments import RunConfig, run
from mtl_lib.experiments.validation import ConfigError, validate_configs, validate_run_config

SMALL = {"n_train": 40, "n_test": 20}


def _config(**changes):
    base = RunConfig(problem="synthetic_regression", epochs=1, batch_size=20, problem_kwargs=SMALL, device="cpu")
    return replace(base, **changes)


def _problems(config):
    with pytest.raises(ConfigError) as caught:
        validate_configs([config])
    return str(caught.value)


def test_run_with_zero_epochs_is_refused_before_training():
    # Before: run(RunConfig(epochs=0)) -> IndexError: list index out of range (after building everything)
    with pytest.raises(ConfigError, match="epochs must be an integer >= 1, got 0") as caught:
        run(_config(epochs=0))
    assert "nothing was trained" in str(caught.value)


def test_run_with_an_unknown_option_is_refused_before_training():
    # Before: TypeError: CAGrad.__init__() got an unexpected keyword argument 'alpha', after the
    # problem (data, model) had been built
    with pytest.raises(ConfigError, match=r"aggregator 'cagrad' takes no option\(s\) \['alpha'\]; its options: c"):
        run(_config(aggregator="cagrad", aggregator_kwargs={"alpha": 0.5}))


def test_run_with_a_failed_record_keeps_the_reason():
    # raise_errors=False (sweep workers): the config error becomes the failed record's error.
    record = run(_config(batch_size=0), raise_errors=False)
    assert record["status"] == "failed" and "batch_size must be an integer >= 1" in record["error"]["message"]


def test_weighting_uncertainty_suggests_uw_in_a_config():
    # Before: unknown weighting 'uncertainty'; valid names: ... (no suggestion)
    assert "did you mean 'uw' (UW: uncertainty weighting" in _problems(_config(weighting="uncertainty"))


def test_optimizer_options_of_a_sweep_are_checked_before_training():
    # Before: no error from validate_configs; TypeError from AdaTask.__init__ when the run began
    message = _problems(_config(optimizer="adatask_adam", optimizer_kwargs={"bogus": 1}))
    assert "optimizer 'adatask_adam' takes no option(s) ['bogus']; its options: alpha" in message


def test_torch_optimizer_option_with_a_did_you_mean():
    # Before: takes no option(s) ['momentun'] (no suggestion)
    message = _problems(_config(optimizer="sgd", optimizer_kwargs={"momentun": 0.9}))
    assert "'momentun': did you mean 'momentum'?" in message


def test_learning_rate_in_the_optimizer_options_names_the_config_field():
    # Before: "takes no option(s) ['lr']" without saying where the learning rate goes
    message = _problems(_config(optimizer_kwargs={"lr": 0.1}))
    assert "takes no option(s) ['lr']" in message and "'lr' set by the library" in message


def test_unknown_architecture_with_a_suggestion():
    # Before: not checked; UnknownNameError when the run built its model
    message = _problems(_config(architecture="rotogard"))
    assert "unknown architecture 'rotogard'; valid names:" in message and "did you mean 'rotograd'" in message


def test_architecture_option_names_are_checked():
    # Before: not checked; TypeError from rotograd() when the run built its model
    message = _problems(_config(architecture="rotograd", architecture_kwargs={"burn_in": 5}))
    assert "architecture 'rotograd' takes no option(s) ['burn_in']" in message
    assert "did you mean 'burn_in_period'" in message


def test_architecture_options_without_an_architecture():
    message = _problems(_config(architecture_kwargs={"latent_dim": 4}))
    assert "architecture_kwargs ['latent_dim'] given without an architecture" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_run_on_a_device_this_machine_lacks():
    # Before: RuntimeError from resolve_device inside the run; a sweep's config check accepts
    # device="cuda" (the runs may go to a cluster), the run's own check does not.
    validate_configs([_config(device="cuda")])
    with pytest.raises(ConfigError, match="CUDA is not available here: use 'auto' or 'cpu'"):
        validate_run_config(_config(device="cuda"))


def test_a_valid_config_passes():
    validate_run_config(_config())
    validate_run_config(_config(weighting="uw", aggregator="pcgrad", optimizer="adatask_rmsprop"))

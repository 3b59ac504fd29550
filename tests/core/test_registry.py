import pytest

from mtl_lib import AGGREGATORS, OPTIMIZERS, WEIGHTINGS
from mtl_lib.aggregators import PCGrad
from mtl_lib.core.options import OptionError
from mtl_lib.core.registry import Registry, UnknownNameError


def test_unknown_name_lists_valid_names():
    with pytest.raises(UnknownNameError) as info:
        AGGREGATORS.build("pcgard")
    message = str(info.value)
    assert "pcgard" in message and "pcgrad" in message and "Valid names" in message
    assert "Did you mean 'pcgrad'" in message


def test_build_by_name_or_object():
    assert isinstance(AGGREGATORS.build("PCGrad", seed=3), PCGrad)
    obj = PCGrad()
    assert AGGREGATORS.build(obj) is obj
    with pytest.raises(TypeError):
        AGGREGATORS.build(obj, seed=1)


def test_double_registration_is_refused():
    registry: Registry[int] = Registry("thing")
    registry.register("a")(int)
    with pytest.raises(ValueError):
        registry.register("A")(float)


def test_core_names_present():
    assert "ew" in WEIGHTINGS
    assert {"sgd", "adam", "rmsprop", "adagrad", "adamw"} <= set(OPTIMIZERS.names())


# ----------------------------------------------------------------------------- suggestions
@pytest.mark.parametrize(
    ("registry", "typed", "meant"),
    [
        (WEIGHTINGS, "uncertainty", "uw"),  # a word of UW's description, not close in spelling
        (WEIGHTINGS, "random", "rlw"),  # difflib alone would say 'gradnorm'
        (WEIGHTINGS, "dynamic weight average", "dwa"),
        (AGGREGATORS, "vaccine", "gradvac"),
        (AGGREGATORS, "gradient surgery", "pcgrad"),
        (AGGREGATORS, "pcgard", "pcgrad"),  # spelling
        (AGGREGATORS, "nash", "nash_mtl"),
        (OPTIMIZERS, "adatask", "adatask_adam"),
    ],
)
def test_did_you_mean_reads_descriptions_as_well_as_spelling(registry, typed, meant):
    assert registry.suggest(typed) == meant
    with pytest.raises(UnknownNameError, match=f"Did you mean '{meant}'"):
        registry.get(typed)


def test_aliases_are_suggested_not_accepted():
    registry: Registry[int] = Registry("thing")
    registry.register("uw", aliases=("uncertainty",), description="UW: uncertainty weighting")(int)
    assert registry.suggest("Uncertainty") == "uw" and registry.describe("uw") == "UW: uncertainty weighting"
    assert "uncertainty" not in registry


def test_nothing_close_gives_no_suggestion():
    with pytest.raises(UnknownNameError) as info:
        AGGREGATORS.get("zzz")
    assert "Did you mean" not in str(info.value)


def test_describe_is_one_plain_sentence():
    assert WEIGHTINGS.describe("uw").startswith("UW: uncertainty weighting")
    assert "(L. Liu" in WEIGHTINGS.describe("imtl_l")  # an initial does not end the sentence
    assert all(":mod:" not in AGGREGATORS.describe(n) and "``" not in AGGREGATORS.describe(n) for n in AGGREGATORS)


# ----------------------------------------------------------------------------- options
def test_option_names_follow_forwarded_keywords_to_the_base_class():
    # The registered AdaTask classes take **kwargs and forward them to AdaTask.__init__.
    assert {"alpha", "betas", "eps"} <= set(OPTIMIZERS.option_names("adatask_adam", supplied={"params"}))
    assert OPTIMIZERS.option_names("sgd", supplied={"params"}).count("momentum") == 1
    assert WEIGHTINGS.option_names("ew") == []  # no __init__ of its own: no options


def test_build_refuses_unknown_options_before_the_factory_runs():
    calls = []
    registry: Registry[dict] = Registry("thing")
    registry.register("a")(lambda *, size=1: calls.append(size) or {})
    with pytest.raises(
        OptionError, match=r"thing 'a' takes no option\(s\) \['sise'\]; its options: size; 'sise': did you mean 'size'"
    ):
        registry.build("a", sise=2)
    assert calls == []

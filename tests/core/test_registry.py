import pytest

from mtl_lib import AGGREGATORS, OPTIMIZERS, WEIGHTINGS
from mtl_lib.aggregators import PCGrad
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

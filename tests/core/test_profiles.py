import pytest

from mtl_lib.core.profiles import PROFILES, UnknownProfileError, check_profile, select


def test_profiles_and_default_order():
    assert PROFILES == ("smoke", "quick", "paper")
    assert select("quick", {"smoke": 1, "quick": 2, "paper": 3}) == 2


def test_unknown_profile_names_the_valid_ones():
    with pytest.raises(UnknownProfileError, match="smoke, quick, paper"):
        check_profile("fast")


def test_incomplete_table_is_an_error():
    with pytest.raises(ValueError, match="paper"):
        select("smoke", {"smoke": 1, "quick": 2})

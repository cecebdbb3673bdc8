"""The shared input types: one spelling each, and a published pattern that says exactly what is taken."""

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from app.core.http.schemas import NAME_PATTERN, Name, PathId, QueryBool

_names = TypeAdapter(Name)


def _accepted(adapter: TypeAdapter[Any], value: Any) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


@given(st.text(alphabet=st.sampled_from(" \t\r\n\x0b\x0c\x1c\x1f\x85\xa0\u2028\u3000\ufeffab\x00"), max_size=6))
def test_the_name_pattern_says_exactly_which_names_are_taken(name: str) -> None:
    assert bool(re.search(NAME_PATTERN, name)) == _accepted(_names, name)


def test_a_name_is_stored_without_the_whitespace_around_it() -> None:
    assert _names.validate_python("  Weekend sale \n") == "Weekend sale"


@pytest.mark.parametrize(("spelled", "value"), [("1", 1), ("42", 42), ("2147483647", 2147483647)])
def test_a_path_id_is_plain_digits(spelled: str, value: int) -> None:
    assert TypeAdapter(PathId).validate_python(spelled) == value


@pytest.mark.parametrize(
    "bad", ["+1", "01", "1.0", " 1", "1 ", "\u0661", "\uff11", "1_0", "0x1", "", "-1", "9" * 30, True]
)
def test_a_path_id_in_any_other_spelling_is_refused(bad: Any) -> None:
    assert not _accepted(TypeAdapter(PathId), bad)


def test_a_query_boolean_is_true_or_false() -> None:
    adapter = TypeAdapter(QueryBool)
    assert (adapter.validate_python("true"), adapter.validate_python("false")) == (True, False)
    for bad in ["True", "1", "0", "yes", "on", "", "t"]:
        assert not _accepted(adapter, bad)

"""The codec and the rebuilding of stored data: strict, naming the attribute, never shadowing behaviour."""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from liteflow.core.codec import copy_json, encode_data, to_jsonable
from liteflow.core.errors import SerializationError
from liteflow.core.serialization import rebuild, validate_into


def test_to_jsonable_refuses_what_would_change_naming_the_path() -> None:
    for value in (math.nan, -math.inf, {1}, frozenset(), Decimal("1"), print, object()):
        with pytest.raises(SerializationError, match=r"^data\.a\[0\]\.b: "):
            to_jsonable({"a": [{"b": value}]})
    with pytest.raises(SerializationError, match=r"data\.a: dict key 1 is not a string"):
        to_jsonable({"a": {1: 2}})


def test_to_jsonable_keeps_json_and_writes_times_as_text() -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert to_jsonable({"a": (1, [2.5, None]), "b": when, "c": True}) == {
        "a": [1, [2.5, None]],
        "b": "2024-01-02T03:04:05Z",
        "c": True,
    }


class Account:
    def __init__(self) -> None:
        self.balance = 0

    def total(self) -> int:
        return self.balance


@dataclasses.dataclass
class Order:
    amount: Decimal = Decimal("0")
    tags: set[str] = dataclasses.field(default_factory=set)
    extra: Any = None


def test_encode_data_stores_declared_types_and_refuses_what_would_not_come_back() -> None:
    stored = encode_data(Order(Decimal("2.5"), {"x"}))
    assert stored == {"amount": "2.5", "tags": ["x"], "extra": None}
    assert rebuild(stored, Order) == Order(Decimal("2.5"), {"x"})
    with pytest.raises(SerializationError, match=r"data\.extra: a set"):
        encode_data(Order(extra={1}))
    order = Order()
    order.valeu = 3  # type: ignore[attr-defined]
    with pytest.raises(SerializationError, match=r"data\.valeu: not a field"):
        encode_data(order)


def test_copy_json_shares_nothing_mutable() -> None:
    value = {"a": [1, {"b": [2]}]}
    copied = copy_json(value)
    assert copied == value
    copied["a"][1]["b"].append(3)
    assert value == {"a": [1, {"b": [2]}]}


def test_validate_into_keeps_the_values() -> None:
    assert validate_into({"amount": "1.5", "tags": ["a"]}, Order) == Order(Decimal("1.5"), {"a"})
    account = validate_into({"balance": 3}, Account)
    assert isinstance(account, Account) and account.balance == 3
    with pytest.raises(SerializationError, match=r"data\.total"):
        validate_into({"total": 3}, Account)  # a method, not a field
    assert validate_into({"x": 1}, None) == {"x": 1}

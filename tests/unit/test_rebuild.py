"""Rebuilding stored data as a class: a stored key never replaces a method or property of the class."""

from __future__ import annotations

import logging

import pytest

from liteflow.core.serialization import rebuild


class Account:
    kind = "plain"  # a class attribute that is data, not behaviour

    def __init__(self) -> None:
        self.balance = 0

    def total(self) -> int:
        return self.balance + 1

    @property
    def label(self) -> str:
        return f"account {self.balance}"


def test_stored_keys_never_replace_methods_or_properties(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="liteflow")
    doc = {"balance": 4, "total": "forged", "label": "forged", "__class__": "x", "__init__": 1, "kind": "k"}
    account = rebuild(doc, Account)
    assert type(account) is Account
    assert account.balance == 4 and account.total() == 5 and account.label == "account 4"
    assert account.kind == "k"
    assert "data.keys_ignored" in caplog.text and "total" in caplog.text

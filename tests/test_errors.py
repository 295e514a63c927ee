"""The isolation boundary: one actor's failure, of any type, becomes that actor's typed error."""

from __future__ import annotations

import pytest

from lairs_etl.errors import CarFormatError, LairsError, UnexpectedError, isolated


def test_a_result_passes_through() -> None:
    assert isolated(lambda: 42, actor="did:plc:a") == 42


def test_a_lairs_error_keeps_its_type_and_gains_the_actor() -> None:
    def fail() -> None:
        raise CarFormatError("truncated")

    error = isolated(fail, actor="did:plc:a")
    assert isinstance(error, CarFormatError)
    assert (error.actor, error.type_name) == ("did:plc:a", "CarFormatError")


def test_an_actor_already_named_is_kept() -> None:
    def fail() -> None:
        raise CarFormatError("truncated", actor="did:plc:first")

    error = isolated(fail, actor="did:plc:outer")
    assert isinstance(error, LairsError)
    assert error.actor == "did:plc:first"


def test_anything_else_becomes_an_unexpected_error_naming_its_cause() -> None:
    def fail() -> None:
        raise RecursionError("maximum recursion depth exceeded")

    error = isolated(fail, actor="did:plc:a")
    assert isinstance(error, UnexpectedError)
    assert error.type_name == "RecursionError"
    assert isinstance(error.__cause__, RecursionError)
    assert "recursion" in str(error)


def test_interrupts_are_not_isolated() -> None:
    def stop() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        isolated(stop)

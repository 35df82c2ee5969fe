"""The shared helpers: the exception-chain walk and the dlt setting reader."""

from __future__ import annotations

import pytest

from ingestion.dlt_config import dlt_setting
from ingestion.errors import exception_chain, is_duckdb_lock_error, root_cause


def _raised_chain() -> BaseException:
    try:
        try:
            try:
                raise OSError("IO Error: Could not set lock on file x.duckdb")
            except OSError as inner:
                raise ValueError("wrapped") from inner
        except ValueError:
            raise RuntimeError("dlt step failed") from None  # suppressed cause: the context remains
    except RuntimeError as outer:
        return outer


def test_the_chain_runs_outermost_to_innermost_through_causes_and_contexts() -> None:
    error = _raised_chain()
    assert [type(e).__name__ for e in exception_chain(error)] == ["RuntimeError", "ValueError", "OSError"]
    assert isinstance(root_cause(error), OSError)
    assert is_duckdb_lock_error(error)
    assert not is_duckdb_lock_error(ValueError("something else"))


def test_a_cyclic_chain_ends() -> None:
    first, second = ValueError("a"), KeyError("b")
    first.__cause__, second.__cause__ = second, first
    assert list(exception_chain(first)) == [first, second]
    assert root_cause(first) is second


def test_the_end_of_an_iteration_is_never_the_root_cause() -> None:
    """An error raised in a generator dlt resumed while handling another generator's end has that StopIteration
    as its context; the chain stops at the error (the round 17 review saw 'StopIteration:' as a load's cause)."""
    try:
        try:
            next(iter([]))
        except StopIteration:
            raise OSError(28, "No space left on device") from None  # the context stays, suppressed
    except OSError as error:
        raised = error
    assert isinstance(raised.__context__, StopIteration)
    assert [type(e).__name__ for e in exception_chain(raised)] == ["OSError"]
    assert root_cause(raised) is raised


def test_a_dlt_setting_is_read_typed_and_blank_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__C360TEST__BASE_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("SOURCES__C360TEST__HOURS", "1.5")
    monkeypatch.setenv("SOURCES__C360TEST__BLANK", "  ")
    monkeypatch.setenv("SOURCES__C360TEST__TOKEN", "s3cret")
    assert dlt_setting("sources.c360test.base_url") == "http://127.0.0.1:1"
    assert dlt_setting("sources.c360test.hours", float) == 1.5
    assert dlt_setting("sources.c360test.blank") is None
    assert dlt_setting("sources.c360test.missing") is None
    assert str(dlt_setting("sources.c360test.token", secret=True)) == "s3cret"

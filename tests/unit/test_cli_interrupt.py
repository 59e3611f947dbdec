"""Ctrl-C ends a command with one line and status 130, also inside a DuckDB query."""

from __future__ import annotations

import pytest

from vigile import cli


def _raising(exc: BaseException) -> object:
    def app() -> None:
        raise exc

    return app


@pytest.mark.parametrize(
    "exc", [KeyboardInterrupt(), RuntimeError("Query interrupted")], ids=["python", "duckdb"]
)
def test_when_interrupted_then_one_line_and_status_130(
    exc: BaseException, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "app", _raising(exc))
    with pytest.raises(SystemExit) as ended:
        cli.main()
    assert ended.value.code == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err


def test_when_duckdb_raises_its_interrupt_exception_then_it_is_an_interrupt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import duckdb

    monkeypatch.setattr(cli, "app", _raising(duckdb.InterruptException("INTERRUPT Error")))
    with pytest.raises(SystemExit) as ended:
        cli.main()
    assert ended.value.code == 130


def test_when_another_runtime_error_happens_then_it_is_not_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "app", _raising(RuntimeError("something else")))
    with pytest.raises(RuntimeError, match="something else"):
        cli.main()

"""The CLI's contract with a user: one clear line and a non-zero exit for user errors, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ingestion.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("customer360: error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_missing_events_folder_is_one_clear_line(warehouse: Path, tmp_path: Path) -> None:
    result = run_cli("load", "segment", "--path", str(tmp_path / "nowhere"))
    assert_user_error(result, "nowhere")


def test_serve_without_generated_data(tmp_path: Path) -> None:
    result = run_cli("serve", "--data", str(tmp_path / "empty"))
    assert_user_error(result, "customer360 generate")


def test_csv_drop_needs_mapping_and_name(warehouse: Path, tmp_path: Path) -> None:
    result = run_cli("load", "csv_contacts", "--path", str(tmp_path))
    assert_user_error(result, "--mapping", "--source-name")


def test_unreachable_server_names_the_source(warehouse: Path) -> None:
    env = {
        "SOURCES__HUBSPOT__BASE_URL": f"http://127.0.0.1:{free_port()}",
        "SOURCES__HUBSPOT__ACCESS_TOKEN": "not-used",
        "RUNTIME__REQUEST_MAX_ATTEMPTS": "1",
    }
    result = run_cli("load", "hubspot", env=env)
    assert_user_error(result, "hubspot")


def test_locked_warehouse_is_reported_not_a_traceback(
    warehouse: Path, demo_data: Path, write_lock_held: Callable[[Path], AbstractContextManager[None]]
) -> None:
    with write_lock_held(warehouse):
        result = run_cli("load", "segment", "--path", str(demo_data / "segment"))
    assert_user_error(result, "locked by another process", str(warehouse))


@pytest.mark.parametrize("argv", [["generate", "--customers", "0"], ["demo", "--as-of", "yesterday"]])
def test_bad_arguments_exit_non_zero(argv: list[str]) -> None:
    result = run_cli(*argv)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_build_help_prints_help_and_builds_nothing(flag: str, warehouse: Path) -> None:
    """`build` hands its arguments to dbt, but help must be answered, never run as a build."""
    result = run_cli("build", "--select", "customers", flag, env={"CUSTOMER360_DUCKDB_PATH": str(warehouse)})
    assert result.returncode == 0, result.stderr
    assert "Every argument after `build` goes to dbt build" in " ".join(result.stdout.split())
    assert not warehouse.exists(), "help started a build"


def test_serve_removes_its_bulk_files_when_terminated(tmp_path: Path) -> None:
    """`serve` stopped by SIGTERM (as scripts and the pipeline benchmark stop it) closes its servers, so the
    Shopify server's bulk export folder is removed: at 1M people each export left 4 GB in the temporary folder."""
    data, scratch = tmp_path / "data", tmp_path / "tmp"
    scratch.mkdir()
    generated = run_cli("generate", "--out", str(data), "--customers", "30", "--seed", "3")
    assert generated.returncode == 0, generated.stderr
    ports = ("--hubspot-port", "0", "--shopify-port", "0", "--mailchimp-port", "0")
    server = subprocess.Popen(
        [sys.executable, "-m", "ingestion.cli", "serve", "--data", str(data), *ports],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().startswith("export "), "the servers did not start"
        assert [p.name for p in scratch.iterdir() if p.name.startswith("shopify-bulk-")], "no bulk folder to check"
        server.terminate()
        assert server.wait(timeout=30) == 143  # 128 + SIGTERM, as a terminated process exits
    finally:
        server.kill()
    assert list(scratch.iterdir()) == []


def test_a_warehouse_duckdb_cannot_write_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """DuckDB raises its own IOException, not an OSError, when the warehouse's device is read-only: `build` and
    `erase --apply` ended in a traceback from the erasure step that opens the warehouse first (round 26's hostile
    review). Now one line naming the file; DuckDB's other errors are still raised."""
    import duckdb

    from ingestion import cli
    from ingestion.privacy import erasure

    warehouse = tmp_path / "customer360.duckdb"
    monkeypatch.setenv("CUSTOMER360_DUCKDB_PATH", str(warehouse))
    message = f'IO Error: Cannot open file "{warehouse}": Read-only file system'
    connect = duckdb.connect

    def refused(error: Exception) -> Any:
        def opened(database: Any = ":memory:", *args: Any, **kwargs: Any) -> Any:
            if str(database) == str(warehouse):  # the warehouse only: the settings check opens DuckDB in memory
                raise error
            return connect(database, *args, **kwargs)

        return opened

    monkeypatch.setattr(erasure.duckdb, "connect", refused(duckdb.IOException(message)))
    for command in (["build"], ["erase", "--apply"]):
        assert cli.main(command) == 1
        said = capsys.readouterr().err
        assert said.count("customer360: error:") == 1 and "Traceback" not in said, said
        assert f"customer360: error: {message}: the file system is read-only" in said

    corrupt = duckdb.SerializationException("Serialization Error: unexpected end of file")
    monkeypatch.setattr(erasure.duckdb, "connect", refused(corrupt))
    with pytest.raises(duckdb.SerializationException):
        cli.main(["build"])


def test_a_full_disk_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Seen in a 1M benchmark: `generate --delta` on a full disk ended in a traceback. A full or read-only device is
    said in one line with the file; any other OSError is still raised (a bug must show where it is)."""
    import errno

    from ingestion import cli

    def full_disk(_args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", "data/segment/2026-11-30/events-0002.jsonl")

    monkeypatch.setattr(cli, "_run", full_disk)
    assert cli.main(["generate"]) == 1
    said = capsys.readouterr().err
    assert "Traceback" not in said
    assert said.count("customer360: error:") == 1
    assert "No space left on device (data/segment/2026-11-30/events-0002.jsonl)" in said

    def read_only_disk(_args: object) -> int:
        raise OSError(errno.EROFS, "Read-only file system", "warehouse/customer360.duckdb.load-turn.lock")

    monkeypatch.setattr(cli, "_run", read_only_disk)
    assert cli.main(["load", "all"]) == 1
    said = capsys.readouterr().err
    assert said.count("customer360: error:") == 1 and "Traceback" not in said
    assert "Read-only file system (warehouse/customer360.duckdb.load-turn.lock): the file system is read-only" in said
    assert "free space" not in said  # round 26 advised freeing space on a read-only device

    def broken_disk(_args: object) -> int:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(cli, "_run", broken_disk)
    with pytest.raises(OSError):
        cli.main(["generate"])

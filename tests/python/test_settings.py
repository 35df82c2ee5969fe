"""Settings: resolved once from the environment, the dbt project found without an editable install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

from ingestion.errors import UserError
from ingestion.settings import Settings, find_project_dir


def _project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dbt_project.yml").write_text("name: x\n")
    return folder


def test_every_setting_comes_from_the_mapping_given(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    env = {
        "CUSTOMER360_PROJECT_DIR": str(project),
        "CUSTOMER360_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        "CUSTOMER360_DUCKDB_THREADS": "3",
        "CUSTOMER360_DUCKDB_MEMORY_LIMIT": "1GB",
        "CUSTOMER360_MAX_LINE_BYTES": "1000",
    }
    settings = Settings.from_environment(env, cwd=tmp_path)
    assert settings.project_dir == project
    assert settings.duckdb_path == tmp_path / "w.duckdb"
    assert settings.data_dir == project / "data" / "demo"  # defaults sit in the project folder
    assert settings.pipelines_dir == project / ".dlt_pipelines"
    assert settings.max_line_bytes == 1000
    assert settings.duckdb_config() == {
        "memory_limit": "1GB",
        "threads": "3",
        "temp_directory": f"{tmp_path / 'w.duckdb'}.tmp",
    }
    assert settings.dbt_environment()["CUSTOMER360_DUCKDB_PATH"] == str(tmp_path / "w.duckdb")
    # a child process resolves the very same settings from what it is handed
    assert Settings.from_environment(settings.child_environment(), cwd=tmp_path / "elsewhere") == settings
    with pytest.raises(AttributeError):
        settings.duckdb_path = tmp_path  # type: ignore[misc]  # frozen: nothing changes it on the way down


@pytest.mark.parametrize(
    ("name", "value"), [("CUSTOMER360_DUCKDB_THREADS", "zero"), ("CUSTOMER360_MAX_REJECT_TEXT_BYTES", "-5")]
)
def test_a_bad_number_is_one_clear_error(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(UserError, match=name):
        Settings.from_environment({name: value}, cwd=tmp_path)


def test_project_folder_precedence(tmp_path: Path) -> None:
    explicit, cwd, checkout = (_project(tmp_path / name) for name in ("explicit", "cwd", "checkout"))
    assert find_project_dir(explicit, cwd, checkout) == explicit
    assert find_project_dir(None, cwd, checkout) == cwd
    assert find_project_dir(None, tmp_path / "plain", checkout) == checkout
    assert find_project_dir(None, tmp_path / "plain", tmp_path / "site-packages") is None
    with pytest.raises(UserError, match=r"has no dbt_project\.yml"):
        find_project_dir(tmp_path / "plain", cwd, checkout)


def test_without_a_project_folder_dbt_commands_say_how_to_give_one(tmp_path: Path) -> None:
    settings = Settings(project_dir=None, duckdb_path=tmp_path / "w", data_dir=tmp_path, pipelines_dir=tmp_path)
    with pytest.raises(UserError, match="--project-dir or set CUSTOMER360_PROJECT_DIR"):
        settings.dbt_project()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package installed the regular (non-editable) way, from a copy of the sources (pip builds in place)."""
    root = tmp_path_factory.mktemp("regular_install")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT_ROOT / name, source / name)
    shutil.copytree(PROJECT_ROOT / "ingestion", source / "ingestion", ignore=shutil.ignore_patterns("__pycache__"))
    site = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-compile",
         "--target", str(site), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert not (site / "dbt_project.yml").exists() and (site / "ingestion" / "settings.py").is_file()
    return site


def _run_installed(site: Path, cwd: Path, code: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """Python with only the installed copy importable (-P: the current folder is not put on sys.path)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMER360_")}
    environment.update(PYTHONPATH=str(site), **env)
    return subprocess.run(
        [sys.executable, "-P", *code], cwd=cwd, env=environment, capture_output=True, text=True, timeout=300
    )


def test_a_regular_install_finds_the_project_from_its_folder_the_variable_or_the_option(
    installed: Path, tmp_path: Path
) -> None:
    probe = (
        "import ingestion, sys; from ingestion.settings import Settings; "
        "print(ingestion.__file__); print(Settings.from_environment().project_dir)"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    from_project = _run_installed(installed, PROJECT_ROOT, ["-c", probe])
    assert from_project.returncode == 0, from_project.stderr
    module, project = from_project.stdout.split()
    assert Path(module).is_relative_to(installed), "the installed copy must be the one imported"
    assert Path(project) == PROJECT_ROOT
    outside = _run_installed(installed, elsewhere, ["-c", probe])
    assert outside.stdout.split()[1] == "None"
    by_variable = _run_installed(installed, elsewhere, ["-c", probe], CUSTOMER360_PROJECT_DIR=str(PROJECT_ROOT))
    assert Path(by_variable.stdout.split()[1]) == PROJECT_ROOT

    # Outside the project and told nothing: a dbt command is one clear line and status 2, no traceback.
    build = _run_installed(
        installed, elsewhere, ["-m", "ingestion.cli", "build"], CUSTOMER360_DUCKDB_PATH=str(tmp_path / "w.duckdb")
    )
    assert build.returncode == 2
    assert build.stderr.strip().splitlines() == [
        "customer360: error: no customer360 dbt project found: run from the project folder (the one with "
        "dbt_project.yml), pass --project-dir or set CUSTOMER360_PROJECT_DIR"
    ]
    # With --project-dir, dbt runs on that project from the installed package.
    parse = _run_installed(
        installed,
        elsewhere,
        [
            "-c",
            "import sys; from pathlib import Path; from ingestion.settings import Settings; "
            "from ingestion.dbt_runner import run_dbt; "
            "print(run_dbt(['parse'], settings=Settings.from_environment(project_dir=Path(sys.argv[1]))).success)",
            str(PROJECT_ROOT),
        ],
        CUSTOMER360_DUCKDB_PATH=str(tmp_path / "w.duckdb"),
    )
    assert parse.returncode == 0 and parse.stdout.strip() == "True", parse.stderr[-2000:]


def test_a_command_resolves_its_settings_once_and_passes_them_down(
    demo_data: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`customer360 load hubspot` reads the environment once; the loader, dlt's pipeline and destination, the run
    lock and the erasure check after the load get the settings as an argument (a fallback would count here)."""
    from ingestion import cli, settings
    from ingestion.demo_kit.servers.hubspot import HubSpotServer

    calls: list[int] = []
    resolve_from_environment = settings.Settings.from_environment.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Settings], *args: object, **kwargs: object) -> Settings:
        calls.append(1)
        return resolve_from_environment(cls, *args, **kwargs)

    monkeypatch.setattr(settings.Settings, "from_environment", classmethod(counted))
    with HubSpotServer(demo_data, "pat-settings-test") as server:
        monkeypatch.setenv("SOURCES__HUBSPOT__BASE_URL", server.url)
        monkeypatch.setenv("SOURCES__HUBSPOT__ACCESS_TOKEN", "pat-settings-test")
        assert cli.main(["load", "hubspot"]) == 0
    assert len(calls) == 1
    assert warehouse.is_file()  # the warehouse the environment named, reached through the passed settings

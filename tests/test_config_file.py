"""The config file and the layers: flags > environment > file > defaults, and `config` commands."""

from __future__ import annotations

import json
import shutil
import stat
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from agent_cli import config, configfile
from agent_cli.cli import cli
from agent_cli.errors import ConfigError

KEY = "sk_test_secret_canary_0123456789"


def invoke(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=True)


def cfg_file(isolated_home: Path) -> Path:
    return isolated_home / ".config" / "agent-cli" / "config.toml"


def test_the_file_lives_in_the_user_config_dir_unless_agent_cli_config_says(
    isolated_home: Path, tmp_path: Path
) -> None:
    assert configfile.path() == cfg_file(isolated_home)
    assert configfile.path({"AGENT_CLI_CONFIG": str(tmp_path / "x.toml")}) == tmp_path / "x.toml"
    assert invoke("config", "path").output.strip() == str(cfg_file(isolated_home))


@given(st.dictionaries(
    st.text("abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=12),
    st.one_of(st.text(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
              st.booleans(), st.lists(st.text(), max_size=3)),
    max_size=6,
))  # fmt: skip
def test_the_writer_writes_what_tomllib_reads_back(table: dict[str, object]) -> None:
    assert tomllib.loads(configfile.dumps(table)) == table


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    configfile.write(file, {"endpoint": "https://file.example", "poll_interval": 5.0,
                            "paths": "hash", "agents": ["codex"]})  # fmt: skip
    env = {"SUTRACE_ENDPOINT": "https://env.example", "AGENT_CLI_PATHS": "basename"}
    r = config.resolve({"endpoint": "https://flag.example"}, env, file)
    assert r.values["endpoint"] == "https://flag.example" and r.origins["endpoint"] == "flag"
    assert r.values["paths"] == "basename" and r.origins["paths"] == "env AGENT_CLI_PATHS"
    assert r.values["poll_interval"] == 5.0 and r.origins["poll_interval"] == "file"
    assert r.values["agents"] == ("codex",) and r.origins["agents"] == "file"
    assert r.values["identity"] == "keep" and r.origins["identity"] == "default"
    s = config.build(r, once=True)
    assert (s.endpoint, s.privacy.paths, s.poll_seconds, s.agents, s.once) == (
        "https://flag.example", "basename", 5.0, ("codex",), True)  # fmt: skip
    assert s.privacy.identity == "keep" and s.log_level == "INFO" and s.sinks == ("sutrace", "otlp")


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({"poll_interval": "fast"}, "poll_interval must be a number"),
        ({"poll_interval": 0.0}, "poll_interval must be between"),
        ({"paths": "everything"}, "paths must be one of"),
        ({"agents": "codex"}, None),  # a string is a comma-separated list
        ({"sinks": ["otlp-nowhere"]}, "sinks may name only"),
        ({"endpont": "https://x"}, "unknown settings (endpont)"),
        ({"endpoint": "http://example.com"}, "plain http"),
        ({"log_level": "loud"}, "log_level must be one of"),
    ],
)
def test_a_bad_file_value_is_one_sentence_naming_the_file(
    tmp_path: Path, table: dict[str, object], says: str | None
) -> None:
    file = tmp_path / "c.toml"
    configfile.write(file, table)
    if says is None:
        config.resolve({}, {}, file)
        return
    with pytest.raises(ConfigError, match=r"c\.toml") as e:
        config.resolve({}, {}, file)
    assert says in str(e.value)


def test_a_file_that_is_not_toml_is_a_usage_error(isolated_home: Path) -> None:
    f = cfg_file(isolated_home)
    f.parent.mkdir(parents=True)
    f.write_text(f'key = "{KEY}"\nthis is not toml\n')
    r = invoke("config", "show")
    assert r.exit_code == 2 and "not valid TOML" in r.output
    assert KEY not in r.output
    r = invoke("start", "--once", "--dry-run")
    assert r.exit_code == 2 and "not valid TOML" in r.output and "Traceback" not in r.output


def test_config_set_writes_a_0600_file_and_show_says_where_each_value_came_from(
    isolated_home: Path,
) -> None:
    assert invoke("config", "set", "key", input=KEY + "\n").exit_code == 0  # prompted, no echo
    assert invoke("config", "set", "poll_interval", "2.5").exit_code == 0
    assert invoke("config", "set", "agents", "claude,codex").exit_code == 0
    f = cfg_file(isolated_home)
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert stat.S_IMODE(f.parent.stat().st_mode) == 0o700
    assert tomllib.loads(f.read_text()) == {
        "key": KEY, "poll_interval": 2.5, "agents": ["claude", "codex"]}  # fmt: skip
    r = invoke("config", "show", env={"AGENT_CLI_IDENTITY": "hash"})
    assert r.exit_code == 0
    assert KEY not in r.output and "…6789" in r.output
    lines = {line.split()[0]: line for line in r.output.splitlines()[1:]}
    assert lines["key"].endswith("(file)") and lines["poll_interval"].endswith("(file)")
    assert lines["identity"].endswith("(env AGENT_CLI_IDENTITY)")
    assert lines["endpoint"].endswith("(default)")
    data = json.loads(invoke("config", "show", "--json").output)
    assert data["settings"]["agents"] == {"value": "claude, codex", "from": "file"}
    assert KEY not in json.dumps(data)


def test_config_set_refuses_bad_values_and_never_echoes_the_key(isolated_home: Path) -> None:
    r = invoke("config", "set", "agents", "claude,nosuch")
    assert r.exit_code == 2 and "Unknown agent 'nosuch'" in r.output
    r = invoke("config", "set", "nosuch", "1")
    assert r.exit_code == 2
    r = invoke("config", "set", "key", "-", input="bad canary key\n")
    assert r.exit_code == 2 and "canary" not in r.output
    assert not cfg_file(isolated_home).exists()


def test_config_set_from_stdin_and_unset(isolated_home: Path) -> None:
    r = invoke("config", "set", "key", "-", input=KEY + "\n")
    assert r.exit_code == 0 and KEY not in r.output
    assert invoke("config", "unset", "key").exit_code == 0
    assert "key" not in tomllib.loads(cfg_file(isolated_home).read_text())


def test_start_reads_the_file_and_a_flag_still_wins(isolated_home: Path, tmp_path: Path) -> None:
    """`start --dry-run` with paths=basename from the file, and the flag overriding it."""
    from tests.test_cli import FIXTURES

    src = FIXTURES / "projects" / "-Users-dain-workspace-danieldemmel-me-next"
    shutil.copytree(src, isolated_home / ".claude" / "projects" / src.name)
    assert invoke("config", "set", "paths", "hash").exit_code == 0
    r = invoke("start", "--once", "--dry-run")
    assert r.exit_code == 0, r.output
    repos = {json.loads(line).get("repo_path") for line in r.stdout.splitlines()}
    assert repos and all(p is None or p.startswith("sha256:") for p in repos)
    r = invoke("start", "--once", "--dry-run", "--paths", "basename")
    repos = {json.loads(line).get("repo_path") for line in r.stdout.splitlines()}
    assert repos and not any(p and p.startswith("sha256:") for p in repos)


def test_log_level_and_log_dir(isolated_home: Path, tmp_path: Path) -> None:
    assert config.log_dir(None, {"HOME": str(isolated_home)}) == (
        isolated_home / ".local" / "state" / "agent-cli" / "log"
    )
    assert config.log_dir(None, {"AGENT_CLI_HOME": str(tmp_path / "st")}) == tmp_path / "st"
    assert config.log_dir(None, {"AGENT_CLI_LOG_DIR": str(tmp_path / "l")}) == tmp_path / "l"
    r = config.resolve({}, {"AGENT_CLI_LOG_LEVEL": "debug"}, tmp_path / "none.toml")
    assert r.values["log_level"] == "DEBUG"


@pytest.mark.parametrize(("level", "info_kept"), [(None, True), ("WARNING", False)])
def test_the_log_level_decides_what_the_log_keeps(
    tmp_path: Path, level: str | None, info_kept: bool
) -> None:
    env = {"SUTRACE_ENDPOINT": "http://127.0.0.1:9", "SUTRACE_API_KEY": KEY}
    args = ["start", "--once", "--drain-timeout", "0"]
    if level:
        assert invoke("config", "set", "log_level", level).exit_code == 0
    invoke(*args, env=env)
    log = (tmp_path / "state" / "agent-cli.log").read_text()
    assert ("INFO start (once=True)" in log) is info_kept
    assert KEY not in log

"""The OTLP sink set up from the config file, the `sinks` setting, and the re-run index.

A service reads only the config file (its unit carries no OTEL_* variables), so the file's
`otlp_endpoint` must be enough; `sinks` leaves a sink out even when it is set up. (An OTEL_*
variable is part of the re-run index's key: `test_rerun.py`.)
"""

from __future__ import annotations

from pathlib import Path

from tests.otlp_receiver import OtlpReceiver
from tests.test_e2e import KEY, Receiver, agent, agent_env, no_traceback
from tests.test_otlp_e2e import expected, fixture_home

__all__ = ["fixture_home"]  # a fixture of these tests


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_the_config_files_otlp_endpoint_exports_without_a_key(
    fixture_home: Path, tmp_path: Path
) -> None:
    want = expected(fixture_home)
    with OtlpReceiver() as rx:
        cfg = _config(tmp_path, f'otlp_endpoint = "{rx.url}"\n')
        env = agent_env(AGENT_CLI_CONFIG=str(cfg), AGENT_CLI_HOME=str(tmp_path / "st"))
        p = agent(["start", "--once"], env)
        no_traceback(p)
        assert p.returncode == 0, p.stderr
        assert set(rx.latest_logs()) == set(want)
        shown = agent(["config", "show"], env)
        assert "otlp_endpoint" in shown.stdout and "file" in shown.stdout


def test_sinks_leaves_out_a_sink_that_is_set_up(fixture_home: Path, tmp_path: Path) -> None:
    want = expected(fixture_home)
    with OtlpReceiver() as otlp, Receiver(tmp_path / "rx", key=KEY) as sutrace:
        cfg = _config(tmp_path, 'sinks = ["otlp"]\n')
        env = agent_env(AGENT_CLI_CONFIG=str(cfg), AGENT_CLI_HOME=str(tmp_path / "st"),
                        SUTRACE_ENDPOINT=sutrace.url, SUTRACE_API_KEY=KEY,
                        OTEL_EXPORTER_OTLP_ENDPOINT=otlp.url)  # fmt: skip
        p = agent(["start", "--once"], env)
        no_traceback(p)
        assert p.returncode == 0, p.stderr
        assert set(otlp.latest_logs()) == set(want)
        assert sutrace.events() == {}  # a key is set, but the config leaves Sutrace out

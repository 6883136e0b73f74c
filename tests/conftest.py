"""Every test runs with HOME and the agents' folders pointed at a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests are judged by what they find, never by how fast this machine is: no per-example
# deadline, no "too slow" health check, and a fixed seed so a run can be repeated.
settings.register_profile(
    "agent-cli",
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("agent-cli")

FIXTURES = Path(__file__).parent / "fixtures"

_AGENT_VARS = (
    "CLAUDE_CONFIG_DIR",
    "CODEX_HOME",
    "GEMINI_CLI_HOME",
    "GEMINI_DATA_DIR",
    "PI_CODING_AGENT_DIR",
    "KIMI_SHARE_DIR",
    "KIMI_CODE_HOME",
    "XDG_CONFIG_HOME",
    "COPILOT_HOME",
    "QWEN_HOME",
    "QWEN_RUNTIME_DIR",
    "QWEN_DATA_DIR",
    "USERPROFILE",
    "XDG_DATA_HOME",
    "OPENCODE_DB",
    "OPENCODE_DISABLE_CHANNEL_DB",
    "LOCALAPPDATA",
    "APPDATA",
    "VSCODE_PORTABLE",
    "CLINE_DIR",
    "CLINE_DATA_DIR",
    "CLINE_SESSION_DATA_DIR",
    "GROK_HOME",
    "KILO_DATA_DIR",
    "SUTRACE_API_KEY",
    "SUTRACE_ENDPOINT",
    # the config file's layers and the log (config.KEYS, config.log_dir)
    "XDG_STATE_HOME",
    "AGENT_CLI_CONFIG",
    "AGENT_CLI_LOG_DIR",
    "AGENT_CLI_LOG_LEVEL",
    "AGENT_CLI_AGENTS",
    "AGENT_CLI_PATHS",
    "AGENT_CLI_IDENTITY",
    "AGENT_CLI_SINKS",
    "AGENT_CLI_RETENTION_DAYS",
    "AGENT_CLI_POLL_INTERVAL",
    # the OTLP sink's settings: a developer's own collector must never receive test events
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SERVICE_NAME",
    "AGENT_CLI_OTLP_TRACES",
)


def agent_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment that points HOME and the three main agents' folders at `home`."""
    return {
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "CODEX_HOME": str(home / ".codex"),
        "GEMINI_CLI_HOME": str(home),
        **extra,
    }


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME, AGENT_CLI_HOME and every agent variable at a fresh temporary folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AGENT_CLI_HOME", str(tmp_path / "state"))
    for var in _AGENT_VARS:
        monkeypatch.delenv(var, raising=False)
    return home

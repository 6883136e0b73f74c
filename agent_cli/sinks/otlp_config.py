"""OTLP settings: `--otlp-endpoint` and the standard OTEL_EXPORTER_OTLP_* variables.

Read as the OpenTelemetry specification says: OTEL_EXPORTER_OTLP_ENDPOINT is a base URL to
which `/v1/logs`, `/v1/metrics` and `/v1/traces` are appended; a signal's own variable
(OTEL_EXPORTER_OTLP_LOGS_ENDPOINT ...) is used as it is. Headers and resource attributes are
`key=value` lists, comma separated, values percent-encoded. Header values may hold keys:
they are never part of a repr, a message or the log. OTEL_SERVICE_NAME sets service.name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from agent_cli.errors import ConfigError
from agent_cli.sinks.endpoint import check_endpoint

PROTOCOLS = ("http/protobuf", "http/json")
SIGNALS = ("logs", "metrics", "traces")


@dataclass(frozen=True)
class OtlpConfig:
    """Where and how the OTLP sink sends; built once at the edge."""

    logs_url: str
    metrics_url: str
    traces_url: str
    protocol: str = "http/protobuf"
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    resource: tuple[tuple[str, str], ...] = ()
    traces: bool = False

    @property
    def json(self) -> bool:
        return self.protocol == "http/json"


def otlp_config(
    env: Mapping[str, str],
    endpoint: str | None = None,
    traces: bool = False,
    fallback: str | None = None,
) -> OtlpConfig | None:
    """The OTLP settings `endpoint` (the flag, winning over the variables), `env` and
    `fallback` (the config file's `otlp_endpoint`, below every variable) ask for; None when
    no endpoint is set. Raises ConfigError with one sentence on a bad value."""
    base = (endpoint or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or fallback or "").strip()
    own = {s: env.get(f"OTEL_EXPORTER_OTLP_{s.upper()}_ENDPOINT", "").strip() for s in SIGNALS}
    if not base and not any(own.values()):
        return None
    urls: dict[str, str] = {}
    for signal in SIGNALS:
        if own[signal] and not endpoint:
            urls[signal] = _checked(own[signal], f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
        elif base:
            urls[signal] = _checked(base, "--otlp-endpoint") + f"/v1/{signal}"
        else:
            urls[signal] = ""  # this signal has nowhere to go
    if not urls["logs"]:
        raise ConfigError(
            "Set OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_LOGS_ENDPOINT): the OTLP "
            "sink sends its events as logs."
        )
    protocol = (env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf").strip().lower()
    if protocol not in PROTOCOLS:
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json, not {protocol!r} "
            "(gRPC is not supported; point it at the collector's HTTP port, 4318)."
        )
    return OtlpConfig(
        logs_url=urls["logs"],
        metrics_url=urls["metrics"],
        traces_url=urls["traces"],
        protocol=protocol,
        headers=_headers(env.get("OTEL_EXPORTER_OTLP_HEADERS", "")),
        resource=_resource(env),
        traces=traces,
    )


def _checked(url: str, where: str) -> str:
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = ""
    if "@" in netloc:  # never echo it: the userinfo may be a secret
        raise ConfigError(
            f"The {where} URL must not contain a user name or password; "
            "pass credentials in OTEL_EXPORTER_OTLP_HEADERS instead."
        )
    try:
        return check_endpoint(url)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _pairs(text: str, where: str) -> tuple[tuple[str, str], ...]:
    """`k=v,k2=v2` (values percent-decoded); a malformed item is a usage error."""
    out: list[tuple[str, str]] = []
    for item in text.split(","):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"{where} must be a list of key=value pairs separated by commas.")
        out.append((unquote(key.strip()), unquote(value.strip())))
    return tuple(out)


def _resource(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """OTEL_RESOURCE_ATTRIBUTES, with OTEL_SERVICE_NAME winning for service.name."""
    pairs = dict(_pairs(env.get("OTEL_RESOURCE_ATTRIBUTES", ""), "OTEL_RESOURCE_ATTRIBUTES"))
    if env.get("OTEL_SERVICE_NAME", "").strip():
        pairs["service.name"] = env["OTEL_SERVICE_NAME"].strip()
    return tuple(pairs.items())


def _headers(text: str) -> tuple[tuple[str, str], ...]:
    pairs = _pairs(text, "OTEL_EXPORTER_OTLP_HEADERS")
    for key, value in pairs:
        # a header httpx would refuse (or that splits the request) never reaches the wire;
        # the message names the header, never its value
        if not key.isascii() or not key.isprintable() or " " in key or ":" in key:
            raise ConfigError(
                "OTEL_EXPORTER_OTLP_HEADERS has a header name that is not a plain word."
            )
        if not value.isprintable() or "\r" in value or "\n" in value:
            raise ConfigError(
                f"OTEL_EXPORTER_OTLP_HEADERS: the value of {key} has control "
                "characters; copy it again."
            )
    return pairs

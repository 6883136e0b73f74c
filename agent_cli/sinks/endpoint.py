"""Endpoint policy: HTTPS except to loopback, no credentials in URLs, keys shown masked."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from agent_cli.errors import ConfigError


def check_endpoint(endpoint: str) -> str:
    """Return the endpoint without trailing '/', or raise ConfigError saying what is wrong."""
    try:
        parts = urlsplit(endpoint.strip())
        host, _port = parts.hostname, parts.port
    except ValueError:
        raise ConfigError("The endpoint is not a valid URL; use https://host[:port].") from None
    if "@" in parts.netloc:  # never echo it: the userinfo may be a secret
        raise ConfigError(
            "The endpoint must not contain a user name or password; "
            "pass the API key through SUTRACE_API_KEY instead."
        )
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not host:
        raise ConfigError(
            f"The endpoint {endpoint!r} is not an http(s) URL; use https://host[:port]."
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"The endpoint {endpoint!r} must not have a query or fragment.")
    if scheme == "http" and not _is_loopback(host):
        raise ConfigError(
            f"The endpoint {endpoint!r} uses plain http; use https "
            "(http is only allowed to localhost)."
        )
    return parts._replace(scheme=scheme).geturl().rstrip("/")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mask_key(key: str) -> str:
    """Show only the last 4 characters of a key; of a short one only how short it is."""
    if len(key) >= 8:
        return "…" + key[-4:]
    return f"… ({len(key)} characters: too short to show any)" if key else "…"

"""Kimi CLI failures mapped to the contract's error codes."""

from __future__ import annotations

from typing import Any

from agent_cli.sources.common import to_int


def retry_code(status: Any, error_type: str | None) -> str:
    """A failed step attempt (`StepRetry`: HTTP status, exception class) to an error code."""
    code = to_int(status)
    low = (error_type or "").lower()
    if code == 429 or "ratelimit" in low:
        return "rate_limit"
    if code == 529 or "overload" in low:
        return "overloaded"
    if code in (401, 403) or "auth" in low or "permission" in low:
        return "auth"
    if code == 413 or "context" in low or "toolong" in low:
        return "context_overflow"
    if code == 400 or "badrequest" in low:
        return "invalid_request"
    return "server_error"


def tool_code(message: str | None) -> str:
    """A failed tool's explanatory message (read here, never kept) to a tool error code."""
    head = (message or "")[:500].lower()
    if head.startswith(("error parsing json arguments", "error validating json arguments")):
        return "validation"
    if head.startswith("tool `") and head.endswith("` not found"):
        return "validation"
    if "rejected" in head:
        return "rejected"
    return "error"

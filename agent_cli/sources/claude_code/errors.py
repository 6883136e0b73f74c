"""Claude Code's failures mapped to the contract's error codes (docs/counting.md)."""

from __future__ import annotations


def classify_api_error(error: str, status: int | None, api_error: str, text: str) -> str:
    """Map a synthetic API-error line to the contract's error codes."""
    low = text.lower()
    if "usage policy" in low or "refus" in error:
        return "refusal"
    if "prompt is too long" in low or "context" in error or "too long" in low:
        return "context_overflow"
    if (
        error == "rate_limit"
        or status == 429
        or "usage limit" in low
        or "out of extra usage" in low
        or ("limit" in low and "hit your" in low)
    ):
        return "rate_limit"
    if status == 529 or "overloaded" in low:
        return "overloaded"
    if error == "authentication_failed" or status in (401, 403) or "/login" in low:
        return "auth"
    if error == "invalid_request" or api_error == "max_output_tokens" or status == 400:
        return "invalid_request"
    return "server_error"


def classify_tool_error(text: str) -> str:
    """Map a failed tool_result's text to validation | exit_code | rejected | error."""
    head = text[:4000]
    if "<tool_use_error>" in head or "InputValidationError" in head:
        return "validation"
    if head.startswith("Exit code") or "\nExit code " in head[:200]:
        return "exit_code"
    if (
        "doesn't want to proceed" in head
        or "rejected" in head.lower()
        or "[Request interrupted by user for tool use]" in head
    ):
        return "rejected"
    return "error"

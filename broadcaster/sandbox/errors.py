"""LINE's error bodies, word for word where LINE documents them.

Error body shape (spec `ErrorResponse`): `{"message", "details"?: [{"message", "property"}],
"sentMessages"?}`; `details` is left out when empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AUTH_FAILED = (
    "Authentication failed. Confirm that the access token in the authorization header is valid."
)
RATE_LIMITED = "The API rate limit has been exceeded. Try again later."
MONTHLY_LIMIT = "You have reached your monthly limit."
RETRY_KEY_ACCEPTED = "The retry key is already accepted"
INVALID_REPLY_TOKEN = "Invalid reply token"
# The wordings below are not published by LINE; they name the problem plainly.
RETRY_KEY_INVALID = "The value of the X-Line-Retry-Key header must be a UUID"
RETRY_KEY_NOT_SUPPORTED = "X-Line-Retry-Key is not supported by this endpoint"
RETRY_KEY_OTHER_ENDPOINT = "The retry key was already used for another endpoint"
INVALID_JSON = "The request body is not valid JSON"
TOO_LARGE = "Request entity too large"
INTERNAL_ERROR = "An internal server error occurred (injected by the sandbox)"
NOT_FOUND = "Not found"


@dataclass(frozen=True, slots=True)
class Problem:
    """One entry of an error body's `details`; `property` is a LINE-style path."""

    message: str
    property: str


def error_body(message: str, problems: list[Problem] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if problems:
        body["details"] = [{"message": p.message, "property": p.property} for p in problems]
    return body


def invalid_body(problems: list[Problem]) -> dict[str, Any]:
    """LINE's 400 for a body that parsed but broke rules: counts the errors in the message."""
    return error_body(f"The request body has {len(problems)} error(s)", problems)

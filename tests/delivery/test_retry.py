"""The pure retry decision and the one classification of LINE's answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
from linebot.v3.messaging import ApiException

from broadcaster.delivery.answers import Accepted, DeliveryError, classify
from broadcaster.delivery.retry import Action, RetryPolicy, decide

T0 = datetime(2026, 4, 1, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=5, backoff_base=1.0, backoff_max=8.0)


def _api_error(status: int, body: str, headers: dict[str, str] | None = None) -> ApiException:
    error = ApiException(status=status, reason="x")
    error.body = body
    error.headers = headers or {}
    return error


def test_409_counts_as_accepted_with_the_first_request_id() -> None:
    headers = {"x-line-accepted-request-id": "first", "x-line-request-id": "2nd"}
    outcome = classify(_api_error(409, '{"message":"The retry key is already accepted"}', headers))
    assert isinstance(outcome, Accepted) and outcome.line_request_id == "first"


def test_statuses_are_classified_once() -> None:
    for status, body in ((500, '{"message":"boom"}'),
                         (429, '{"message":"The API rate limit has been exceeded."}')):
        retryable = classify(_api_error(status, body))
        assert isinstance(retryable, DeliveryError) and not retryable.permanent
    quota = classify(_api_error(429, '{"message":"You have reached your monthly limit."}'))
    assert isinstance(quota, DeliveryError) and quota.permanent and quota.quota_exhausted
    bad = classify(_api_error(400, '{"message":"The request body has 1 error(s)","details":'
                              '[{"message":"May not be empty","property":"messages[0].text"}]}'))
    assert isinstance(bad, DeliveryError) and bad.permanent and "messages[0].text" in bad.message
    lost = classify(aiohttp.ServerDisconnectedError())
    assert isinstance(lost, DeliveryError) and lost.ambiguous and not lost.permanent
    assert isinstance(classify(TimeoutError()), DeliveryError)


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    error = DeliveryError("500", permanent=False, status=500)
    delays = [decide(error, n, T0, T0, POLICY, rand=lambda: 1.0).next_attempt_at
              for n in (1, 2, 3, 4)]
    assert [(d - T0).total_seconds() for d in delays if d] == [1.0, 2.0, 4.0, 8.0]
    assert decide(error, 3, T0, T0, POLICY, rand=lambda: 0.0).next_attempt_at == T0


def test_permanent_errors_fail_and_exhausted_ambiguous_ones_are_unknown() -> None:
    assert decide(DeliveryError("400", permanent=True), 1, T0, T0, POLICY).action is Action.fail
    assert decide(DeliveryError("500", permanent=False), 5, T0, T0, POLICY).action is Action.fail
    timeout = DeliveryError("timeout", permanent=False, ambiguous=True)
    assert decide(timeout, 5, T0, T0, POLICY).action is Action.unknown
    assert decide(Accepted(200, "r"), 1, T0, T0, POLICY).action is Action.accept


def test_no_retry_once_line_has_forgotten_the_key() -> None:
    timeout = DeliveryError("timeout", permanent=False, ambiguous=True)
    late = T0 + timedelta(hours=24)
    decision = decide(timeout, 2, T0, late, POLICY)
    assert decision.action is Action.unknown and "forgotten" in decision.reason
    assert decide(timeout, 2, T0, T0 + timedelta(hours=23), POLICY).action is Action.retry

"""The lifecycle's pure decisions."""

from __future__ import annotations

import pytest

from backburner.errors import InvalidTransition
from backburner.jobs import ErrorType, JobStatus
from backburner.states import (
    LEASE_EXPIRIES_BEFORE_LOST,
    TRANSITIONS,
    after_error,
    after_lease_expiry,
    check_transition,
)

Q, R, S, F, C = (
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.SUCCEEDED,
    JobStatus.FAILED,
    JobStatus.CANCELED,
)


def test_the_table_is_the_documented_lifecycle() -> None:
    assert set(TRANSITIONS) == {
        (Q, R), (Q, C), (Q, F), (R, S), (R, F), (R, C), (R, Q), (F, Q), (C, Q),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("current", "target", "action"),
    [
        (S, Q, "retried"),
        (R, Q, "retried"),
        (Q, Q, "retried"),
        (S, C, "canceled"),
        (F, C, "canceled"),
    ],
)
def test_moves_outside_the_table_raise(current: JobStatus, target: JobStatus, action: str) -> None:
    with pytest.raises(InvalidTransition, match=f"job j1: it is (already )?{current.value}"):
        check_transition(current, target, action, "j1")


def test_refusals_say_what_is_allowed() -> None:
    with pytest.raises(InvalidTransition, match=r"it is running \(only failed or canceled jobs"):
        check_transition(R, Q, "retried", "j1")
    with pytest.raises(InvalidTransition, match=r"already canceled \(only queued or running"):
        check_transition(C, C, "canceled", "j1")


@pytest.mark.parametrize(
    ("current", "target", "action"),
    [(F, Q, "retried"), (C, Q, "retried"), (Q, C, "canceled"), (R, C, "canceled")],
)
def test_moves_in_the_table_pass(current: JobStatus, target: JobStatus, action: str) -> None:
    check_transition(current, target, action, "j1")


def test_retry_while_attempts_remain_then_fail() -> None:
    assert after_error(tries=1, max_attempts=3, retryable=True, delay_s=2).status is Q
    assert after_error(tries=2, max_attempts=3, retryable=True, delay_s=2).delay_s == 2
    assert after_error(tries=3, max_attempts=3, retryable=True, delay_s=2).status is F


def test_permanent_errors_fail_at_once() -> None:
    assert after_error(tries=1, max_attempts=5, retryable=False, delay_s=0).status is F


def test_lease_expiry_requeues_until_the_poison_limit() -> None:
    for n in range(1, LEASE_EXPIRIES_BEFORE_LOST):
        fate = after_lease_expiry(lease_expiries=n, cancel_requested=False, past_expiry=False)
        assert fate.status is Q
    fate = after_lease_expiry(
        lease_expiries=LEASE_EXPIRIES_BEFORE_LOST, cancel_requested=False, past_expiry=False
    )
    assert (fate.status, fate.error_type) == (F, ErrorType.WORKER_LOST)


def test_lease_expiry_honours_cancel_then_expiry() -> None:
    fate = after_lease_expiry(lease_expiries=3, cancel_requested=True, past_expiry=True)
    assert fate.status is C
    fate = after_lease_expiry(lease_expiries=1, cancel_requested=False, past_expiry=True)
    assert (fate.status, fate.error_type) == (F, ErrorType.EXPIRED)

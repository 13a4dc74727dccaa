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


@pytest.mark.parametrize(("current", "target"), [(S, Q), (S, R), (F, R), (C, S), (Q, S)])
def test_disallowed_moves_raise(current: JobStatus, target: JobStatus) -> None:
    with pytest.raises(InvalidTransition, match=current.value):
        check_transition(current, target, "move")


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

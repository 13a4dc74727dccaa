"""Internal: per-owner submission rate limits in the database, so every process and machine
counts against one limit. Checked in the submit's own transaction (`insert_sql`): a submit
refused for any reason, or answered with an existing job, counts for nothing.

The generic cell rate algorithm: "``count`` per ``period_s``" lets one submit through every
``period_s / count`` seconds on average, with bursts of up to ``count``. Each owner has one
number, the theoretical arrival time (``tat``): when the owner's allowance would be used up
had they submitted at the average pace. A submit is let through while ``tat`` is at most
``period_s - interval`` ahead of now, and moves it one interval on. Times are the database's
clock, like leases, so no process's clock decides.
"""

from __future__ import annotations

import math

import sqlalchemy as sa
from sqlalchemy import Connection

from ..errors import RateLimited
from .dialect import SqlDialect
from .tables import submit_rates

__all__ = ["prune_submit_rates", "take_submit_slots"]

#: Float slack: the last submit of a burst lands exactly on the limit.
_EPSILON_S = 1e-6


def take_submit_slots(
    conn: Connection, d: SqlDialect, owner: str, rate: tuple[int, float], submits: int = 1
) -> None:
    """Count ``submits`` of ``owner``'s against ``rate`` (count, period in seconds), or
    raise `RateLimited` (with the seconds until they would fit) and count none."""
    count, period_s = rate
    d.lock_owner(conn, owner)  # one owner's takes run in turn; others' never wait
    tat_now = sa.select(submit_rates.c.tat).where(submit_rates.c.owner == owner)
    now, tat = conn.execute(sa.select(d.now(), tat_now.scalar_subquery())).one()
    interval = period_s / count
    start = now if tat is None else max(float(tat), now)
    tat_after = start + submits * interval
    early = tat_after - period_s - now  # > 0: the allowance is spent for this long
    if early > _EPSILON_S:
        retry_s = math.ceil(early)
        raise RateLimited(
            f"owner {owner!r} is over the submission rate limit; retry in {retry_s} s", early
        )
    if tat is None:
        conn.execute(sa.insert(submit_rates).values(owner=owner, tat=tat_after))
    else:
        stmt = sa.update(submit_rates).where(submit_rates.c.owner == owner)
        conn.execute(stmt.values(tat=tat_after))


def prune_submit_rates(conn: Connection, d: SqlDialect) -> int:
    """Forget owners whose allowance is whole again (a missing row says the same); how many."""
    return conn.execute(sa.delete(submit_rates).where(submit_rates.c.tat < d.now())).rowcount

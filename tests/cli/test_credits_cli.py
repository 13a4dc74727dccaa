"""``backburner credits grant|adjust|show``: the ledger from the command line."""

from __future__ import annotations

import re

import backburner as bb
from tests.cli.conftest import Cli


async def test_grant_adjust_and_show(cli: Cli) -> None:
    granted = await cli("credits", "grant", "alice", "10", "--note", "welcome")
    assert granted.code == 0, granted.err
    assert re.match(r"#1 \S+ \S+ grant +\+10  welcome\n", granted.out)
    assert granted.out.endswith("alice: balance 10, reserved 0, available 10\n")

    adjusted = await cli("credits", "adjust", "alice", "-2.5")
    assert adjusted.code == 0, adjusted.err
    assert adjusted.out.endswith("alice: balance 7.5, reserved 0, available 7.5\n")

    shown = await cli("credits", "show", "alice")
    lines = shown.out.splitlines()
    assert lines[0] == "alice: balance 7.5, reserved 0, available 7.5"
    assert [line.split()[3] for line in lines[1:]] == ["adjustment", "grant"]
    async with bb.Backburner(cli.db_url) as app:
        assert (await app.credits.balance("alice")).balance == 7.5


async def test_bad_amounts_exit_2_and_store_nothing(cli: Cli) -> None:
    zero = await cli("credits", "grant", "alice", "0")
    below = await cli("credits", "adjust", "alice", "-1")
    assert (zero.code, zero.err) == (2, "error: amount: must be greater than 0, got 0.0\n")
    assert below.code == 2 and "below the 0 reserved by queued jobs" in below.err
    async with bb.Backburner(cli.db_url) as app:
        assert await app.credits.entries("alice") == []

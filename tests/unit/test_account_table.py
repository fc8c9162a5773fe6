"""Every user's Slurm accounts, read for the whole site in one round of sacctmgr (cluster.views.AccountCache)."""

import asyncio

import pytest

from jupyterhub_slurm_interactive.cluster.views import AccountCache, AccountsUnavailable, parse_account_table
from jupyterhub_slurm_interactive.slurm.runner import SlurmError

from .playback import ManualClock, PlaybackRunner, fixture

TABLE = "sacctmgr show associations format=user,account"
DEFAULTS = "sacctmgr show user format=user,defaultaccount"
ALONE = "sacctmgr show associations format=account"
ALONE_DEFAULT = "sacctmgr show user format=defaultaccount"
DBD_DOWN = SlurmError("sacctmgr", 1, "sacctmgr: error: Problem talking to the database: Connection refused")
NO_ACCOUNTING = SlurmError("sacctmgr", 1, "You are not running a supported accounting_storage plugin")


def recorded_site(**more) -> PlaybackRunner:
    return PlaybackRunner({TABLE: [fixture("sacctmgr_assoc_all.txt")], DEFAULTS: [fixture("sacctmgr_users_all.txt")],
                           **more})


def rounds(runner, key) -> int:
    return sum(1 for r in runner.ran if runner.key(r["argv"]) == key)


def test_the_recorded_table_gives_each_user_their_accounts_default_first():
    table = parse_account_table(fixture("sacctmgr_assoc_all.txt"), fixture("sacctmgr_users_all.txt"))
    assert table["alice"] == ("proj-a", "proj-b")  # as `sacctmgr show assoc user=alice` gives it alone
    assert table["bob"] == ("proj-b",)
    assert table["crowd07"] == ("proj-b",)
    assert "" not in table  # the accounts' own lines (no user) are nobody's


def test_the_default_account_comes_first_whatever_the_order():
    table = parse_account_table("u|b\nu|a\nu|c\n|a\n", "u|c\n")
    assert table == {"u": ("c", "a", "b")}


async def test_many_users_one_round_of_sacctmgr():
    runner = recorded_site()
    cache = AccountCache(runner, ttl=60)
    users = ["alice", "bob"] + [f"crowd{i:02d}" for i in range(1, 21)]
    found = await asyncio.gather(*(cache.accounts(u) for u in users))
    assert found[0] == ["proj-a", "proj-b"] and all(f == ["proj-b"] for f in found[1:])
    assert len(runner.ran) == 2 and cache.queries == 0  # the table and the defaults, once, for everyone


async def test_a_user_the_table_does_not_hold_is_asked_about_alone_once_per_ttl():
    runner = recorded_site(**{ALONE: ["proj-new\n"], ALONE_DEFAULT: ["proj-new\n"]})
    cache = AccountCache(runner, ttl=60)
    assert await cache.accounts("newcomer") == ["proj-new"]
    assert await cache.accounts("newcomer") == ["proj-new"]
    assert cache.queries == 1 and rounds(runner, ALONE) == 1
    assert "user=newcomer" in next(r["argv"] for r in runner.ran if runner.key(r["argv"]) == ALONE)


async def test_an_old_table_answers_at_once_and_is_read_again_behind_the_page():
    gate = asyncio.Event()
    runner = recorded_site()
    cache = AccountCache(runner, ttl=60, clock=ManualClock())
    assert await cache.accounts("alice") == ["proj-a", "proj-b"]
    runner.answers[TABLE] = ["alice|proj-a\nalice|proj-c\n"]
    plain = runner.run

    async def slow(argv, **kw):  # slurmdbd slow to answer the second read
        if runner.key(argv) == TABLE:
            await gate.wait()
        return await plain(argv, **kw)

    runner.run = slow
    cache.clock.advance(61)
    assert await cache.accounts("alice") == ["proj-a", "proj-b"]  # did not wait for the read under way
    gate.set()
    await cache.table.settled()
    assert await cache.accounts("alice") == ["proj-a", "proj-c"]


async def test_a_failed_read_keeps_the_last_table():
    runner = recorded_site()
    cache = AccountCache(runner, ttl=60, clock=ManualClock())
    assert await cache.accounts("bob") == ["proj-b"]
    runner.answers[TABLE] = [DBD_DOWN]
    cache.clock.advance(61)
    await cache.accounts("bob")  # begins the read that fails
    await cache.table.settled()
    assert await cache.accounts("bob") == ["proj-b"] and cache.table.error


async def test_accounting_away_since_the_hub_started_asks_each_user_alone_and_says_it_cannot():
    runner = PlaybackRunner({TABLE: [DBD_DOWN], DEFAULTS: [DBD_DOWN], ALONE: [DBD_DOWN], ALONE_DEFAULT: [DBD_DOWN]})
    cache = AccountCache(runner, ttl=60)
    with pytest.raises(SlurmError):
        await cache.accounts("alice")
    assert cache.queries == 1


async def test_a_site_without_accounting():
    cache = AccountCache(PlaybackRunner({TABLE: [NO_ACCOUNTING], DEFAULTS: [NO_ACCOUNTING]}), ttl=60)
    with pytest.raises(AccountsUnavailable):
        await cache.accounts("alice")


async def test_a_refused_account_is_not_brought_back_by_a_table_read_that_began_before():
    gate = asyncio.Event()
    runner = recorded_site(**{ALONE: [""], ALONE_DEFAULT: [""]})  # alice's association was removed
    cache = AccountCache(runner, ttl=60, clock=ManualClock())
    assert await cache.accounts("alice") == ["proj-a", "proj-b"]
    plain = runner.run

    async def slow(argv, **kw):
        out = await plain(argv, **kw)  # the table as it was when asked...
        if runner.key(argv) == TABLE:
            await gate.wait()  # ...comes back after Slurm refused alice's account
        return out

    runner.run = slow
    cache.clock.advance(61)
    await cache.accounts("bob")  # a read begins, with alice still in the association table
    cache.clock.advance(1)
    cache.forget("alice")  # sbatch refused her account meanwhile
    gate.set()
    await cache.table.settled()
    assert await cache.accounts("alice") == []  # asked about alone: she has none now
    assert cache.queries == 1

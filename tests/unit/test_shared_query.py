"""The shared Slurm queries: one refresh for many callers, and answers that know of a new job."""

import asyncio

import pytest

from jupyterhub_slurm_interactive.cluster.views import SharedQuery
from jupyterhub_slurm_interactive.slurm import commands as slurm

from .playback import ManualClock


class Counting(SharedQuery):
    def __init__(self, interval=10.0, delay=0.05, fail=False):
        super().__init__(interval)
        self.delay, self.fail, self.jobs = delay, fail, set()

    async def fetch(self):
        seen = set(self.jobs)  # what the query sees is what existed when it began
        await asyncio.sleep(self.delay)
        if self.fail:
            raise slurm.SlurmError("squeue", 1, "Unable to contact slurm controller")
        return seen


async def test_many_callers_one_query():
    q = Counting()
    results = await asyncio.gather(*(q.get() for _ in range(50)))
    assert q.refreshes == 1 and all(r == set() for r in results)
    await q.get()
    assert q.refreshes == 1  # within the interval


async def test_an_answer_begun_before_a_submission_is_not_trusted_for_it():
    import time
    q = Counting(delay=0.2)
    early = asyncio.ensure_future(q.get())  # a refresh begins...
    await asyncio.sleep(0.05)
    q.jobs.add("42")  # ...then a job is submitted
    submitted = time.time()
    assert "42" not in await early
    assert "42" in await q.get(0, newer_than=submitted)
    assert q.began_at >= submitted


async def test_failures_are_not_retried_within_the_interval():
    q = Counting(fail=True)
    with pytest.raises(slurm.SlurmError):
        await q.get()
    with pytest.raises(slurm.SlurmError):
        await q.get()
    assert q.refreshes == 1


async def test_a_failure_keeps_the_last_answer():
    q = Counting(interval=0)
    q.jobs.add("1")
    assert await q.get() == {"1"}
    q.fail = True
    assert await q.get() == {"1"}
    assert q.error


async def test_an_answer_begun_late_enough_is_not_asked_again():
    import time
    q = Counting()
    mark = time.time()
    await q.get(0, newer_than=mark)
    await q.get(0, newer_than=mark)
    assert q.refreshes == 1


async def test_a_view_older_than_the_interval_is_never_served():
    q = Counting(interval=0.2)
    q.jobs.add("1")
    assert await q.get() == {"1"}
    q.jobs.add("2")
    await asyncio.sleep(0.25)
    assert await q.get() == {"1", "2"}  # waited for the refresh, did not serve the old view meanwhile
    assert q.refreshes == 2


async def test_after_expire_the_next_caller_gets_a_view_begun_since():
    q = Counting(interval=60)
    assert await q.get() == set()
    q.jobs.add("freed")
    q.expire()  # a session stopped: the next table must show it
    assert await q.get() == {"freed"}
    assert await q.get() == {"freed"} and q.refreshes == 2  # and then the interval holds again


async def test_a_check_may_use_a_recent_view_that_the_pages_may_not():
    q = Counting(interval=0.01)
    assert await q.recent(60) == set() and q.refreshes == 1  # nothing yet: asked
    q.jobs.add("started")
    q.expire()  # a session started: the pages must see it
    await asyncio.sleep(0.02)  # and the interval has passed
    assert await q.recent(60) == set() and q.refreshes == 1  # a start's check takes the last view
    assert await q.get() == {"started"} and q.refreshes == 2  # a page never does
    await asyncio.sleep(0.02)
    assert await q.recent(0.01) == {"started"} and q.refreshes == 3  # too old for the check: as a page


class Timed(SharedQuery):
    """A query on a manual clock: each read takes ``took`` seconds of it, and waits for ``gate`` if set."""

    def __init__(self, interval, took):
        super().__init__(interval, clock=ManualClock())
        self.took, self.jobs, self.gate = took, set(), None

    async def fetch(self):
        seen = set(self.jobs)
        if self.gate is not None:
            await self.gate.wait()
        self.clock.advance(self.took)
        return seen


async def test_a_view_about_to_expire_is_refreshed_behind_the_pages():
    q = Timed(interval=2.0, took=0.3)  # a read takes 0.3 s: the next begins 0.6 s before expiry
    q.jobs.add("1")
    assert await q.get() == {"1"}
    q.jobs.add("2")
    q.clock.advance(1.3)
    assert await q.get() == {"1"} and q.refreshes == 1  # not yet due
    q.clock.advance(0.2)
    q.gate = asyncio.Event()  # the read behind the page takes its time
    assert await q.get() == {"1"}  # answered from the view, still young enough...
    await asyncio.wait_for(until(lambda: q.refreshes == 2), 5)  # ...while its successor is asked for
    q.gate.set()
    await q.settled()
    assert await q.get() == {"1", "2"} and q.refreshes == 2  # ready before the old one expired


async def test_a_quick_read_is_still_begun_early_enough_for_a_page_to_begin_it():
    q = Timed(interval=5.0, took=0.01)  # twice 10 ms is no window: a fifth of the interval, 1 s, is
    assert await q.get() == set()
    q.clock.advance(3.9)
    assert await q.get() == set() and q.refreshes == 1  # not yet due
    q.clock.advance(0.2)  # 0.9 s before expiry
    q.gate = asyncio.Event()
    q.jobs.add("1")
    assert await q.get() == set()  # answered at once...
    await asyncio.wait_for(until(lambda: q.refreshes == 2), 5)  # ...with its successor asked for behind it
    q.gate.set()
    await q.settled()
    q.clock.advance(0.9)  # the old view's expiry has passed
    assert await q.get() == {"1"} and q.refreshes == 2  # and no page waited for it


async def test_latest_answers_at_once_however_old_and_refreshes_behind():
    q = Timed(interval=5, took=0.1)
    q.jobs.add("1")
    assert await q.latest() == {"1"}  # the first waits: there is nothing to answer with
    q.jobs.add("2")
    q.clock.advance(60)
    q.gate = asyncio.Event()
    assert await q.latest() == {"1"}  # a minute old, answered at once
    await asyncio.wait_for(until(lambda: q.refreshes == 2), 5)
    q.gate.set()
    await q.settled()
    assert await q.latest() == {"1", "2"}


async def until(predicate):
    while not predicate():
        await asyncio.sleep(0)


async def test_the_cluster_view_is_one_scontrol_and_an_empty_or_failed_answer_keeps_the_last_view():
    from jupyterhub_slurm_interactive.cluster.views import ClusterCache

    from .playback import CLUSTER, DOWN, PlaybackRunner

    runner = PlaybackRunner({"scontrol --details": [*CLUSTER["scontrol --details"], "", DOWN]})
    view = ClusterCache(runner, interval=60)
    view.clock = clock = ManualClock()
    first = await view.get()
    assert [r["argv"] for r in runner.ran] == [["scontrol", "--oneliner", "--details"]]
    assert runner.ran[0]["input"] == "show node\nshow reservation\nshow partition\n"
    assert first.nodes and first.partitions and not first.stale
    for why in ("no partition", "Unable to contact slurm controller"):  # an empty answer, then a controller away
        clock.advance(61)
        again = await view.get()  # neither empties the view: the last one is shown, marked stale, saying why
        assert again.stale and again.nodes == first.nodes and again.partitions == first.partitions
        assert why in again.error
    assert len(runner.ran) == 3

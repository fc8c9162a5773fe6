"""The session's server between the hub's word of a stop and its open tabs (jupyterlab_slurm_interactive.notice)."""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "jupyterlab-slurm-interactive"))

from jupyterlab_slurm_interactive.notice import StopNotice  # noqa: E402


async def until(condition):
    """Return once ``condition()`` holds, giving the loop its turn meanwhile (callers bound it with wait_for)."""
    while not condition():
        await asyncio.sleep(0)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


async def test_the_hub_waits_until_every_open_tab_has_saved():
    clock = Clock()
    notice = StopNotice(clock=clock)
    assert notice.looked("tab-a") is None and notice.looked("tab-b") is None  # nothing to say yet
    word = asyncio.ensure_future(notice.announce("the operator ops", "maintenance", wait=30))
    await asyncio.wait_for(until(lambda: notice.notice is not None), 1)  # the word is given
    seen = notice.looked("tab-a")
    assert seen["by"] == "the operator ops" and seen["reason"] == "maintenance"
    assert notice.saved("tab-a", seen["id"]) and not word.done()
    assert not notice.saved("tab-b", "another-notice")  # an answer to another word counts for nothing
    assert notice.saved("tab-b", seen["id"])
    assert await asyncio.wait_for(word, 1) == {"tabs": 2, "saved": 2}


async def test_no_tab_open_means_no_wait_and_a_silent_tab_is_waited_for_no_longer_than_asked():
    clock = Clock()
    notice = StopNotice(clock=clock)
    notice.looked("closed-long-ago")
    clock.now += 60  # it has not looked since: the page is closed
    assert await asyncio.wait_for(notice.announce("", "", wait=30), 1) == {"tabs": 0, "saved": 0}
    notice.looked("hung")
    assert await asyncio.wait_for(notice.announce("", "", wait=0.05), 1) == {"tabs": 1, "saved": 0}

"""The projects' budgets: sshare parsed, what the form shows, and the warning before a request Slurm would hold."""

from pathlib import Path

import pytest

from jupyterhub_slurm_interactive.choice.budget import budget_json, hours_text, warning
from jupyterhub_slurm_interactive.cluster.budgets import Budget, BudgetView, parse_sshare

FIXTURES = Path(__file__).parent / "fixtures"


def recorded() -> dict[str, Budget]:
    return parse_sshare((FIXTURES / "sshare_budgets.txt").read_text())


def test_recorded_sshare_gives_each_accounts_own_line():
    budgets = recorded()
    assert sorted(budgets) == ["proj-a", "proj-b"]  # root and operators have no limit: no budget
    b = budgets["proj-b"]
    assert b.limits == {"cpu": 60000, "gres/gpu": 6000}
    assert b.used == {"cpu": 3.0, "gres/gpu": 1.0}
    assert b.running == {"cpu": 56.0, "gres/gpu": 28.0}
    assert b.left("gres/gpu") == 6000 - 1 - 28


def test_malformed_lines_are_left_out():
    text = "junk\n proj-x||cpu=abc|cpu=1|cpu=2\n proj-y||cpu=600|x|y\n|||\n proj-z|bob|cpu=5|cpu=1|cpu=1\n"
    budgets = parse_sshare(text)
    assert list(budgets) == ["proj-y"] and budgets["proj-y"].used == {"cpu": 0.0, "gres/gpu": 0.0}


def test_what_the_form_shows():
    shown = budget_json(recorded()["proj-b"], "1", "1", "1")
    assert shown["account"] == "proj-b" and shown["warning"] == ""
    cpu, gpu = shown["lines"]
    assert cpu["text"] == "0.1 of 1,000 CPU-hours used, 0.9 held by running jobs" and cpu["used_minutes"] == 3.0
    assert gpu["text"] == "0 of 100 GPU-hours used, 0.5 held by running jobs" and gpu["limit_minutes"] == 6000
    assert gpu["percent"] == 0 and gpu["left_minutes"] == 6000 - 29
    idle = budget_json(Budget("p", {"cpu": 600}, {"cpu": 1.0}, {"cpu": 2.0}))["lines"][0]
    assert idle["text"] == "0 of 10 CPU-hours used"  # what rounds to nothing is not said
    assert budget_json(None) is None
    assert [hours_text(m) for m in (0, 3, 90, 60000, 74)] == ["0", "0.1", "1.5", "1,000", "1.2"]


def test_running_jobs_show_once_they_hold_a_few_minutes():
    b = Budget("p", {"gres/gpu": 600}, {"cpu": 0.0, "gres/gpu": 300.0}, {"cpu": 0.0, "gres/gpu": 240.0})
    line = budget_json(b, 1, 1, 1)["lines"][0]
    assert line["text"] == "5 of 10 GPU-hours used, 4 held by running jobs" and line["percent"] == 90


def test_a_request_past_the_budget_is_warned_with_slurms_reason():
    b = Budget("proj-b", {"cpu": 60000, "gres/gpu": 600}, {"cpu": 10.0, "gres/gpu": 500.0},
               {"cpu": 0.0, "gres/gpu": 0.0})
    assert warning(b, 1, 1, 1) == ""  # 60 GPU-minutes of the 100 left
    assert warning(b, 1, 2, 1) == (
        "This session may use up to 2 GPU-hours (2 GPUs × 1 h), and proj-b has 1.7 left of its 10: Slurm would hold "
        "it in the queue (AssocGrpGRESMinutes) until the budget is raised or renewed. Ask for fewer hours or GPUs, "
        "or choose another account.")
    cpu_only = Budget("proj-c", {"cpu": 120}, {"cpu": 100.0}, {"cpu": 0.0})
    assert "(AssocGrpCPUMinutesLimit)" in warning(cpu_only, 1, 0, 1) and "fewer hours or cores" in warning(
        cpu_only, 1, 0, 1)


@pytest.mark.parametrize("cores, gpus, hours", [("", "1", "1"), ("x", "1", "1"), ("1", "-1", "1"), ("1", "1", "0"),
                                                (None, None, None), ("9" * 40, "1", "1"), ("1.5", "1", "1")])
def test_sizes_that_are_not_sizes_say_nothing(cores, gpus, hours):
    b = Budget("p", {"cpu": 1}, {"cpu": 0.0}, {"cpu": 0.0})
    assert warning(b, cores, gpus, hours) == ""  # the fields' own checks say what is wrong with them


class Runner:
    def __init__(self):
        self.asked = 0

    async def run(self, argv, input=None, env=None):
        self.asked += 1
        assert argv[:2] == ["sshare", "--all"]
        return (FIXTURES / "sshare_budgets.txt").read_text()


async def test_one_sshare_for_every_form():
    runner = Runner()
    view = BudgetView(runner, interval=60)
    assert (await view.of("proj-b")).limits["gres/gpu"] == 6000
    assert await view.of("proj-a") is not None and await view.of("nobody") is None
    assert runner.asked == 1

"""The project's budget on the form, against real Slurm accounting: the figure sshare gives, and a warning before a
request that Slurm then holds for the very reason the warning names."""

import contextlib

import pytest

from .conftest import Browser, form_state, sh, squeue, wait_for

pytestmark = pytest.mark.integration


def sshare_line(account: str) -> dict[str, dict[str, float]]:
    """The account's own line of sshare: its limits, its usage and its running jobs' remaining TRES-minutes."""
    out = sh("sshare", "--all", "--parsable2", "--noheader",
             "--format=Account,User,GrpTRESMins,GrpTRESRaw,TRESRunMins").stdout
    for line in out.splitlines():
        name, user, limits, raw, run = line.split("|")
        if name.strip() == account and not user:
            def numbers(text):
                return {k: float(v) for k, v in (p.split("=") for p in text.split(",") if "=" in p)}
            return {"limits": numbers(limits), "used": numbers(raw), "running": numbers(run)}
    raise AssertionError(f"no line of {account} in sshare")


@contextlib.contextmanager
def gpu_budget(account: str, minutes: int):
    """The account's GPU-minutes limit set for the test, as an administrator would; put back after."""
    before = sh("sacctmgr", "-nP", "show", "assoc", "where", f"account={account}", "format=user,grptresmins").stdout
    old = next(line.split("|")[1] for line in before.splitlines() if line.startswith("|"))
    limits = dict(p.split("=") for p in old.split(",")) if old else {}
    sh("sacctmgr", "-i", "modify", "account", account, "set",
       "GrpTRESMins=" + ",".join(f"{k}={v}" for k, v in {**limits, "gres/gpu": str(minutes)}.items()))
    try:
        yield
    finally:
        sh("sacctmgr", "-i", "modify", "account", account, "set", f"GrpTRESMins={old or '-1'}")


def budget(browser: Browser, **typed) -> dict:
    r = browser.availability(**typed)
    assert r.status_code == 200, r.text
    return r.json().get("budget")


def test_the_budget_on_the_form_is_sshares_figure(hub, clean):
    alice = Browser("alice")
    html = alice.form().text
    chosen = form_state(html)["values"]["account"]
    assert f"Budget of {chosen}" in html  # the account the form opens with (her last, else her default)

    def agree():
        shown = budget(alice, account="proj-b")
        line = sshare_line("proj-b")
        lines = {x["tres"]: x for x in shown["lines"]}
        same = all(lines[t]["used_minutes"] == line["used"][t] and lines[t]["limit_minutes"] == line["limits"][t]
                   and lines[t]["running_minutes"] == line["running"][t] for t in ("cpu", "gres/gpu"))
        return shown if same else None
    shown = wait_for(agree, 30, 1, what="the form's budget and sshare to agree")
    assert shown["account"] == "proj-b"
    assert [x["text"].split(" used")[0].split(" of ")[1] for x in shown["lines"]] == ["1,000 CPU-hours",
                                                                                        "100 GPU-hours"]
    # only the user's own accounts: bob is not in proj-a
    assert "budget" not in Browser("bob").availability(account="proj-a").json()


def test_a_request_past_the_budget_is_warned_and_slurm_holds_it_for_that_reason(hub, clean):
    alice = Browser("alice")
    line = sshare_line("proj-b")
    spent = line["used"]["gres/gpu"] + line["running"]["gres/gpu"]
    with gpu_budget("proj-b", int(spent) + 100):  # 100 GPU-minutes left
        def warned():
            b = budget(alice, account="proj-b", cores="1", memory="500", gpus="2", hours="1")
            return b if b["warning"] else None
        b = wait_for(warned, 30, 1, what="the form to know the new limit")
        assert "(AssocGrpGRESMinutes)" in b["warning"] and "2 GPU-hours (2 GPUs × 1 h)" in b["warning"]
        assert budget(alice, account="proj-b", cores="1", memory="500", gpus="1", hours="1")["warning"] == ""
        assert budget(alice, account="proj-a", cores="1", memory="500", gpus="2", hours="1")["warning"] == ""

        # warned, not refused: if the user starts it anyway, Slurm holds it for the reason the warning gave
        r = hub.start("alice", {"account": "proj-b", "cores": 1, "memory": 500, "gpus": 2, "hours": 1})
        assert r.status_code in (201, 202), r.text
        job = wait_for(lambda: (hub.server("alice") or {}).get("state", {}).get("job_id"), 30, 0.5,
                       what="the job")
        wait_for(lambda: any(j["id"] == job and j["reason"] == "AssocGrpGRESMinutes" for j in squeue()), 60, 1,
                 what="Slurm to hold the job for the budget")
        card = wait_for(lambda: next((c for c in hub.sessions("alice") if c["name"] == "" and c["waiting"]), None),
                        30, 1, what="the card to say why it waits")
        assert "(AssocGrpGRESMinutes)" in card["waiting"], card
        assert hub.cancel("alice").status_code == 200

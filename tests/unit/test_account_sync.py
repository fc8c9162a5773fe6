"""The account sync (ops/account_sync.py): the plan from recorded sacctmgr output, and a run with the directory
and Slurm's accounting as objects passed in."""

from pathlib import Path

from jupyterhub_slurm_interactive.ops.account_sync import (
    Change,
    main,
    parse_associations,
    parse_defaults,
    plan,
    sync,
)

FIXTURES = Path(__file__).parent / "fixtures"


def recorded():
    have = parse_associations((FIXTURES / "sacctmgr_assoc_account_user.txt").read_text())
    defaults = parse_defaults((FIXTURES / "sacctmgr_users_all.txt").read_text())
    return have, defaults


def test_the_recorded_associations_are_read_per_user_without_the_account_lines():
    have, defaults = recorded()
    assert have["alice"] == {"proj-a", "proj-b"}
    assert have["bob"] == {"proj-b"}
    assert have["jupyterhub"] == {"operators"}
    assert "" not in have and "proj-a" not in have  # the account's own line ("proj-a|") is no user
    assert defaults["alice"] == "proj-a" and defaults["bob"] == "proj-b"


def test_a_directory_that_says_what_slurm_says_changes_nothing():
    have, defaults = recorded()
    wanted = {a: {u for u, accounts in have.items() if a in accounts} for a in ("proj-a", "proj-b")}
    assert plan(wanted, have, defaults) == []


def test_a_new_member_is_added_and_someone_who_left_is_removed():
    have, defaults = recorded()
    wanted = {"proj-a": {"alice", "bob"}, "proj-b": {u for u, a in have.items() if "proj-b" in a} - {"crowd07"}}
    assert plan(wanted, have, defaults) == [Change("add", "bob", "proj-a"), Change("remove", "crowd07", "proj-b")]


def test_leaving_the_default_account_moves_the_default_to_one_that_remains():
    have = {"alice": {"proj-a", "proj-b"}}
    changes = plan({"proj-a": set()}, have, {"alice": "proj-a"})
    assert changes == [Change("default", "alice", "proj-b"), Change("remove", "alice", "proj-a")]
    # leaving the last one leaves no default to set (Slurm removes the user with it)
    assert plan({"proj-b": set()}, {"bob": {"proj-b"}}, {"bob": "proj-b"}) == [Change("remove", "bob", "proj-b")]


def test_accounts_not_managed_are_never_touched():
    have = {"alice": {"proj-a", "other"}, "carol": {"other"}}
    assert plan({"proj-a": {"alice"}}, have, {"alice": "other", "carol": "other"}) == []
    assert plan({"proj-a": set()}, have, {"alice": "other"}) == [Change("remove", "alice", "proj-a")]


class FakeDirectory:
    def __init__(self, groups):
        self.groups = groups

    def members(self, group):
        return set(self.groups[group])


class FakeSlurm:
    def __init__(self, accounts, have, defaults):
        self.known, self.have, self.default_of, self.applied = set(accounts), have, defaults, []

    def accounts(self):
        return self.known

    def associations(self):
        return {u: set(a) for u, a in self.have.items()}

    def defaults(self):
        return dict(self.default_of)

    def apply(self, change):
        self.applied.append(change)
        if change.action == "add":
            self.have.setdefault(change.user, set()).add(change.account)
            self.default_of.setdefault(change.user, change.account)
        elif change.action == "remove":
            self.have[change.user].discard(change.account)
        else:
            self.default_of[change.user] = change.account


def test_a_run_applies_the_plan_and_a_second_run_changes_nothing():
    slurm = FakeSlurm({"proj-a", "proj-b"}, {"alice": {"proj-a"}, "bob": {"proj-b"}}, {"alice": "proj-a", "bob": "proj-b"})
    directory = FakeDirectory({"proj-a": ["alice", "bob"], "proj-b": []})
    said = []
    assert sync(["proj-a", "proj-b"], directory, slurm, say=said.append) == 0
    assert said == ["add bob to proj-a", "make proj-a the default account of bob", "remove bob from proj-b"]
    said.clear()
    assert sync(["proj-a", "proj-b"], directory, slurm, say=said.append) == 0
    assert said == ["nothing to change: proj-a, proj-b follow the directory"]


def test_a_dry_run_says_what_it_would_do_and_does_nothing():
    slurm = FakeSlurm({"proj-a"}, {"alice": {"proj-a"}}, {"alice": "proj-a"})
    said = []
    assert sync(["proj-a"], FakeDirectory({"proj-a": ["bob"]}), slurm, dry_run=True, say=said.append) == 0
    assert said == ["would add bob to proj-a", "would remove alice from proj-a"]
    assert slurm.applied == []


def test_a_group_that_cannot_be_read_never_empties_its_account():
    slurm = FakeSlurm({"proj-a", "proj-b"}, {"alice": {"proj-a"}, "bob": {"proj-b"}}, {"alice": "proj-a", "bob": "proj-b"})
    said = []
    status = sync(["proj-a", "proj-b"], FakeDirectory({"proj-b": ["bob"]}), slurm, say=said.append)
    assert status == 1
    assert said[0] == "error: no group proj-a can be read from the directory: proj-a is left as it is"
    assert slurm.applied == []


def test_an_account_slurm_does_not_have_is_named():
    said = []
    status = sync(["proj-z"], FakeDirectory({"proj-z": ["alice"]}), FakeSlurm(set(), {}, {}), say=said.append)
    assert status == 1 and said[0].startswith("error: Slurm has no account proj-z: create it first")


def test_the_command_needs_an_account(capsys):
    try:
        main([])
    except SystemExit as e:
        assert e.code == 2
    assert "--account" in capsys.readouterr().err

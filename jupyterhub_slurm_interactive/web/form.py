"""The resource form: what it shows, built from what is known, and its HTML.

:func:`form_view` is pure: from a cluster snapshot, the user's accounts and
usable reservations, the releases, the request's bounds, the last accepted
request and a refused POST it computes every value, choice and message the
form shows. :func:`render_form` turns that view into HTML with
``templates/options_form.html.j2``. A refused POST is kept in a
:class:`FormStash` until the next render shows it.
"""

from __future__ import annotations

import json
from collections import defaultdict

from jupyterhub_slurm_interactive.choice.budget import budget_json
from jupyterhub_slurm_interactive.choice.choices import oversubscribe_factor, reservation_label
from jupyterhub_slurm_interactive.choice.presets import Preset
from jupyterhub_slurm_interactive.choice.releases import INTERFACES, Release
from jupyterhub_slurm_interactive.choice.request import FIELDS, Limits
from jupyterhub_slurm_interactive.cluster.availability import build_table, fit_warning
from jupyterhub_slurm_interactive.cluster.budgets import Budget
from jupyterhub_slurm_interactive.cluster.views import Snapshot
from jupyterhub_slurm_interactive.session.templating import make_environment
from jupyterhub_slurm_interactive.slurm import commands as slurm
from jupyterhub_slurm_interactive.words import clock_time

#: How a session ends that the user did not choose: its banner is a warning, with the job's output.
FAILED_STATES = frozenset({"FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL"})


class FormStash:
    """The values and errors of a refused form POST, shown once by the next render of that user's server.

    Kept by user and server, not on the spawner: JupyterHub may render the form again from
    another spawner object of the same server.
    """

    def __init__(self):
        self._entries: dict = {}

    def put(self, user: str, server: str, values: dict, errors: dict):
        self._entries[(user, server)] = {"values": values, "errors": errors}

    def pop(self, user: str, server: str) -> dict:
        return self._entries.pop((user, server), {})


def form_values(defaults: dict, accounts: list[str], usable: list[slurm.Reservation], releases: list[Release],
                last_options: dict | None, refused: dict | None) -> dict:
    """The values the form is prefilled with: a refused POST's, else the last accepted request's, else the
    defaults; each corrected to a choice that is still offered."""
    values = {**defaults, "account": accounts[0] if accounts else "", "reservation": "", "ui": "", "mail": False}
    values.update({k: v for k, v in (last_options or {}).items() if k in values})
    values.update(refused or {})
    if values.get("reservation") not in {r.name for r in usable}:
        values["reservation"] = ""
    if values.get("account") not in accounts:
        values["account"] = accounts[0] if accounts else ""
    if values.get("release") not in {r.name for r in releases} and releases:
        values["release"] = releases[0].name
    chosen = next((r for r in releases if r.name == values.get("release")), None)
    offered = chosen.interfaces if chosen else ("lab",)
    if values.get("ui") not in offered:
        values["ui"] = offered[0]
    return values


def split_end(message: str, lines: int = 40) -> dict:
    """How a session ended, in its parts for the banner: the sentence, the end of the job's output (its
    last ``lines`` lines) and where the whole output is."""
    head, _, rest = message.partition(" The end of its output:\n")
    if not rest:
        head, _, path = message.partition("\nThe whole output is in ")
        return {"text": head, "output": "", "path": path.rstrip(".")}
    output, _, path = rest.rpartition("\nThe whole output is in ")
    if not _:
        output, path = rest, ""
    return {"text": head, "output": "\n".join(output.splitlines()[-lines:]), "path": path.rstrip(".")}


def form_view(*, snapshot: Snapshot, partition: str, accounts: list[str], accounts_from_slurm: bool,
              usable: list[slurm.Reservation], releases: list[Release], limits: Limits, defaults: dict,
              last_options: dict | None = None, refused: dict | None = None, last_end: str = "",
              last_end_state: str = "",
              refresh_seconds: float = 5, endpoint: str = "", session_name: str = "",
              budgets: dict[str, Budget] | None = None, presets: list[Preset] | None = None,
              presets_url: str = "", mail_to: str = "your mailbox on the cluster") -> dict:
    """Everything the form template shows, as plain values; ``budgets``: the projects' budgets, by account;
    ``presets``: those this user may fill the form with."""
    refused = refused or {}
    errors = refused.get("errors", {})
    values = form_values(defaults, accounts, usable, releases, last_options, refused.get("values"))
    table = build_table(snapshot.nodes, snapshot.reservations, partition, values["reservation"])
    chosen = next((r for r in releases if r.name == values["release"]), None)
    offered = chosen.interfaces if chosen else ("lab",)
    warning = fit_warning(table, values.get("cores"), values.get("memory"), values.get("gpus"))
    return {
        "values": defaultdict(str, values),
        "errors": defaultdict(str, errors),
        "field_errors": [k for k in errors if k in FIELDS],
        "other_errors": [(k, v) for k, v in errors.items() if k not in FIELDS],
        "limits": limits,
        "accounts": accounts,
        "default_account_first": accounts_from_slurm,
        "account_field": "select" if accounts else ("none" if accounts_from_slurm else "hidden"),
        "reservations": [{"name": r.name, "label": reservation_label(r)} for r in usable],
        "releases": releases,
        "ui_choices": [(i, INTERFACES[i]) for i in offered],
        "interface_names": INTERFACES,
        "interfaces_json": json.dumps({r.name: [[i, INTERFACES[i]] for i in r.interfaces] for r in releases})
        .replace("<", "\\u003c"),
        "table": table,
        "presets": [p.as_json() for p in presets or []],
        "presets_json": json.dumps([p.as_json() for p in presets or []]).replace("<", "\\u003c"),
        "budget": budget_json((budgets or {}).get(values["account"]), values.get("cores"), values.get("gpus"),
                              values.get("hours")),
        "updated": clock_time(snapshot.taken_at),
        "updated_epoch": snapshot.taken_at,
        "refresh_seconds": refresh_seconds,
        "endpoint": endpoint,
        "presets_url": presets_url,
        "mail_to": mail_to,
        "oversubscribe": oversubscribe_factor(snapshot.partitions.get(partition, {}).get("OverSubscribe", "")),
        "last_end": split_end(last_end) if last_end else None,
        "last_end_failed": (last_end_state.split() or [""])[0] in FAILED_STATES,
        "session_name": session_name,
        "fit_warning": warning,
    }


def render_form(view: dict) -> str:
    """The form's HTML from :func:`form_view`."""
    return make_environment(autoescape=True).get_template("options_form.html.j2").render(**view)


def render_unavailable(message: str, accounts: bool = False, misconfigured: str = "") -> str:
    """What the form page shows when Slurm cannot be asked at all (or, with ``accounts``, when Slurm
    accounting cannot say which accounts this user has; with ``misconfigured``, the fix, when the hub
    cannot see its sessions' jobs). The page offers no Start button then."""
    return make_environment(autoescape=True).get_template("form_unavailable.html.j2").render(
        message=message, accounts=accounts, misconfigured=misconfigured)

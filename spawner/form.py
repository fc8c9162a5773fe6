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
import time
from collections import defaultdict

from . import slurm
from .availability import build_table
from .choices import oversubscribe_factor, reservation_label
from .cluster import Snapshot
from .releases import INTERFACES, Release
from .request import FIELDS, Limits
from .templating import make_environment


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
    values = {**defaults, "account": accounts[0] if accounts else "", "reservation": "", "ui": ""}
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


def gpu_warning(wanted, max_free_gpus: int) -> str:
    """The warning under the GPU field when no node has that many GPUs free; "" when one has."""
    try:
        wanted = int(wanted or 0)
    except (TypeError, ValueError):
        return ""
    if wanted <= max_free_gpus:
        return ""
    return f"No node has {wanted} free GPUs right now: your session will wait in the queue."


def form_view(*, snapshot: Snapshot, partition: str, accounts: list[str], accounts_from_slurm: bool,
              usable: list[slurm.Reservation], releases: list[Release], limits: Limits, defaults: dict,
              last_options: dict | None = None, refused: dict | None = None, last_end: str = "",
              refresh_seconds: float = 5, endpoint: str = "", session_name: str = "") -> dict:
    """Everything the form template shows, as plain values."""
    refused = refused or {}
    errors = refused.get("errors", {})
    values = form_values(defaults, accounts, usable, releases, last_options, refused.get("values"))
    table = build_table(snapshot.nodes, snapshot.reservations, partition, values["reservation"])
    chosen = next((r for r in releases if r.name == values["release"]), None)
    offered = chosen.interfaces if chosen else ("lab",)
    warning = gpu_warning(values.get("gpus"), table.max_free_gpus)
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
        "updated": time.strftime("%H:%M:%S", time.localtime(snapshot.taken_at)),
        "refresh_seconds": refresh_seconds,
        "endpoint": endpoint,
        "oversubscribe": oversubscribe_factor(snapshot.partitions.get(partition, {}).get("OverSubscribe", "")),
        "last_end": last_end,
        "session_name": session_name,
        "gpu_warning": bool(warning),
        "gpu_warning_text": warning,
    }


def render_form(view: dict) -> str:
    """The form's HTML from :func:`form_view`."""
    return make_environment(autoescape=True).get_template("options_form.html.j2").render(**view)


def render_unavailable(message: str, accounts: bool = False) -> str:
    """What the form page shows when Slurm cannot be asked at all (or, with ``accounts``, when Slurm
    accounting cannot say which accounts this user has)."""
    return make_environment(autoescape=True).get_template("form_unavailable.html.j2").render(
        message=message, accounts=accounts)

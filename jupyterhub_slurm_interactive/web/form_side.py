"""The spawner's side of the form and of a request: what a user may ask for, the form, the table of free
resources, and the one place a request is checked (:meth:`FormSide.resource_request`).

A request is parsed once, where it comes in: from the form (:meth:`FormSide.options_from_form`) or from the
REST API's ``user_options`` (at the start). From there on it is a
:class:`~choice.request.ResourceRequest`, kept in the hub's saved state as one.
"""

from __future__ import annotations

import dataclasses
import time

from jupyterhub.utils import url_path_join
from tornado import web

from jupyterhub_slurm_interactive.choice import offer, presets
from jupyterhub_slurm_interactive.choice.budget import budget_json
from jupyterhub_slurm_interactive.choice.request import (
    FIELDS,
    InvalidRequest,
    ResourceRequest,
    field_errors,
    from_form,
    parse_request,
)
from jupyterhub_slurm_interactive.cluster.availability import build_table, fit_warning
from jupyterhub_slurm_interactive.slurm.runner import SlurmError
from jupyterhub_slurm_interactive.web import form
from jupyterhub_slurm_interactive.words import clock_time


class FormSide:
    """Part of InteractiveSlurmSpawner: its settings (SessionSettings), ``shared``, ``cluster()`` and
    ``visibility()`` come from the spawner."""

    #: The request of the session being started or running (None: none yet, or it ended).
    request: ResourceRequest | None = None
    #: The last request that was accepted (kept across sessions, for the form and "again").
    last_request: ResourceRequest | None = None
    #: A request checked by options_from_form: (the options it gave JupyterHub for the start, the request,
    #: when); the start takes it as it is if it comes within check_view_max_age with the same options.
    _checked: tuple[dict, ResourceRequest, float] | None = None

    def offer_settings(self) -> offer.OfferSettings:
        names = [f.name for f in dataclasses.fields(offer.OfferSettings)]
        return offer.OfferSettings(**{n: getattr(self, n) for n in names if n != "accounts"},
                                   accounts=tuple(self.accounts))

    async def gather_offer(self, max_age: float | None = None) -> offer.Offer:
        """What this user may ask for now (:mod:`choice.offer`); SlurmError if Slurm was never reached."""
        settings = self.offer_settings()
        return await offer.gather(self.user.name, self.shared.sources(settings), settings, max_age)

    async def offer(self, max_age: float | None = None) -> offer.Offer:
        """What this user may ask for now; a 503 if Slurm was never reached."""
        try:
            return await self.gather_offer(max_age)
        except SlurmError as e:
            raise web.HTTPError(503, f"Slurm cannot be asked about resources right now: {e.message}")

    async def availability(self, reservation: str = "", request: dict | None = None) -> dict:
        """The table of free resources (JSON-ready), outside reservations or inside one this user may use;
        with ``request`` (cores, memory, gpus, hours as typed), whether one free node can hold it, and
        ``errors``: what the start would refuse in those fields, by the same check, before it is sent; and the
        ``budget`` of the account in ``request`` (the user's first if none), with a warning if a session of that
        size would pass it (choice.budget)."""
        given = await self.offer()
        if reservation and reservation not in given.limits.reservations:
            raise web.HTTPError(403, f"Reservation {reservation[:64]!r} is not one you may use")
        snapshot = given.snapshot  # the view the offer was made from: one look at the cluster, not two
        table = build_table(snapshot.nodes, snapshot.reservations, self.partition, reservation)
        answer = table.as_json()
        answer.update(taken_at=snapshot.taken_at, stale=snapshot.stale, refresh_seconds=self.availability_interval,
                      taken_at_text=clock_time(snapshot.taken_at))
        request = dict(request) if request is not None else None
        account = (request.pop("account", "") if request is not None else "") or (
            given.accounts[0] if given.accounts else "")
        if request:  # the account is the budget's; the fields are checked as the start checks them
            answer["errors"] = field_errors(request, given.limits, given.defaults)
            answer["fit_warning"] = "" if answer["errors"] else fit_warning(
                table, request.get("cores"), request.get("memory"), request.get("gpus"))
        if account in given.accounts:
            r = request if request and not answer.get("errors") else {}  # a size in error warns of nothing more
            answer["budget"] = budget_json(await self.shared.budgets(self.budget_interval).of(account),
                                           r.get("cores"), r.get("gpus"), r.get("hours"))
        return answer

    async def resource_request(self) -> ResourceRequest:
        """The checked request of this start; a 400 naming the field if it is not acceptable. A request the
        form checked a moment ago is taken as it is; one from the REST API is checked here."""
        options = self.user_options or {}
        checked, self._checked = self._checked, None
        if checked is not None and checked[0] == options and time.monotonic() - checked[2] < self.check_view_max_age:
            request = checked[1]
        else:
            request = await self._check(options)
        # what the session runs with, as checked (not as sent), shown by the REST API
        self.user_options = self.orm_spawner.user_options = request.as_options()
        self.request = self.last_request = request
        return request

    async def _check(self, options: dict) -> ResourceRequest:
        given = await self.offer(self.check_view_max_age)
        if not given.accounts and given.accounts_from_slurm:
            raise web.HTTPError(403, f"{self.user.name} has no Slurm account to run sessions with; "
                                     "ask the centre to add you to a project")
        if not given.releases:
            raise web.HTTPError(503, f"No software release is installed under {self.releases_dir}")
        try:
            try:
                return parse_request(options, given.limits, given.defaults)
            except InvalidRequest:
                # a refusal is never made on an older view: a reservation made a moment ago is known now
                given = await self.offer()
                return parse_request(options, given.limits, given.defaults)
        except InvalidRequest as e:
            self._forget_options()
            raise web.HTTPError(400, f"Invalid {e.field}: {e.message}")

    def _forget_options(self):
        """JupyterHub replays a server's saved user_options when a start names none. Here a
        start without options means the defaults; the last choices live in last_request."""
        if self.orm_spawner is not None:
            self.orm_spawner.user_options = None

    async def render_options_form(self) -> str:
        """The resource form with the table of free resources, prefilled with the last choices."""
        verdict = await self.visibility().get()
        if not verdict.ok:
            return form.render_unavailable(verdict.problem, misconfigured=verdict.fix)
        try:
            given = await self.gather_offer()
        except SlurmError as e:
            return form.render_unavailable(e.message, accounts=isinstance(e, offer.AccountsUnknown))
        last_end = self.session.end_news(self.end_notice_seconds)
        if last_end:
            self._save_state()
        return form.render_form(form.form_view(
            snapshot=given.snapshot, partition=self.partition, accounts=given.accounts,
            accounts_from_slurm=given.accounts_from_slurm, usable=given.reservations, releases=given.releases,
            limits=given.limits, defaults=given.defaults,
            last_options=self.last_request.as_options() if self.last_request else None,
            refused=self.shared.form_stash.pop(self.user.name, self.name), last_end=last_end.get("message", ""),
            last_end_state=last_end.get("state", ""), refresh_seconds=self.availability_interval,
            session_name=self.name, endpoint=url_path_join(self.hub.base_url, "api/slurm-interactive/availability"),
            budgets=await self.budgets(), presets=self.user_presets(),
            mail_to=self.mail_user.format(user=self.user.name) if self.mail_user else "your mailbox on the cluster",
            presets_url=url_path_join(self.hub.base_url, "api/slurm-interactive/users", self.user.escaped_name,
                                      "presets")))

    async def known_accounts(self) -> list[str]:
        """The user's accounts as the hub knows them now (for their work areas); [] if Slurm does not say."""
        try:
            return (await self.gather_offer(self.check_view_max_age)).accounts
        except SlurmError:
            return []

    # ------------------------------------------------------------------ presets (choice.presets)
    def preset_store(self) -> presets.PresetStore:
        return presets.PresetStore(self.presets_dir)

    def user_presets(self) -> list[presets.Preset]:
        """The site's presets this user's groups see, then the user's own."""
        site = presets.visible(presets.site_presets(self.presets), self.shared.groups.groups(self.user.name))
        return site + self.preset_store().load(self.user.name)

    async def save_preset(self, title: str, values) -> presets.Preset:
        """Keep the user's choices as a preset, once they pass the check a start makes (InvalidRequest names the
        field; ValueError says what else is wrong). Only the fields given are kept, as the check wrote them."""
        if not isinstance(values, dict) or not values or not set(values) <= set(FIELDS):
            raise ValueError(f"values must be an object of the form's fields ({', '.join(FIELDS)})")
        given = await self.offer()
        checked = parse_request(values, given.limits, given.defaults, blank_is_error=True).as_options()
        return self.preset_store().save(self.user.name, title, {k: ResourceRequest(**checked).form_value(k)
                                                                 for k in values})

    async def budgets(self) -> dict:
        """Every project's budget by account, from the shared view; {} while Slurm does not say."""
        try:
            return await self.shared.budgets(self.budget_interval).get()
        except SlurmError:
            return {}

    async def options_from_form(self, formdata):
        """Check a form POST; a refused one is shown again with each message by its field."""
        raw = from_form({k: v for k, v in formdata.items() if k != "_xsrf"})
        given = await self.offer()
        try:
            request = parse_request(raw, given.limits, given.defaults, blank_is_error=True)
        except InvalidRequest as e:
            values = {k: v for k, v in raw.items() if k in FIELDS and isinstance(v, str)}
            self.shared.form_stash.put(self.user.name, self.name, values, e.errors)
            raise web.HTTPError(400, f"Invalid {e.field}: {e.message}")
        options = request.as_options()
        self._checked = (options, request, time.monotonic())
        return options

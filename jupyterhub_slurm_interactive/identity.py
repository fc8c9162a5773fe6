"""Logging in with the site's identity: OpenID Connect through the centre's provider, over the directory
the cluster's hosts resolve their accounts from.

:class:`ClusterOIDCAuthenticator` is oauthenticator's GenericOAuthenticator with what a cluster needs on
top of it:

- a person is let in only if they are one of the cluster's accounts (a Unix user the hub resolves, from
  the same directory as the nodes). The provider may know people the cluster does not: they get a page
  that says so, and no job is ever submitted for them;
- a refusal says which rule refused, in a sentence, on the hub's own error page;
- each refresh (``auth_refresh_age``) asks the provider again with the refresh token, so that the groups
  are what the directory says now, and the person must still pass ``allowed_groups``: someone taken out
  of the group loses access at their first request after that age, not when their tokens expire;
- a provider that cannot be reached (down, timing out, answering 5xx) is not a refusal: who was confirmed
  within ``provider_outage_grace`` stays signed in, and is asked about again at the next refresh. Only the
  provider's own answer that the grant is no longer good (4xx) ends a login at once.

Everything else (discovery of nothing, endpoints, PKCE, ``manage_groups``, ``admin_groups``, logout at the
provider) is oauthenticator's, configured in ``jupyterhub_config.py``/``site_config.py``.
"""

import asyncio
import pwd
import time
from collections.abc import Callable

from oauthenticator.generic import GenericOAuthenticator
from tornado import web
from tornado.httpclient import HTTPClientError
from traitlets import Callable as CallableTrait
from traitlets import Integer, Unicode, default

#: Where a login keeps when the provider last confirmed it (seconds since the epoch), in its auth state.
CONFIRMED_AT = "confirmed_at"


class ProviderUnreachable(Exception):
    """The provider could not be asked: no connection, no answer in time, or a server error of its own."""


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the provider could not be asked (rather than that it answered no). Tornado reports
    a connection that failed or timed out as code 599."""
    if isinstance(error, HTTPClientError):
        return error.code == 599 or error.code >= 500
    return isinstance(error, (OSError, asyncio.TimeoutError))


def cluster_uid(name: str) -> int | None:
    """The uid of the cluster's account ``name`` as this host resolves it (files, LDAP, SSSD…), or None."""
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def refusal(name: str, allowed: bool, allowed_groups: set[str], uid: int | None, centre: str) -> str:
    """Why ``name`` may not use the hub, in a sentence; '' if they may. ``allowed`` is the provider's rules'
    verdict (allowed users and groups, admins), ``allowed_groups`` the groups that let people in, ``uid``
    their uid on the cluster (None: no account there)."""
    if not allowed:
        among = f"in the group {' or '.join(sorted(allowed_groups))}" if allowed_groups else "among the people"
        return f"{name} signed in, but is not {among} of people who may use this service. {centre}"
    if uid is None:
        return (f"{name} signed in, but has no account on this cluster, so no session can run as {name}. "
                f"{centre}")
    return ""


class ClusterOIDCAuthenticator(GenericOAuthenticator):
    """GenericOAuthenticator for the cluster: only the cluster's accounts, refusals in a sentence, and the
    groups asked again at each refresh."""

    ask_the_centre = Unicode(
        "Ask your centre's support to give you access.",
        config=True,
        help="The sentence that ends every refusal: whom to ask, and how (a site puts its help desk here).",
    )

    provider_outage_grace = Integer(
        3600,
        config=True,
        help="""Seconds after the provider last confirmed a login during which the login stays good while the
        provider cannot be reached (refused connection, timeout, a 5xx answer): people already signed in keep
        working through an outage of the sign-in service, and are asked about again at each refresh until it
        answers. Someone taken out of the group meanwhile is refused once it does. 0: a refresh the provider
        misses ends the login, as one it refuses does.""",
    )

    resolve_uid = CallableTrait(
        config=True,
        help="""How the hub finds a person's uid on the cluster: a callable name -> uid or None. The default
        asks this host's name service (getpwnam), which resolves from the same directory as the nodes.""",
    )

    @default("resolve_uid")
    def _resolve_uid_default(self) -> Callable[[str], int | None]:
        return cluster_uid

    @default("login_service")
    def _login_service_default(self):
        return "your institution"

    async def _why_not(self, username: str, auth_model: dict) -> str:
        allowed = await super().check_allowed(username, auth_model)
        return refusal(username, bool(allowed), set(self.allowed_groups), self.resolve_uid(username),
                       self.ask_the_centre)

    async def check_allowed(self, username, auth_model):
        """oauthenticator's rules (allowed users and groups, admins), then: the person has an account on the
        cluster. A refusal is a 403 whose message says which rule refused, on the hub's error page."""
        if auth_model is None:
            return await super().check_allowed(username, auth_model)
        why = await self._why_not(username, auth_model)
        if why:
            raise web.HTTPError(403, why, reason="Forbidden")
        return True

    async def _ask_again(self, handler, refresh_token: str, username: str):
        """The person's model from a fresh refresh grant (the provider reads the directory again), stamped with
        the time of this confirmation; None if the provider said no. ProviderUnreachable if it could not be asked."""
        try:
            token_info = await self.get_token_info(handler, self.build_refresh_token_request_params(refresh_token))
            token_info.setdefault("refresh_token", refresh_token)
            model = await self._token_to_auth_model(token_info)
        except Exception as e:  # noqa: BLE001 - whatever the provider did, the question is: did it answer no?
            if unreachable(e):
                raise ProviderUnreachable(str(e)) from e
            self.log.info("The provider did not confirm %s again (%s)", username, e)
            return None
        model.setdefault("auth_state", {})[CONFIRMED_AT] = time.time()
        return model

    async def authenticate(self, handler, data=None, **kwargs):
        """oauthenticator's login, then the groups asked again with the refresh token: a provider that answers
        from its single sign-on session (LemonLDAP::NG, Keycloak) gives that session's groups, which may be
        older than the directory's; a refresh grant reads the directory now."""
        model = await super().authenticate(handler, data, **kwargs)
        refresh_token = ((model or {}).get("auth_state") or {}).get("refresh_token")
        if not refresh_token:
            return model
        try:
            fresh = await self._ask_again(handler, refresh_token, model["name"])
        except ProviderUnreachable as e:
            self.log.warning("The provider could not be asked again about %s at login (%s)", model["name"], e)
            fresh = None
        if fresh is None or fresh["name"] != model["name"]:
            raise web.HTTPError(503, "The sign-in service did not confirm who you are. Please try again in a minute.",
                                reason="Service Unavailable")
        return fresh

    async def refresh_user(self, user, handler=None, **kwargs):
        """Ask the provider afresh with the refresh token (the groups the directory has now), then check the
        person again. False means: log in again, where the refusal is said. True (nothing changes): the provider
        could not be asked, and confirmed this login within ``provider_outage_grace``."""
        if not self.enable_auth_state:
            return True
        auth_state = await user.get_auth_state() or {}
        refresh_token = auth_state.get("refresh_token")
        if not refresh_token:
            return await super().refresh_user(user, handler, **kwargs)
        try:
            auth_model = await self._ask_again(handler, refresh_token, user.name)
        except ProviderUnreachable as e:
            age = time.time() - float(auth_state.get(CONFIRMED_AT) or 0)
            if age < self.provider_outage_grace:
                self.log.warning("The provider cannot be reached (%s): %s stays signed in, confirmed %d s ago",
                                 e, user.name, age)
                return True
            self.log.warning("The provider cannot be reached (%s) and last confirmed %s %d s ago: log in again",
                             e, user.name, age)
            return False
        if auth_model is None:
            return False
        why = await self._why_not(user.name, auth_model)
        if why:
            self.log.warning("%s may no longer use the hub: %s", user.name, why)
            return False
        return auth_model

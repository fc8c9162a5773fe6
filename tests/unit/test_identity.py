"""The cluster's OpenID Connect login (identity.py) against a provider served in this process over real HTTP:
who is let in, the sentence a refusal says, and a refresh that asks the provider again."""

import json
import time

import pytest
from tornado import web
from tornado.httpclient import HTTPClientError
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from jupyterhub_slurm_interactive.identity import CONFIRMED_AT, ClusterOIDCAuthenticator, refusal, unreachable

CENTRE = "Ask your centre's support to give you access."


class Provider:
    """A provider's token and userinfo endpoints: tokens map to people, groups change when the test says."""

    def __init__(self):
        self.groups = {"alice": ["hpcusers", "proj-a"], "carol": ["proj-b"], "dave": ["hpcusers"]}
        self.refresh_tokens = {"r-alice": "alice", "r-carol": "carol"}
        self.issued = {}
        self.refresh_fails = False
        self.server_error = False

    def app(self):
        provider = self

        class Token(web.RequestHandler):
            def post(self):
                if provider.server_error:
                    raise web.HTTPError(502)
                if self.get_argument("grant_type") != "refresh_token" or provider.refresh_fails:
                    raise web.HTTPError(400)
                who = provider.refresh_tokens.get(self.get_argument("refresh_token"))
                if who is None:
                    raise web.HTTPError(400)
                access = f"a-{who}-{len(provider.issued)}"
                provider.issued[access] = who
                self.write({"access_token": access, "token_type": "Bearer", "expires_in": 60})

        class UserInfo(web.RequestHandler):
            def get(self):
                who = provider.issued.get(self.request.headers.get("Authorization", "").removeprefix("Bearer "))
                if who is None:
                    raise web.HTTPError(401)
                claims = {"sub": who, "preferred_username": who}
                if provider.groups.get(who):
                    claims["groups"] = provider.groups[who]
                self.write(json.dumps(claims))

        return web.Application([("/token", Token), ("/userinfo", UserInfo)])


class User:
    def __init__(self, name, refresh_token):
        self.name = name
        self.state = {"refresh_token": refresh_token, "token_response": {"access_token": "expired"}}

    async def get_auth_state(self):
        return self.state


@pytest.fixture
async def provider():
    p = Provider()
    sock, port = bind_unused_port()
    server = HTTPServer(p.app())
    server.add_sockets([sock])
    p.url = f"http://127.0.0.1:{port}"
    p.stop = server.stop  # the provider goes down: its port refuses connections
    yield p
    server.stop()


def authenticator(provider, uids=None):
    uids = {"alice": 2001, "carol": 2003} if uids is None else uids
    return ClusterOIDCAuthenticator(
        client_id="jupyterhub", client_secret="s", token_url=f"{provider.url}/token",
        userdata_url=f"{provider.url}/userinfo", authorize_url=f"{provider.url}/authorize",
        username_claim="preferred_username", manage_groups=True, auth_state_groups_key="oauth_user.groups",
        allowed_groups={"hpcusers"}, admin_groups={"operators"}, enable_auth_state=True,
        resolve_uid=uids.get)


def test_the_refusals_say_which_rule_refused_in_a_sentence():
    assert refusal("alice", True, {"hpcusers"}, 2001, CENTRE) == ""
    assert refusal("carol", False, {"hpcusers"}, 2003, CENTRE) == (
        "carol signed in, but is not in the group hpcusers of people who may use this service. " + CENTRE)
    assert refusal("dave", True, {"hpcusers"}, None, CENTRE) == (
        "dave signed in, but has no account on this cluster, so no session can run as dave. " + CENTRE)


async def test_a_member_with_an_account_on_the_cluster_is_let_in(provider):
    auth = authenticator(provider)
    model = await auth.refresh_user(User("alice", "r-alice"))
    assert model["name"] == "alice" and set(model["groups"]) == {"hpcusers", "proj-a"}
    assert await auth.check_allowed("alice", model) is True


async def test_someone_outside_the_group_or_without_an_account_gets_a_403_that_says_why(provider):
    auth = authenticator(provider)
    with pytest.raises(web.HTTPError) as refused:
        await auth.check_allowed("carol", {"name": "carol", "groups": ["proj-b"], "admin": None, "auth_state": {}})
    assert refused.value.status_code == 403 and "not in the group hpcusers" in refused.value.log_message
    with pytest.raises(web.HTTPError) as refused:
        await auth.check_allowed("dave", {"name": "dave", "groups": ["hpcusers"], "admin": None, "auth_state": {}})
    assert refused.value.status_code == 403 and "has no account on this cluster" in refused.value.log_message


async def test_an_admin_by_group_is_let_in_without_the_users_group_but_not_without_an_account(provider):
    auth = authenticator(provider, uids={"ops": 2100})
    assert await auth.check_allowed("ops", {"name": "ops", "groups": ["operators"], "admin": True,
                                            "auth_state": {}}) is True
    with pytest.raises(web.HTTPError):
        await auth.check_allowed("root2", {"name": "root2", "groups": ["operators"], "admin": True, "auth_state": {}})


async def test_a_refresh_asks_the_provider_again_and_someone_taken_out_of_the_group_must_log_in(provider):
    auth = authenticator(provider)
    alice = User("alice", "r-alice")
    assert (await auth.refresh_user(alice))["name"] == "alice"
    provider.groups["alice"] = ["proj-a"]  # taken out of hpcusers in the directory
    assert await auth.refresh_user(alice) is False


async def test_a_refresh_the_provider_refuses_means_logging_in_again(provider):
    auth = authenticator(provider)
    provider.refresh_fails = True
    assert await auth.refresh_user(User("alice", "r-alice")) is False


def confirmed(seconds_ago: float) -> dict:
    return {CONFIRMED_AT: time.time() - seconds_ago}


async def test_a_login_is_stamped_with_when_the_provider_confirmed_it(provider):
    before = time.time()
    model = await authenticator(provider).refresh_user(User("alice", "r-alice"))
    assert before <= model["auth_state"][CONFIRMED_AT] <= time.time()


async def test_a_provider_that_cannot_be_reached_keeps_who_it_confirmed_within_the_grace(provider):
    auth = authenticator(provider)
    alice = User("alice", "r-alice")
    provider.stop()  # no connection at all: tornado's 599
    alice.state.update(confirmed(60))
    assert await auth.refresh_user(alice) is True  # she stays signed in, and is asked about at the next refresh
    alice.state.update(confirmed(3601))
    assert await auth.refresh_user(alice) is False  # confirmed too long ago: log in again
    never = User("alice", "r-alice")  # a login from before this stamp, never confirmed: log in again
    assert await auth.refresh_user(never) is False


async def test_a_provider_that_fails_with_a_server_error_is_unreachable_not_a_no(provider):
    auth = authenticator(provider)
    provider.server_error = True
    alice = User("alice", "r-alice")
    alice.state.update(confirmed(10))
    assert await auth.refresh_user(alice) is True
    auth.provider_outage_grace = 0  # a site that wants no grace
    assert await auth.refresh_user(alice) is False


async def test_a_provider_that_answers_no_ends_the_login_whatever_the_grace(provider):
    auth = authenticator(provider)
    provider.refresh_fails = True  # a 400: the grant is no longer good
    alice = User("alice", "r-alice")
    alice.state.update(confirmed(1))
    assert await auth.refresh_user(alice) is False


def test_what_counts_as_the_provider_being_unreachable():
    assert unreachable(HTTPClientError(599)) and unreachable(HTTPClientError(502)) and unreachable(ConnectionError())
    assert not unreachable(HTTPClientError(400)) and not unreachable(HTTPClientError(401))
    assert not unreachable(web.HTTPError(403)) and not unreachable(KeyError("sub"))


def test_a_stale_cookie_login_on_jupyterhub_6_is_sent_to_log_in_not_an_attribute_error():
    import jupyterhub
    from jupyterhub.handlers.base import BaseHandler

    from jupyterhub_slurm_interactive import patches

    patches.stale_login_is_sent_to_log_in()
    if jupyterhub.version_info[0] >= 6:
        assert BaseHandler._token_authenticated is False
    assert patches.stale_login_is_sent_to_log_in() is False  # once

"""JupyterHub configuration for interactive Slurm sessions.

This is the configuration the local stack runs, and the example for sites. What
differs between sites (addresses, paths, the admin service's token) lives in
``site_config.py`` beside this file, which the Ansible role writes from the
inventory; this file loads it last, so it can override anything here.
"""

import os

c = get_config()  # noqa: F821

# --- sessions: Slurm jobs on the interactive partition ---------------------------
c.JupyterHub.spawner_class = "slurm-interactive"
# Several sessions per user ("My sessions"), e.g. a GPU one and a CPU one, each
# its own job at /user/NAME/SERVER/. The default server works as before.
c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = 3
# Sessions are Slurm jobs that outlive the hub: never cancel them when it stops.
c.JupyterHub.cleanup_servers = False
# A session may wait in the queue for as long as InteractiveSlurmSpawner.pending_timeout
# allows (hours); the user sees why on the progress page, and may cancel it there.
# JupyterHub's start_timeout follows pending_timeout: it is not set here.
# From job start to the server answering.
c.Spawner.http_timeout = 120
# How often the hub checks that each session still runs. All sessions share one
# squeue per InteractiveSlurmSpawner.queue_interval, however many there are.
c.Spawner.poll_interval = 10
# The session server listens on every address of its node; the hub reaches it
# at the node's NodeAddr as Slurm reports it.
c.Spawner.default_url = "/lab"

# --- the pages: JupyterHub's own templates, extended (by enable(c), below) with the session's form,
# its progress, "My sessions" and the operators' view. The site's branding: sites set these in
# site_config.py (the Ansible role writes them from hub_site_name, hub_site_tagline, hub_docs_url,
# hub_brand_color); c.JupyterHub.logo_file replaces the logo.
c.JupyterHub.template_vars = {
    "site_name": "Interactive Computing",
    "site_tagline": "Interactive GPU sessions on the cluster",
    "docs_url": "",
    "brand_color": "#1f5fa8",
}

# --- login: the cluster's own accounts through PAM --------------------------------
c.JupyterHub.authenticator_class = "pam"
# The hub is not root: it checks passwords (it is in the shadow group) but does
# not open PAM sessions.
c.PAMAuthenticator.open_sessions = False
# Never create system users from the hub.
c.LocalAuthenticator.create_system_users = False

# --- where the hub listens -----------------------------------------------------------
c.JupyterHub.bind_url = "http://127.0.0.1:8000"
# The sessions call back to the hub's API here; on a site with separate backend
# nodes set hub_bind_url to an address they can reach (hub_connect_ip).
c.JupyterHub.hub_bind_url = "http://127.0.0.1:8081"

# --- TLS inside the hub: the hub, its proxy and every session prove who they are with
# certificates the hub signs (sessions get theirs through the job's environment). A process
# on a node that binds a port a session left free cannot pass for that session.
c.JupyterHub.internal_ssl = True

# --- the site's settings -------------------------------------------------------------------
_site = os.path.join(os.path.dirname(os.path.abspath(__file__)), "site_config.py")
if os.path.exists(_site):
    load_subconfig(_site)  # noqa: F821

# --- the product, enabled in this hub (jupyterhub_slurm_interactive.hub.enable): the spawner's pages and API
# routes; the idle culler as a hub service with only the scopes it needs, from c.IdleSessions (a bad limit
# stops the hub here); the sessions in /hub/metrics; and a check, as the hub starts, that it sees its
# sessions' jobs (Slurm's PrivateData hides other users' jobs unless the hub's user is an operator whose
# uid slurmctld resolved): an error in this log names the fix if not, the form then says the service is
# misconfigured and no session starts blind. Importing the package alone changes nothing in JupyterHub.
import jupyterhub_slurm_interactive  # noqa: E402

jupyterhub_slurm_interactive.enable(c)

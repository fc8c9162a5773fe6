"""The comparison hub: stock batchspawner.SlurmSpawner (its MultiSlurmSpawner variant,
for node names that are not in DNS) with its defaults, on the same Slurm and the same
release as ours. Started by benchmarks/run.py as root on other ports; never deployed.
"""

import os

c = get_config()  # noqa: F821

state = os.environ["STOCK_STATE_DIR"]
c.JupyterHub.bind_url = "http://127.0.0.1:8100"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:8181"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:8101"
c.ConfigurableHTTPProxy.command = [os.environ["CHP"]]
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/cookie_secret"
c.JupyterHub.pid_file = f"{state}/jupyterhub.pid"
c.JupyterHub.cleanup_servers = True
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.services = [{"name": "bench", "api_token": os.environ["STOCK_TOKEN"]}]
c.JupyterHub.load_roles = [{"name": "bench", "scopes": ["admin:users", "admin:servers", "tokens", "list:users",
                                                        "read:users"], "services": ["bench"]}]

c.JupyterHub.spawner_class = "batchspawner.MultiSlurmSpawner"
# what a site must set for stock batchspawner to run here at all
c.MultiSlurmSpawner.daemon_resolver = {f"node0{i}": f"127.0.1.{i}" for i in range(1, 5)}
c.MultiSlurmSpawner.req_partition = "interactive"
c.MultiSlurmSpawner.req_options = "--oversubscribe"
release = os.environ["RELEASE_BIN"]
c.MultiSlurmSpawner.req_prologue = f"export PATH={release}:$PATH"
c.Spawner.cmd = [f"{release}/jupyterhub-singleuser"]
c.MultiSlurmSpawner.batchspawner_singleuser_cmd = f"{release}/batchspawner-singleuser"
c.Spawner.poll_interval = int(os.environ.get("POLL_INTERVAL", "10"))
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 120
c.Spawner.default_url = "/lab"

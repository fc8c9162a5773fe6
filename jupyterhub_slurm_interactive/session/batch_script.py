"""The session's batch script, built from a checked request, a release and the site's settings.

A pure function: no hub, no Slurm. Only a :class:`~choice.request.ResourceRequest`
(values already validated) and the site's own settings reach the script, and the
template quotes each of them again (``templates/batch_script.sh.j2``). The
server's API token is never in it: it reaches the job through the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from jupyterhub_slurm_interactive.choice.releases import Release
from jupyterhub_slurm_interactive.choice.request import ResourceRequest
from jupyterhub_slurm_interactive.session import workers
from jupyterhub_slurm_interactive.session.templating import make_environment

#: Bytes of the job's output a failing server sends to the hub (shown to the user).
REPORT_BYTES = 4000


@dataclass(frozen=True)
class SiteSettings:
    """What the site puts in every session's batch script."""

    job_name: str = "jupyterhub-session"
    mark: str = ""  # --comment: this hub's mark, with the user and the server (cluster.reconcile)
    partition: str = "interactive"
    qos: str = ""
    mail_user: str = ""  # where Slurm's mail goes when the user asks for it, {user} filled in; "": the user
    output_file: str = "{home}/.local/state/jupyterhub-slurm-interactive/session-%j.log"
    keep_sessions: int = 100  # outputs kept in output_file's directory: the newest this many (0: all)
    keep_days: int = 90  # and none older than this many days (0: however old)
    extra_directives: tuple[str, ...] = ()
    prologue: str = ""
    epilogue: str = ""
    srun: tuple[str, ...] = ()  # the server as a job step: e.g. ("srun",); empty: in the batch step
    server_cmd: tuple[str, ...] = ("jupyterhub-singleuser",)
    server_args: tuple[str, ...] = field(default=())
    work_areas: tuple[tuple[str, str], ...] = ()  # (link name, path), with {user} and {account} still in them
    areas_dir: str = "areas"  # the home's folder of their links


def output_path(output_file: str, home: str, job_id: str = "%j") -> str:
    """The job's output file: ``{home}`` is the user's home, ``%j`` the job ID."""
    return output_file.format(home=home).replace("%j", job_id)


#: The outputs of the former default, which the next session moves into output_file's directory.
FORMER_OUTPUT = ".jupyterhub-session-%j.log"


#: The release's package that reports the server's port once it listens (jupyterlab_slurm_interactive.port).
PORT_REPORTER = "jupyterlab-slurm-interactive"


def reports_its_port(release: Release) -> bool:
    """Whether the release's server tells the hub its port itself, once it listens on it."""
    return PORT_REPORTER in release.packages


def server_command(release: Release, settings: SiteSettings) -> list[str]:
    """The command the job runs. A release with our extension starts the single-user server on a port
    the kernel picks (``--port=0``), and the server reports it once it listens; any other release goes
    through batchspawner's ``batchspawner-singleuser``, which picks a port, reports it, then starts the
    server on it."""
    if reports_its_port(release):
        return [*settings.srun, *settings.server_cmd, "--port=0", *settings.server_args]
    return [*settings.srun, os.path.join(release.bin_dir, "batchspawner-singleuser"), *settings.server_cmd,
            *settings.server_args]


def work_area_links(areas: tuple[tuple[str, str], ...], user: str, accounts) -> list[tuple[str, str]]:
    """The session's work areas as (link name, path): {user} filled in, and an area with {account} once for each
    of the user's accounts (none if they have none)."""
    links = []
    for name, path in areas:
        if not user and "{user}" in name + path:
            continue
        for account in (accounts if "{account}" in name + path else [""]):
            if account or "{account}" not in name + path:
                links.append((name.format(user=user, account=account), path.format(user=user, account=account)))
    return links


def render_batch_script(request: ResourceRequest, release: Release, settings: SiteSettings, home: str,
                        user: str = "", accounts: list[str] | None = None) -> str:
    """The whole batch script of a session; ``ValueError`` if a site setting is not a plain token."""
    return make_environment().get_template("batch_script.sh.j2").render(
        request=request,
        release=release,
        job_name=settings.job_name,
        mark=settings.mark,
        partition=settings.partition,
        qos=settings.qos,
        output=output_path(settings.output_file, home),
        keep_sessions=max(0, settings.keep_sessions),
        keep_days=max(0, settings.keep_days),
        former_output=os.path.join(home, FORMER_OUTPUT),
        home=home,
        work_areas=work_area_links(settings.work_areas, user, accounts if accounts is not None else
                                   [request.account] if request.account else []),
        areas_path=os.path.join(home, settings.areas_dir),
        mail_user=settings.mail_user.format(user=user) if settings.mail_user and user else "",
        extra_directives=list(settings.extra_directives),
        prologue=settings.prologue,
        epilogue=settings.epilogue,
        command=server_command(release, settings),
        reports_its_port=reports_its_port(release),
        report_bytes=REPORT_BYTES,
        workers_env=workers.ENV,
        workers_prefix=workers.worker_job_name(""),
    )


def submit_environment(server_env: dict) -> dict:
    """What sbatch runs with: PATH for sudo, and the session's JUPYTERHUB_* variables (from the spawner's
    ``get_env()``), which sudo keeps and sbatch exports into the job. Nothing of the hub's own."""
    env = {k: v for k, v in server_env.items() if k.startswith("JUPYTERHUB_") or k == "JPY_API_TOKEN"}
    env.update(PATH="/usr/local/bin:/usr/bin:/bin", LANG="C.UTF-8")
    return env

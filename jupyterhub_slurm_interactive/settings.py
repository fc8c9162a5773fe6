"""The site's settings of the spawner (its traits, whose help is their documentation), and how a
batchspawner configuration carries over.

:class:`SessionSettings` holds every setting a site gives ``c.InteractiveSlurmSpawner``, each checked when it
is set, with a message that names it. ``InteractiveSlurmSpawner`` subclasses batchspawner's ``SlurmSpawner``,
so a site coming from batchspawner may still have batchspawner's settings in its configuration: those that
mean something here are honoured (:data:`HONOURED`, each checked as its own setting is), the others are
refused when the hub starts with a message that names each one and says what to use instead
(:data:`REFUSED`, :func:`batchspawner_settings`).
"""

from __future__ import annotations

import re

from traitlets import Any, Bool, Dict, Float, Integer, List, TraitError, Unicode, validate
from traitlets.config import Configurable

from jupyterhub_slurm_interactive.choice.presets import site_presets

#: A value that goes on an #SBATCH line or a command line as it is: no quotes, no shell characters.
_PLAIN = re.compile(r"^[A-Za-z0-9_./%@:=,+-]+$")


#: A work area's link name and path ({user} and {account} filled in at submission).
_AREA_NAME = re.compile(r"^(?!\.)[A-Za-z0-9._{}-]{1,64}$")
_AREA_PATH = re.compile(r"^/[A-Za-z0-9._/{}-]{1,255}$")
_PLACEHOLDER = re.compile(r"\{(user|account)\}")
_MAIL = re.compile(r"^[A-Za-z0-9._{}+-]{1,64}(@[A-Za-z0-9.-]{1,200})?$")


def plain_words(setting: str, value: str, *, one: bool = False) -> str:
    """``value`` if it is plain words (one plain word with ``one``); else TraitError naming the setting."""
    words = value.split(" ")
    if (one and len(words) > 1) or not all(_PLAIN.match(w) for w in words) or "\n" in value:
        kind = "one plain word" if one else "plain words"
        raise TraitError(f"InteractiveSlurmSpawner.{setting} must be {kind} (letters, digits and _./%@:=,+-), "
                         f"not {value[:80]!r}")
    return value


class SessionSettings(Configurable):
    """What a site sets for its sessions (c.InteractiveSlurmSpawner in jupyterhub_config.py)."""

    partition = Unicode("interactive", help="The Slurm partition sessions run in: an oversubscribed partition of "
                        "GPU nodes (OverSubscribe=FORCE:5 shares each core among up to five jobs).").tag(config=True)
    releases_dir = Unicode("/opt/releases", help="The directory of the software releases, one sub-directory each "
                           "with a release.json manifest and a Python environment with jupyterhub-singleuser."
                           ).tag(config=True)
    default_cores = Integer(1, help="Cores of a session when the user does not choose.").tag(config=True)
    default_memory = Integer(2000, help="Memory of a session in MB when the user does not choose.").tag(config=True)
    default_gpus = Integer(0, help="GPUs of a session when the user does not choose.").tag(config=True)
    default_hours = Integer(1, help="Walltime of a session in hours when the user does not choose.").tag(config=True)
    max_hours = Integer(0, help="The longest session in hours. 0 means the partition's MaxTime as Slurm reports it."
                        ).tag(config=True)
    max_total_hours = Integer(0, help="The longest a session may run in all, in hours, with the time added to it "
                              "('Add time'). 0: no cap but the partition's MaxTime.").tag(config=True)
    extend_steps = List(Integer(), [30, 60], help="The minutes 'Add time' offers on a running session's card and in "
                        "JupyterLab, each a whole number from 1 to 10080. Empty: no such offer (the REST API still "
                        "adds time within the rules).").tag(config=True)
    extend_while_others_wait = Bool(False, help="Add time to a session even while other people's jobs wait in its "
                                    "partition for what it holds (GPUs if it holds any, else cores and memory). Off: "
                                    "time is not taken from people in the queue.").tag(config=True)
    min_memory = Integer(100, help="The least memory in MB a session may ask for.").tag(config=True)
    job_name = Unicode("jupyterhub-session", help="The Slurm job name of sessions, to recognise them in squeue."
                       ).tag(config=True)
    output_file = Unicode("{home}/.local/state/jupyterhub-slurm-interactive/session-%j.log", help="The job's "
                          "output; {home} is the user's home, %j the job ID. The job makes its directory (mode 0700) "
                          "and the file readable by its owner only; the default keeps them out of the file browser "
                          "and the home's listing. Outputs of the former default (~/.jupyterhub-session-N.log) are "
                          "moved there by the next session.").tag(config=True)
    output_keep_sessions = Integer(100, help="How many sessions' outputs are kept in output_file's directory (the "
                                   "newest); each session removes older ones as it starts. 0 keeps every one."
                                   ).tag(config=True)
    output_keep_days = Integer(90, help="Days a session's output is kept in output_file's directory; each session "
                               "removes older ones as it starts. 0 keeps them however old.").tag(config=True)
    presets = List(Dict(), help="The site's presets, each filling the form in one click: {'title': 'Course: 1 "
                   "GPU for 2 h', 'description': 'In the course reservation', 'values': {'reservation': 'course', "
                   "'gpus': 1, 'hours': 2}, 'groups': ['course']}. values: any of the form's fields; groups: the Unix "
                   "groups that see it (none: everyone). The values are checked as typed ones when the form is sent."
                   ).tag(config=True)
    presets_dir = Unicode("presets", help="Where each user's own presets ('Save these choices as…') are kept, one "
                          "file per user, readable by the hub only; relative to the hub's working directory."
                          ).tag(config=True)
    work_areas = List(Dict(), help="The site's work areas, linked in every session's home folder work_areas_dir so "
                      "that the file browser reaches them: [{'name': 'work-{account}', 'path': '/work/{account}'}, "
                      "{'name': 'scratch', 'path': '/scratch/{user}'}]; {user} is the user, and an area with "
                      "{account} is linked once for each of the user's accounts. A link is made only to an area the "
                      "user may enter.").tag(config=True)
    mail_user = Unicode("", help="Where Slurm's mail goes when a user ticks 'Email me when it starts and when it "
                        "ends' (sbatch --mail-user): {user} is the user, e.g. '{user}@example.org'. Empty: the user "
                        "on the cluster's own mail system (Slurm's MailProg on the controller).").tag(config=True)
    work_areas_dir = Unicode("areas", help="The folder of the home where the work areas are linked (a plain name, "
                             "not hidden, so that the file browser shows it).").tag(config=True)
    extra_sbatch_options = List(Unicode(), help="Further #SBATCH options for every session, e.g. "
                                "['--qos=interactive']. Each must be plain words (no quotes or shell characters)."
                                ).tag(config=True)
    prologue = Unicode("", help="Shell lines run in the job before the server starts (site-wide, not per user)."
                       ).tag(config=True)
    epilogue = Unicode("", help="Shell lines run in the job after the server has ended, however it ended (by itself, "
                       "Stop, scancel or the walltime; in the last three Slurm leaves them about a minute, "
                       "--signal=TERM@60). Site-wide, not per user.").tag(config=True)
    qos = Unicode("", help="The Slurm QOS of every session (sbatch --qos); empty: the association's default. "
                  "One plain word.").tag(config=True)
    srun = Unicode("", help="Run the server as a job step with this command, e.g. 'srun' or 'srun --cpu-bind=none' "
                   "(plain words): a step of its own in Slurm's accounting and in the cgroups of sites that "
                   "confine steps. Empty: the server runs in the batch step, as batchspawner's req_srun=''."
                   ).tag(config=True)
    use_accounting = Bool(True, help="Read each user's accounts from Slurm accounting (sacctmgr). Turn off on sites "
                          "without slurmdbd: then the form offers the accounts listed in `accounts`, or no account "
                          "field.").tag(config=True)
    accounts = List(Unicode(), help="Accounts to offer where Slurm accounting is not used (use_accounting off, or no "
                    "slurmdbd). Empty: the form has no account field and jobs use Slurm's default.").tag(config=True)
    accounts_cache_seconds = Float(60, help="Every user's accounts are read for the whole site in one round of "
                                   "sacctmgr, then again, behind the pages, once the table is this many seconds old: "
                                   "nobody waits for slurmdbd after the hub's first read. A user the table does not "
                                   "hold (given an account since) is asked about alone, at most once per this time."
                                   ).tag(config=True)
    reservation_lookahead_hours = Integer(24, help="Reservations starting within this many hours are offered along "
                                          "with the active ones.").tag(config=True)
    availability_interval = Float(5, help="Seconds between two looks at the cluster (nodes, reservations, "
                                  "partitions). However many users have the form open, Slurm is asked at most once "
                                  "per interval; the table in the form refreshes itself at this pace.").tag(config=True)
    budget_interval = Float(60, help="Seconds between two looks at the projects' budgets (one sshare for every "
                            "account, shared by every form): what each account has used of its GrpTRESMins. Slurm "
                            "itself counts usage every PriorityCalcPeriod.").tag(config=True)
    queue_interval = Float(10.0, help="Seconds between two looks at the queue for the running sessions: one squeue "
                           "for all of this hub's jobs, shared by every session, however many there are."
                           ).tag(config=True)
    check_view_max_age = Float(60, help="Seconds: a start checks its request (the partition's limits, the "
                               "reservations this user may use) and names the nodes' addresses in its certificate "
                               "from the hub's last view of the cluster if it "
                               "is younger than this, instead of asking Slurm again first. A request it would "
                               "refuse is checked again on a view as fresh as the pages' (availability_interval), "
                               "and sbatch refuses what Slurm cannot run."
                               ).tag(config=True)
    startup_poll_interval = Float(1.0, help="Seconds between two looks at the queue while a session starts (still "
                                  "one squeue for all the sessions starting at that moment), to say why it waits. "
                                  "It does not delay a start: the server's port report is the sign that the job "
                                  "runs, and the queue is asked at once then.").tag(config=True)
    pending_timeout = Float(4 * 3600, help="Seconds a session may wait in the queue before it is cancelled and the "
                            "user told why: the longest wait the site allows (4 hours by default). The user may "
                            "close the browser meanwhile, come back to the progress page, or cancel it. JupyterHub's "
                            "start_timeout follows it (pending_timeout + http_timeout + 60 s), so the two never "
                            "disagree; setting start_timeout has no effect.").tag(config=True)
    save_wait = Float(10, help="Seconds a Stop from 'My sessions', the operators' view or the idle culler waits "
                      "for the session's open JupyterLab tabs to save their documents before the job is cancelled. "
                      "A session with no tab open is stopped at once; 0 saves nothing. JupyterHub's own stop "
                      "(its REST API, its admin page) takes the session's route away first, and saves nothing."
                      ).tag(config=True)
    end_notice_seconds = Float(15 * 60, help="Seconds after a session ended during which the form, opened for the "
                                "first time since, says how it ended (with the end of its output when it failed). "
                                "Later, or once said, the form starts clean; the session's card on 'My sessions' "
                                "keeps how it ended.").tag(config=True)
    stop_wait = Float(3, help="Seconds Stop waits for the cancelled job to leave the node (its GPUs are then free)."
                      ).tag(config=True)
    slurm_timeout = Integer(30, help="Seconds to wait for a Slurm command before treating the controller as "
                            "unreachable.").tag(config=True)
    session_mark = Unicode("jupyterhub", help="This hub's mark on its session jobs (--comment=MARK:user:server): "
                           "jobs that carry it and that no server holds are adopted by their starting server or "
                           "cancelled. Give each hub that shares a cluster its own mark.").tag(config=True)
    runner = Any(help="The object that runs Slurm's commands: ``await runner.run(argv, input=None, env=None)`` "
                 "returns the standard output or raises slurm.runner.SlurmError. Every Slurm command of the hub "
                 "goes through it. The default runs them as subprocesses of the hub; a site whose hub is not a Slurm "
                 "client may give one that runs them elsewhere, and tests give one that plays back recorded output."
                 ).tag(config=True)

    @validate("pending_timeout")
    def _valid_pending_timeout(self, proposal):
        if not proposal["value"] > 0:
            raise TraitError(f"InteractiveSlurmSpawner.pending_timeout must be a positive number of seconds, "
                             f"not {proposal['value']!r}")
        return proposal["value"]

    @validate("presets")
    def _valid_presets(self, proposal):
        try:
            site_presets(proposal["value"])
        except ValueError as e:
            raise TraitError(f"InteractiveSlurmSpawner.{e}") from e
        return proposal["value"]

    @validate("work_areas")
    def _valid_work_areas(self, proposal):
        for i, area in enumerate(proposal["value"]):
            where = f"InteractiveSlurmSpawner.work_areas[{i}]"
            if not isinstance(area, dict) or set(area) != {"name", "path"}:
                raise TraitError(f"{where} must be {{'name': ..., 'path': ...}}")
            name, path = area["name"], area["path"]
            if not (isinstance(name, str) and _AREA_NAME.match(name) and isinstance(path, str)
                    and _AREA_PATH.match(path) and "/../" not in path + "/" and "/./" not in path + "/"):
                raise TraitError(f"{where}: name is one plain word (letters, digits, ._-, {{user}}, {{account}}) and "
                                 f"path an absolute path of plain words, not {area!r}")
            if _PLACEHOLDER.sub("", name + path).count("{") or _PLACEHOLDER.sub("", name + path).count("}"):
                raise TraitError(f"{where}: only {{user}} and {{account}} may be filled in, not {area!r}")
        return proposal["value"]

    @validate("mail_user")
    def _valid_mail_user(self, proposal):
        value = proposal["value"]
        if value and not (_MAIL.match(value) and _PLACEHOLDER.sub("", value).count("{") == 0
                          and "}" not in _PLACEHOLDER.sub("", value) and "{account}" not in value):
            raise TraitError(f"InteractiveSlurmSpawner.mail_user must be an address such as '{{user}}@example.org', "
                             f"not {value[:80]!r}")
        return value

    @validate("work_areas_dir")
    def _valid_work_areas_dir(self, proposal):
        if not _AREA_NAME.match(proposal["value"]) or "{" in proposal["value"]:
            raise TraitError(f"InteractiveSlurmSpawner.work_areas_dir must be one plain folder name, not "
                             f"{proposal['value']!r}")
        return proposal["value"]

    @validate("extend_steps")
    def _valid_extend_steps(self, proposal):
        steps = proposal["value"]
        if any(not 1 <= m <= 7 * 24 * 60 for m in steps):
            raise TraitError(f"InteractiveSlurmSpawner.extend_steps must be minutes from 1 to 10080, not {steps!r}")
        return sorted(set(steps))

    @validate("partition", "job_name", "session_mark")
    def _one_word(self, proposal):
        return plain_words(proposal["trait"].name, proposal["value"], one=True)

    @validate("qos")
    def _qos(self, proposal):
        return plain_words("qos", proposal["value"], one=True) if proposal["value"] else ""

    @validate("srun")
    def _srun(self, proposal):
        return plain_words("srun", proposal["value"]) if proposal["value"].strip() else ""

    @validate("extra_sbatch_options")
    def _extra_options(self, proposal):
        for option in proposal["value"]:
            if not option.startswith("--"):
                raise TraitError(f"InteractiveSlurmSpawner.extra_sbatch_options: {option[:80]!r} is not an sbatch "
                                 "option (--name=value)")
            plain_words("extra_sbatch_options", option)
        return proposal["value"]


#: batchspawner's settings that are honoured, and the setting of ours each one sets.
HONOURED = {
    "req_partition": "partition",
    "req_qos": "qos",
    "req_options": "extra_sbatch_options",  # split into options; added to those of extra_sbatch_options
    "req_prologue": "prologue",  # run before our own prologue
    "req_epilogue": "epilogue",  # run after our own epilogue
    "req_srun": "srun",
}

#: batchspawner's settings that do nothing here, and what a site uses instead.
REFUSED = {
    "req_queue": "Slurm has partitions, not queues: use partition.",
    "req_host": "sbatch runs on the hub's host (or through the runner): there is no batch server to name.",
    "req_cluster": "sessions run on the cluster the hub's Slurm client talks to (a federation is not supported).",
    "req_memory": "memory is each user's choice on the form, within the nodes' memory: use default_memory and "
                  "min_memory.",
    "req_nprocs": "cores are each user's choice on the form, within the partition's nodes: use default_cores.",
    "req_ngpus": "GPUs are each user's choice on the form: use default_gpus.",
    "req_gres": "GPUs are each user's choice on the form: use default_gpus.",
    "req_runtime": "the walltime is each user's choice on the form: use default_hours and max_hours.",
    "req_account": "the account is each user's choice among their Slurm associations: use use_accounting or "
                   "accounts.",
    "req_reservation": "reservations are each user's choice among those Slurm lets them use.",
    "req_keepvars_extra": "the job gets only the session's own JUPYTERHUB_* variables; set others in the prologue.",
    "batch_script": "the batch script is built from a checked request (templates/batch_script.sh.j2): add lines "
                    "with prologue and epilogue, and #SBATCH options with extra_sbatch_options.",
    "batchspawner_singleuser_cmd": "a release without jupyterlab-slurm-interactive runs its own "
                                   "batchspawner-singleuser.",
    "batch_submit_cmd": "sbatch is run as the user through exec_prefix.",
    "batch_query_cmd": "every session's job is read from one squeue of the hub's own (queue_interval).",
    "batch_cancel_cmd": "scancel is run as the user through exec_prefix.",
    "state_pending_re": "job states are read from squeue's own fields.",
    "state_running_re": "job states are read from squeue's own fields.",
    "state_exechost_re": "the server is reached at its node's NodeAddr, as Slurm reports it.",
    "state_exechost_exp": "the server is reached at its node's NodeAddr, as Slurm reports it.",
    "state_unknown_re": "job states are read from squeue's own fields.",
}

#: The configuration sections whose settings reach InteractiveSlurmSpawner (its own and batchspawner's).
SECTIONS = ("InteractiveSlurmSpawner", "SlurmSpawner", "BatchSpawnerBase")


def batchspawner_settings(config) -> tuple[dict, dict]:
    """The batchspawner settings a configuration gives the spawner: (honoured {name: value},
    refused {name: why}). A section later in :data:`SECTIONS`' order is overridden by an earlier one."""
    honoured, refused = {}, {}
    for section in reversed(SECTIONS):
        if section not in config:
            continue
        for name, value in config[section].items():
            if name in HONOURED:
                honoured[name] = value
            elif name in REFUSED:
                refused[f"{section}.{name}"] = REFUSED[name]
    return honoured, refused


def refuse_batchspawner_settings(config) -> dict:
    """Stop the hub (ValueError) if the configuration sets a batchspawner setting that does nothing here,
    naming each one and what to use instead; else the honoured ones."""
    honoured, refused = batchspawner_settings(config)
    if refused:
        lines = "\n".join(f"  c.{name}: {why}" for name, why in sorted(refused.items()))
        raise ValueError("These batchspawner settings do nothing for InteractiveSlurmSpawner; remove them from "
                         f"the configuration:\n{lines}")
    return honoured


def carried_over(honoured: dict, ours: dict) -> dict:
    """Our settings with batchspawner's honoured ones applied: (``ours`` holds our current values)."""
    out = {}
    if honoured.get("req_partition"):
        out["partition"] = honoured["req_partition"]
    if honoured.get("req_qos"):
        out["qos"] = honoured["req_qos"]
    if honoured.get("req_options", "").strip():
        out["extra_sbatch_options"] = [*ours.get("extra_sbatch_options", []), *honoured["req_options"].split()]
    if honoured.get("req_prologue", "").strip():
        out["prologue"] = "\n".join(p for p in (honoured["req_prologue"], ours.get("prologue", "")) if p.strip())
    if honoured.get("req_epilogue", "").strip():
        out["epilogue"] = "\n".join(p for p in (ours.get("epilogue", ""), honoured["req_epilogue"]) if p.strip())
    if "req_srun" in honoured:
        out["srun"] = honoured["req_srun"]
    return out

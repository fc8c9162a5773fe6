"""The resource request of a session: its fields, their bounds, their validation.

Everything a user sends (form fields or REST ``user_options``) goes through
:func:`parse_request`, which returns a :class:`ResourceRequest` of checked
values or raises :class:`InvalidRequest` naming the field. Only a
``ResourceRequest`` reaches the batch script.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

#: The keys a request may carry, in the form's order.
FIELDS = ("reservation", "account", "cores", "memory", "gpus", "hours", "release", "ui", "mail")

#: A Slurm account, reservation or release name: a plain token, never a path or shell text.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: A whole number as typed (its size is checked against the bounds, so that 10**12 MB is refused as too
#: much, not as "not a number"); longer text is not a number anyone meant.
_INTEGER = re.compile(r"^[0-9]{1,30}$")
#: How a message names each numeric field (every message is a whole sentence).
LABELS = {"cores": "The number of cores", "memory": "Memory", "gpus": "The number of GPUs", "hours": "Time"}
#: Why each numeric field's upper bound is what it is, for the sentence that refuses more.
CEILINGS = {"cores": "the most a node has", "memory": "the most a node has", "gpus": "the most a node has",
            "hours": "the longest a session may run"}


class InvalidRequest(ValueError):
    """A field of a request is not acceptable; ``field`` names it (the first, when several are
    wrong), and ``errors`` maps every wrong field to its message."""

    def __init__(self, field: str, message: str, errors: dict | None = None):
        self.field = field
        self.message = message
        self.errors = errors or {field: message}
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Limits:
    """What a request may ask for, from Slurm and the site's configuration."""

    max_cores: int
    max_memory_mb: int
    max_gpus: int
    max_hours: int
    accounts: tuple[str, ...] = ()
    reservations: tuple[str, ...] = ()
    releases: tuple[str, ...] = ()
    interfaces: dict | None = None  # release name -> tuple of interfaces
    min_memory_mb: int = 100


@dataclass(frozen=True)
class ResourceRequest:
    cores: int
    memory: int
    gpus: int
    hours: int
    release: str
    ui: str
    account: str = ""
    reservation: str = ""
    mail: bool = False  # Slurm mails the user when the session starts and ends

    def as_options(self) -> dict:
        """As JSON, for JupyterHub's ``user_options`` and the hub's saved state."""
        return asdict(self)

    def form_value(self, field: str) -> str:
        """The field as the form posts it (a ticked box is "on", an unticked one nothing)."""
        value = getattr(self, field)
        if isinstance(value, bool):
            return "on" if value else ""
        return str(value)

    @classmethod
    def from_saved(cls, saved) -> ResourceRequest | None:
        """A request the hub saved itself (checked when it was made), or None if ``saved`` is not one."""
        if not isinstance(saved, dict):
            return None
        try:
            numbers = {k: saved[k] for k in ("cores", "memory", "gpus", "hours")}
            names = {k: saved.get(k, "") for k in ("release", "ui", "account", "reservation")}
        except KeyError:
            return None
        if not all(type(v) is int and v >= 0 for v in numbers.values()):
            return None
        if not all(isinstance(v, str) and (v == "" or NAME.match(v)) for v in names.values()):
            return None
        mail = saved.get("mail", False)
        if not isinstance(mail, bool):
            return None
        return cls(**numbers, **names, mail=mail)


def _one(options: dict, key: str):
    """A single value (a string, a number or null); lists and objects are refused."""
    value = options.get(key)
    if isinstance(value, (list, tuple, dict, set, bytes)):
        raise InvalidRequest(key, "Give exactly one value here, not a list or an object.")
    return value


def from_form(formdata: dict) -> dict:
    """A form POST (every field a list of strings) as options: one value per field.

    A field given several times stays a list, and is refused by :func:`parse_request`.
    """
    return {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in formdata.items()}


def _integer(options: dict, key: str, default: int, low: int, high: int, what: str, blank_is_error=False) -> int:
    value = _one(options, key)
    label = LABELS.get(key, key)
    if value is None or value == "":
        if blank_is_error and value == "":
            raise InvalidRequest(key, f"Enter a whole number of {what}, from {low:,} to {high:,}.")
        value = default
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidRequest(key, f"{label} must be a whole number of {what}, from {low:,} to {high:,}.")
    if isinstance(value, str):
        text = value.strip()
        if not _INTEGER.match(text):
            raise InvalidRequest(key, f"{label} must be a whole number of {what}, from {low:,} to {high:,}; "
                                      f"{value[:40]!r} is not one.")
        value = int(text)
    if not isinstance(value, int):
        raise InvalidRequest(key, f"{label} must be a whole number of {what}, from {low:,} to {high:,}.")
    if value > high:
        raise InvalidRequest(key, f"{label} must be from {low:,} to {high:,} {what} ({high:,} is "
                                  f"{CEILINGS.get(key, 'the limit')}); you asked for {value:,}.")
    if value < low:
        raise InvalidRequest(key, f"{label} must be from {low:,} to {high:,} {what}; you asked for {value:,}.")
    return value


#: How a box may be ticked or not: a form posts "on" (or nothing), JSON true or false.
_ON, _OFF = {"on", "true", "1", "yes"}, {"", "off", "false", "0", "no"}


def _flag(options: dict, key: str) -> bool:
    value = _one(options, key)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _ON | _OFF:
        return value.strip().lower() in _ON
    raise InvalidRequest(key, "Tick the box, or leave it: true or false.")


def _choice(options: dict, key: str, default: str, allowed, what: str, optional: bool = False) -> str:
    value = _one(options, key)
    if value is None:
        value = default
    if not isinstance(value, str):
        raise InvalidRequest(key, f"Choose {what} from the list.")
    value = value.strip()
    if value in ("", "None") and optional:
        return ""
    if not NAME.match(value):
        raise InvalidRequest(key, f"{value[:40]!r} is not a valid name of {what}: choose one from the list.")
    if value not in allowed:
        raise InvalidRequest(key, f"{value!r} is not {what} you can use: choose one from the list.")
    return value


def parse_request(options: dict, limits: Limits, defaults: dict, blank_is_error: bool = False) -> ResourceRequest:
    """Check every field of ``options`` against ``limits``; fill missing ones from ``defaults``.

    With ``blank_is_error`` (a form, where every field is shown) a number left empty is refused
    rather than silently replaced by its default.

    Raises :class:`InvalidRequest` naming the first wrong field, with all of them in ``errors``.
    """
    if not isinstance(options, dict):
        raise InvalidRequest("options", "The options must be a JSON object of field names and values.")
    errors: dict[str, str] = {}
    for key, value in options.items():
        if key not in FIELDS:
            name = str(key)[:40].strip() or "(a field with no name)"
            errors[name] = f"This is not a field of a session; the fields are {', '.join(FIELDS)}."
        elif isinstance(value, (list, tuple, dict, set, bytes)):
            errors[key] = "Give exactly one value here, not a list or an object."
    values: dict = {}

    def check(key, fn, *args, **kw):
        if key in errors:
            return
        try:
            values[key] = fn(options, key, *args, **kw)
        except InvalidRequest as e:
            errors[key] = e.message

    check("reservation", _choice, "", limits.reservations, "a reservation", optional=True)
    if limits.accounts:
        check("account", _choice, defaults.get("account", limits.accounts[0]), limits.accounts, "a Slurm account")
    elif "account" in errors or options.get("account") not in (None, ""):
        errors["account"] = "This site does not take a Slurm account: leave it out."
    else:
        values["account"] = ""
    blank = {"blank_is_error": blank_is_error}
    check("cores", _integer, defaults["cores"], 1, limits.max_cores, "cores", **blank)
    check("memory", _integer, defaults["memory"], limits.min_memory_mb, limits.max_memory_mb, "MB", **blank)
    check("gpus", _integer, defaults["gpus"], 0, limits.max_gpus, "GPUs", **blank)
    check("hours", _integer, defaults["hours"], 1, limits.max_hours, "hours", **blank)
    check("release", _choice, defaults.get("release", ""), limits.releases, "an installed release")
    if "release" in values:
        interfaces = (limits.interfaces or {}).get(values["release"], ("lab",))
        ui_default = defaults.get("ui") if defaults.get("ui") in interfaces else interfaces[0]
        check("ui", _choice, ui_default, interfaces, "an interface of this release")
    check("mail", _flag)
    if errors:
        first = next(iter(errors))
        raise InvalidRequest(first, errors[first], errors)
    return ResourceRequest(**values)


def field_errors(typed: dict, limits: Limits, defaults: dict) -> dict[str, str]:
    """What :func:`parse_request` would refuse in the fields of ``typed`` alone (a form being filled in),
    by field: the same sentences before the form is sent as after."""
    try:
        parse_request(typed, limits, defaults, blank_is_error=True)
    except InvalidRequest as e:
        return {k: v for k, v in e.errors.items() if k in typed}
    return {}

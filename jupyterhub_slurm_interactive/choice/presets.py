"""Presets: a title, a sentence and the values that fill the form in one click.

A site defines its own (``c.InteractiveSlurmSpawner.presets``), each seen by the Unix groups it names (all users
if none); each user saves their own from the form ("Save these choices as…", :class:`PresetStore`). A preset
only fills the form: its values are then checked as if typed, by the form's own check, before anything starts.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from urllib.parse import quote

from jupyterhub_slurm_interactive.choice.request import FIELDS, NAME

#: The most presets a user may keep.
MAX_OWN = 10
#: The longest title and sentence.
MAX_TITLE, MAX_DESCRIPTION = 60, 200
#: Control characters and the like, which no title or sentence needs.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class Preset:
    title: str
    values: dict  # field -> value as the form holds it (a string)
    description: str = ""
    own: bool = False  # the user's own (removable), or the site's

    def as_json(self) -> dict:
        return asdict(self)


def clean_words(text, what: str, longest: int, required: bool = True) -> str:
    """One line of text, at most ``longest`` characters, control characters refused; else ValueError."""
    if not isinstance(text, str):
        raise ValueError(f"{what} must be text")
    text = " ".join(text.split())
    if _CONTROL.search(text):
        raise ValueError(f"{what} may not hold control characters")
    if required and not text:
        raise ValueError(f"Give the preset {what.lower()}")
    if len(text) > longest:
        raise ValueError(f"{what} may be at most {longest} characters; it has {len(text)}")
    return text


def preset_values(values) -> dict[str, str]:
    """The form's fields a preset fills, each one short plain value; else ValueError naming the field."""
    if not isinstance(values, dict) or not values:
        raise ValueError("values must be an object of the form's fields, e.g. {\"gpus\": 1, \"hours\": 2}")
    found = {}
    for key, value in values.items():
        if key not in FIELDS:
            raise ValueError(f"{str(key)[:40]!r} is not a field of the form (those are {', '.join(FIELDS)})")
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError(f"{key}: one value, text or a whole number")
        text = str(value).strip()
        if text and not NAME.match(text):
            raise ValueError(f"{key}: {text[:40]!r} is not a value the form holds")
        found[key] = text
    return found


def site_presets(entries) -> list[tuple[Preset, tuple[str, ...]]]:
    """The site's presets from its configuration, each with the groups that see it, checked as the hub
    starts; ValueError names the entry."""
    presets, titles = [], set()
    for i, entry in enumerate(entries or []):
        where = f"presets[{i}]"
        if not isinstance(entry, dict) or not set(entry) <= {"title", "description", "values", "groups"}:
            raise ValueError(f"{where} must be an object with title, description, values and groups")
        try:
            title = clean_words(entry.get("title"), "Title", MAX_TITLE)
            description = clean_words(entry.get("description", ""), "Description", MAX_DESCRIPTION, False)
            values = preset_values(entry.get("values"))
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from e
        groups = entry.get("groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) and NAME.match(g) for g in groups):
            raise ValueError(f"{where}: groups must be a list of Unix group names")
        if title in titles:
            raise ValueError(f"{where}: the title {title!r} is given twice")
        titles.add(title)
        presets.append((Preset(title, values, description), tuple(groups)))
    return presets


def visible(site: list[tuple[Preset, tuple[str, ...]]], groups: list[str]) -> list[Preset]:
    """The site's presets this user sees: those naming none of the groups, or one of theirs."""
    mine = set(groups)
    return [preset for preset, only in site if not only or mine.intersection(only)]


class PresetStore:
    """Each user's own presets: one JSON file per user in ``directory`` (0700; each file 0600), written whole
    and renamed into place, so a crash never leaves half a file."""

    def __init__(self, directory: str):
        self.directory = directory

    def _path(self, user: str) -> str:
        return os.path.join(self.directory, quote(user, safe="") + ".json")

    def load(self, user: str) -> list[Preset]:
        try:
            with open(self._path(user), encoding="utf-8") as f:
                saved = json.load(f)
        except (OSError, ValueError):
            return []
        presets = []
        for entry in saved if isinstance(saved, list) else []:
            try:
                presets.append(Preset(clean_words(entry["title"], "Title", MAX_TITLE),
                                      preset_values(entry["values"]), own=True))
            except (KeyError, TypeError, ValueError):
                continue  # a file edited by hand: what is not a preset is left out
        return presets[:MAX_OWN]

    def save(self, user: str, title: str, values: dict) -> Preset:
        """Keep a preset (replacing one of the same title); ValueError past :data:`MAX_OWN`."""
        title = clean_words(title, "Title", MAX_TITLE)
        presets = [p for p in self.load(user) if p.title != title]
        if len(presets) >= MAX_OWN:
            raise ValueError(f"You have {MAX_OWN} presets, the most you may keep: remove one first")
        preset = Preset(title, preset_values(values), own=True)
        self._write(user, presets + [preset])
        return preset

    def remove(self, user: str, title: str) -> bool:
        presets = self.load(user)
        kept = [p for p in presets if p.title != title]
        if len(kept) == len(presets):
            return False
        self._write(user, kept)
        return True

    def _write(self, user: str, presets: list[Preset]):
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".preset-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump([{"title": p.title, "values": p.values} for p in presets], f)
            os.replace(tmp, self._path(user))
        except BaseException:
            os.unlink(tmp)
            raise

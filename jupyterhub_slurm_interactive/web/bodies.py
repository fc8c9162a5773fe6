"""What comes into the hub's API from outside: request bodies, and text from a job.

Every body must be a JSON object of at most 64 KiB; anything else, nested JSON that would exhaust the parser
included, is answered 400 (413 if too large). Text a job sends has its ANSI escapes and control characters
removed before it is kept, logged or shown, so a job cannot forge or erase lines of the hub's log.
"""

from __future__ import annotations

import json
import re

from tornado import web

#: ANSI escape sequences (CSI, OSC and two-character ones), removed whole.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
#: Control characters other than newline and tab.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def clean_text(text: str) -> str:
    """Text from a job with ANSI escapes and control characters removed; newlines and tabs kept."""
    return _CONTROL.sub("", _ANSI.sub("", text.replace("\r\n", "\n")))


def json_object(raw: bytes | None, max_body: int = 64 * 1024) -> dict:
    """A request body that must be one JSON object of at most ``max_body`` bytes; else 413 or 400."""
    if len(raw or b"") > max_body:
        raise web.HTTPError(413, "Body too large")
    try:
        body = json.loads(raw or b"")
    except (ValueError, RecursionError):
        raise web.HTTPError(400, "Body must be a JSON object")
    if not isinstance(body, dict):
        raise web.HTTPError(400, "Body must be a JSON object")
    return body

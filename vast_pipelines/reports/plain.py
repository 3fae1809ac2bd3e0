"""Slack's markup made plain text for email: an email client shows ``:rotating_light:`` and ``*bold*`` as such."""

from __future__ import annotations

import re

_EMOJI = re.compile(r"(?:(?<=\s)|^):[a-z][a-z0-9_+-]*:(?:\s+|$)", re.MULTILINE)
_BOLD = re.compile(r"(?<![\w*])\*(\S(?:[^*\n]*\S)?)\*(?![\w*])")
_LINK = re.compile(r"<(https?://[^|>\s]+)\|([^>]+)>")
_BARE_LINK = re.compile(r"<(https?://[^|>\s]+)>")
_GROUP = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|([^>]+))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)>")


def plain_text(slack_text: str) -> str:
    """``slack_text`` without Slack's emoji codes and bold marks; links as ``text (url)``, a user-group mention
    as its name (or "on-call"). Underscores stay: names like ``idle_timeout`` are not italics."""
    text = _EMOJI.sub("", slack_text)
    text = _BOLD.sub(r"\1", text)
    text = _LINK.sub(r"\2 (\1)", text)
    text = _BARE_LINK.sub(r"\1", text)
    text = _GROUP.sub(lambda m: m.group(1) or "on-call", text)
    return _SPECIAL.sub(r"@\1", text)

"""``chat.update`` in the fake Slack workspace: edits a message the bot posted.

As Slack documents it (https://api.slack.com/methods/chat.update): ``channel`` is the
conversation holding the message, and for a DM that must be the DM id (``D…``) that
``chat.postMessage`` answered with, not the user id (``channel_not_found``); ``ts`` names
the message (``message_not_found`` when no message in that channel has it); ``text`` or
``blocks`` is required (``no_text``). Blocks sent replace the message's blocks; an edit
with text only removes them, as Slack does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fakes.httpserver import Response
from fakes.slack.data import BOT_USER_ID
from fakes.slack.directory import Directory
from fakes.slack.params import blocks
from fakes.slack.responses import error

__all__ = ["Updated", "update_message"]


class _Message(Protocol):  # fakes.slack.server.Posted
    channel: str
    dm_channel: str
    text: str
    blocks: list[Any] | None
    ts: str


@dataclass
class Updated:
    """One edit chat.update accepted."""

    channel: str  # the user id the message was for (the channel id for a channel post)
    dm_channel: str  # the conversation as the call named it ("D...", or "C...")
    text: str
    blocks: list[Any] | None
    ts: str  # the edited message's ts (unchanged by the edit)
    at: float  # the fake's clock() when accepted


def update_message(
    arguments: dict[str, Any],
    messages: list[Any],
    directory: Directory,
    channels: dict[str, bool],
    clock: Callable[[], float],
) -> tuple[Response, Updated | None]:
    """The answer to one chat.update call (caller holds the lock), and the edit if any.

    ``messages`` are the posts the fake accepted (``fakes.slack.server.Posted``); the
    edited one is changed in place, so ``messages_to`` shows what the reader sees now."""
    channel = str(arguments.get("channel") or "")
    ts = str(arguments.get("ts") or "")
    if not channel:
        return error("channel_not_found"), None
    is_dm = directory.user_of(channel) != channel
    if not is_dm and channel not in channels:
        # A user id (U…) is refused too: Slack wants the DM id for direct messages.
        return error("channel_not_found"), None
    if not ts:
        return error("message_not_found"), None
    found: _Message | None = next(
        (m for m in messages if m.dm_channel == channel and m.ts == ts), None
    )
    if found is None:
        return error("message_not_found"), None
    text = str(arguments.get("text") or "")
    new_blocks = blocks(arguments.get("blocks"))
    if not text and new_blocks is None:
        return error("no_text"), None
    found.text, found.blocks = text, new_blocks
    edit = Updated(found.channel, channel, text, new_blocks, ts, clock())
    message: dict[str, Any] = {"user": BOT_USER_ID, "type": "message", "text": text}
    if new_blocks is not None:
        message["blocks"] = new_blocks
    body = {"ok": True, "channel": channel, "ts": ts, "text": text, "message": message}
    return Response(200, body), edit

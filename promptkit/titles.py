"""Titles: an untitled conversation is named beside its first reply.

`begin` starts the naming in a task of its own as the reply starts, so the reply's first token
never waits for it: the `conversation_title` hook is asked (the OpenAI plugin makes one short
request), and when no plugin answers, one fails or it takes longer than `TITLE_SECONDS`, the
first words of the message are the title. The title is stored only while the conversation is
still untitled, so a title that a user set meanwhile is kept. When it is stored before the reply
ends, the reply's stream carries it as a transient `data-conversation-title` part
(`PendingTitle.part`). Nothing here can fail the reply: a failure is logged and the
conversation stays untitled.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

from .db import conversations
from .hooktypes import ChatMessage, ChatRequest, Principal
from .tasks import track

if TYPE_CHECKING:
    from .app import PromptkitApp

log = logging.getLogger(__name__)

TITLE_SECONDS = 10.0  # a title later than this is not worth an upstream request held open
TITLE_CHARS = 60
PART_TYPE = "data-conversation-title"
# Straight and typographic quotes, and backticks, that models like to wrap a title in.
_QUOTES = "\"'`\u2018\u2019\u201c\u201d\u00ab\u00bb"
# Markdown that a model (or the first words of a message) brings into a title: a heading or
# list marker at the start, emphasis and code around words, and links (their text is kept).
_MARKDOWN = [
    (re.compile(r"^(?:#{1,6}|[-*+>]|\d+[.)])\s+"), ""),
    (re.compile(r"\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"(\*\*|__|~~)(.+?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])[*_](\S(?:.*?\S)?)[*_](?![\w*])"), r"\1"),
    (re.compile(r"`([^`]+)`"), r"\1"),
]


def tidy(title: str) -> str:
    """One line of at most `TITLE_CHARS`, cut at a word boundary, without markdown, the quotes
    around it or a final full stop."""
    text = " ".join(title.split())
    for pattern, replacement in _MARKDOWN:
        text = pattern.sub(replacement, text)
    text = text.removeprefix("Title:").strip()  # some models label their answer
    previous = None
    while previous != text:
        previous = text
        text = text.strip().strip(_QUOTES).strip()
        if text.endswith(".") and not text.endswith(".."):
            text = text[:-1]
    if len(text) <= TITLE_CHARS:
        return text
    cut = text[: TITLE_CHARS + 1]
    head = cut.rsplit(" ", 1)[0] if " " in cut else text[:TITLE_CHARS]
    return re.sub(r"[\s,;:.\-]+$", "", head) or text[:TITLE_CHARS]


def first_words(messages: list[ChatMessage]) -> str:
    """The kernel's own title: the first words of the first user message."""
    text = next((m.content for m in messages if m.role == "user"), "")
    return tidy(text)


class PendingTitle:
    """The naming of one conversation, running beside its reply."""

    def __init__(self, task: asyncio.Task[str | None]) -> None:
        self._task = task
        self._sent = False

    def part(self) -> dict[str, Any] | None:
        """The stream part announcing the title, once, if it is stored by now; else None."""
        task = self._task
        if self._sent or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        title = task.result()
        if title is None:
            return None
        self._sent = True
        return {"type": PART_TYPE, "data": {"title": title}, "transient": True}


def begin(
    app: PromptkitApp, principal: Principal, conversation: dict[str, Any], chat: ChatRequest
) -> PendingTitle | None:
    """Start naming `conversation` if it is untitled and titles are on; None otherwise."""
    if not app.settings.titles or conversation["title"].strip():
        return None
    said = [m for m in chat.messages if m.role != "system"]
    work = _name(app, principal.user_id, conversation["id"], said, chat.model)
    return PendingTitle(track(app, work, "naming a conversation"))


async def _name(
    app: PromptkitApp, owner: str, conversation_id: str, said: list[ChatMessage], model: str
) -> str | None:
    """Ask the plugins, fall back to the first words, store it if still untitled; the title
    stored, or None."""
    answer = None
    try:
        async with asyncio.timeout(TITLE_SECONDS):
            answer = await app.plugins.conversation_title(said, model)
    except TimeoutError:
        log.warning("naming a conversation took over %s s; using its first words", TITLE_SECONDS)
    title = tidy(answer or "") or first_words(said)
    if not title:
        return None
    if not await conversations.name_untitled(app.db, owner, conversation_id, title):
        return None  # a user titled it meanwhile, or it was deleted
    return title

"""The commands other areas answer residents with: a text or a rich-menu postback.

Other areas answer by adding to the registries below, e.g. the garbage calendar::

    from broadcaster.webhook_commands import POSTBACK_COMMANDS, TEXT_COMMANDS
    TEXT_COMMANDS["ごみ"] = next_collections      # text 「ごみ」
    POSTBACK_COMMANDS["garbage"] = next_collections  # postback data `action=garbage`

A command is `(session, resident, now) -> list of LINE message dicts` (camelCase, at most
5); it runs inside the event's transaction, must not call LINE itself, and its module must
be imported before the first webhook arrives (e.g. from broadcaster/api/__init__.py).
`run_command` runs one so that its failure costs the resident only its answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session

from segments.catalog import texts_for
from segments.residents import Resident, mask_user_id

log = logging.getLogger(__name__)

Command = Callable[[Session, Resident, datetime], list[dict[str, Any]]]
# Exact (stripped) text -> command. See the module docstring.
TEXT_COMMANDS: dict[str, Command] = {}
# Postback `action=<name>` -> command.
POSTBACK_COMMANDS: dict[str, Command] = {}
# Text that no command and no conversation step answered is offered to these in order
# (e.g. the garbage sorting dictionary, 「電池」); one returning None passes it on, and
# when all pass the resident gets the help text (`help.text`, in their language). Same
# contract as a command, plus the text.
TextFallback = Callable[[Session, Resident, str, datetime], list[dict[str, Any]] | None]
TEXT_FALLBACKS: dict[str, TextFallback] = {}
# Postback `action=<name>` -> handler that also reads the postback's fields (a survey
# answer carries its survey and score), tried before POSTBACK_COMMANDS.
FieldsCommand = Callable[[Session, Resident, dict[str, str], datetime], list[dict[str, Any]]]
POSTBACK_FIELD_COMMANDS: dict[str, FieldsCommand] = {}

# The Japanese text (each resident gets their own language's, from the catalog).
COMMAND_FAILED_TEXT = texts_for("ja")("help.failed")


def with_text(fallback: TextFallback, text: str) -> Command:
    """A fallback as a command (no answer = no messages), so it runs like one."""

    def command(session: Session, resident: Resident, now: datetime) -> list[dict[str, Any]]:
        return fallback(session, resident, text, now) or []

    return command


def run_command(
    command: Command, session: Session, resident: Resident, now: datetime
) -> list[dict[str, Any]]:
    """The command's messages, run in a savepoint: if it raises, only its own writes are
    rolled back and the resident is told it failed (help.failed in their language)."""
    session.flush()
    try:
        with session.begin_nested():
            return list(command(session, resident, now))
    except Exception:
        # Another area's bug must not lose this event's state changes or break the webhook.
        log.exception("webhook command failed for %s", mask_user_id(resident.line_user_id))
        return [{"type": "text", "text": texts_for(resident.language)("help.failed")}]


def with_fields(
    command: FieldsCommand, fields: dict[str, str], session: Session, resident: Resident,
    now: datetime,
) -> list[dict[str, Any]]:
    """A fields command with its postback's fields bound (through partial), so it runs
    like a command."""
    return command(session, resident, fields, now)

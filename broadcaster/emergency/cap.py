"""CAP 1.2 (OASIS, ITU-T X.1303) alerts into our alert model.

Update and Cancel name the alerts they follow in `references` ("sender,identifier,sent"
triples separated by spaces); the thread of an alert is keyed by sender + identifier of the
first alert, so an update finds the draft its original made.

The level is read from the <info>'s category, urgency, severity and certainty through a
table (`emergency.cap_rules`, else DEFAULT_RULES): severity alone never makes an
evacuation order, so an AMBER alert (Safety/Rescue) or a homeland-security advisory
(Security) becomes a notice for the desk, not a 警戒レベル4 draft.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree.ElementTree import Element

from broadcaster.emergency.alert import (
    CAP_NS,
    AlertError,
    AlertStatus,
    Area,
    MessageType,
    ParsedAlert,
    kind_from_words,
    parse_datetime,
    text_of,
)
from broadcaster.settings import CapRule

NS = {"cap": CAP_NS}
MSG_TYPES = {"Alert": MessageType.alert, "Update": MessageType.update, "Cancel": MessageType.cancel}
STATUSES = {"Actual", "Exercise", "System", "Test", "Draft"}
CATEGORY_KINDS = {"Fire": "大規模な火事", "Geo": "地震"}
# Natural and infrastructure hazards: the categories an evacuation order answers.
HAZARDS = ["Met", "Geo", "Fire", "Env", "Infra"]
# A prefill only: the disaster desk confirms the level. Rows follow the Cabinet Office's
# levels (5 緊急安全確保: happening now; 4 避難指示: expected soon; 3 高齢者等避難).
DEFAULT_RULES: tuple[CapRule, ...] = (
    CapRule(
        category=HAZARDS,
        urgency=["Immediate"],
        severity=["Extreme"],
        certainty=["Observed"],
        level=5,
    ),
    CapRule(
        category=HAZARDS,
        urgency=["Immediate", "Expected"],
        severity=["Extreme", "Severe"],
        certainty=["Observed", "Likely"],
        level=4,
    ),
    CapRule(
        category=HAZARDS,
        urgency=["Immediate", "Expected", "Future"],
        severity=["Extreme", "Severe", "Moderate"],
        certainty=["Observed", "Likely", "Possible"],
        level=3,
    ),
    CapRule(level="information"),
)


def classify(info: Element | None, rules: Sequence[CapRule]) -> tuple[int | None, bool, bool]:
    """(level, information, ignored) for an <info> by the first rule matching it."""
    if info is None:
        return None, True, False
    categories = {c.text.strip() for c in info.findall("cap:category", NS) if c.text}
    values = {
        name: text_of(info, f"cap:{name}", NS) for name in ("urgency", "severity", "certainty")
    }
    for rule in rules:
        if rule.category and not categories & set(rule.category):
            continue
        if any(
            getattr(rule, name) and value not in getattr(rule, name)
            for name, value in values.items()
        ):
            continue
        if rule.level == "ignore":
            return None, False, True
        if rule.level == "information":
            return None, True, False
        return rule.level, False, False
    return None, True, False


def thread_key(sender: str, identifier: str) -> str:
    return f"cap:{sender}:{identifier}"


def parse(root: Element, rules: Sequence[CapRule] = DEFAULT_RULES) -> ParsedAlert:
    """Raises AlertError naming the first missing or wrong element."""
    values = {
        name: text_of(root, f"cap:{name}", NS)
        for name in ("identifier", "sender", "sent", "status", "msgType", "scope", "references")
    }
    for required in ("identifier", "sender", "sent", "status", "msgType"):
        if not values[required]:
            raise AlertError(
                f"CAP alert: <{required}> is missing", code="alert.cap_missing", element=required
            )
    if values["status"] not in STATUSES:
        raise AlertError(
            f"CAP alert: unknown <status> {values['status']!r}",
            code="alert.cap_status",
            value=values["status"],
        )
    msg_type = MSG_TYPES.get(values["msgType"])
    if msg_type is None:
        raise AlertError(
            f"CAP alert: <msgType> {values['msgType']} is not handled (Alert, Update, Cancel)",
            code="alert.cap_msg_type",
            value=values["msgType"],
        )
    sent = parse_datetime(values["sent"], "CAP <sent>")
    references = _references(values["references"])
    if msg_type is not MessageType.alert and not references:
        raise AlertError(
            f"CAP alert: an {values['msgType']} needs <references>",
            code="alert.cap_references_needed",
            value=values["msgType"],
        )
    keys = references or (thread_key(values["sender"], values["identifier"]),)
    info = _preferred_info(root)
    event = text_of(info, "cap:event", NS)
    headline = text_of(info, "cap:headline", NS)
    description = text_of(info, "cap:description", NS)
    instruction = text_of(info, "cap:instruction", NS)
    category = text_of(info, "cap:category", NS)
    kind = kind_from_words(event, headline, description) or CATEGORY_KINDS.get(category)
    level, information, ignored = classify(info, rules or DEFAULT_RULES)
    areas: list[Area] = []
    if info is not None:
        for area in info.findall("cap:area", NS):
            name = text_of(area, "cap:areaDesc", NS)
            codes = [text_of(g, "cap:value", NS) for g in area.findall("cap:geocode", NS)]
            areas.extend(Area(code, name) for code in codes if code)
            if not codes:
                areas.append(Area("", name))
    return ParsedAlert(
        source="cap",
        identifier=values["identifier"],
        sender=values["sender"],
        sent=sent,
        status=AlertStatus.actual if values["status"] == "Actual" else AlertStatus.exercise,
        raw_status=values["status"],
        msg_type=msg_type,
        thread_keys=tuple(keys),
        title=headline or event,
        text="\n".join(t for t in (description, instruction) if t),
        kind=kind,
        level=level,
        areas=tuple(areas),
        information=information,
        not_acted_on=f"CAP {category or '?'} alert {event!r}: the CAP rules say ignore"
        if ignored
        else None,
        report_type=event or headline,
    )


def _references(raw: str) -> tuple[str, ...]:
    keys = []
    for triple in raw.split():
        parts = triple.split(",")
        if len(parts) != 3:
            raise AlertError(
                f"CAP alert: <references> entry {triple!r} is not sender,identifier,sent",
                code="alert.cap_reference",
                value=triple,
            )
        keys.append(thread_key(parts[0], parts[1]))
    return tuple(keys)


def _preferred_info(root: Element) -> Element | None:
    """The Japanese <info> when there are several languages, else the first."""
    infos = root.findall("cap:info", NS)
    for info in infos:
        if text_of(info, "cap:language", NS).lower().startswith("ja"):
            return info
    return infos[0] if infos else None

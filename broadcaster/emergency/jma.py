"""JMA disaster XML (気象庁防災情報XML) into our alert model.

Handled: 気象警報・注意報 (VPWW53/54 and the R06 VPWW60/61 titles), 土砂災害警戒情報 (VXWW50),
指定河川洪水予報. What a report means is read from Control/Title and the Kind codes or
names in the body, never from headline wording, which JMA reforms change. A thread is the
Control/Title + EventID: a newer Serial or InfoType 訂正 updates it, 取消 cancels it.
"""

from __future__ import annotations

from collections.abc import Callable
from xml.etree.ElementTree import Element

from broadcaster.emergency.alert import (
    JMA_NS,
    AlertError,
    AlertStatus,
    Area,
    MessageType,
    ParsedAlert,
    parse_datetime,
    text_of,
)

NS = {
    "jmx": JMA_NS,
    "ib": "http://xml.kishou.go.jp/jmaxml1/informationBasis1/",
    "met": "http://xml.kishou.go.jp/jmaxml1/body/meteorology1/",
}
LANDSLIDE = "土砂災害警戒情報"
RIVER_FLOOD = "指定河川洪水予報"
LIFTED_STATUSES = frozenset({"解除", "発表警報・注意報はなし", "なし"})

Classification = tuple[str, int] | None  # (disaster kind, suggested 警戒レベル)


def _weather_warning(name: str, code: str, status: str) -> Classification:
    """気象警報: only warnings that call for evacuation; 注意報 (level 2) and lifted ones don't."""
    if status in LIFTED_STATUSES or "注意報" in name:
        return None
    special = "特別警報" in name
    if "大雨" in name:
        return ("土砂災害", 5 if special else 3)
    if "洪水" in name:
        return ("洪水", 3)
    if "高潮" in name:
        return ("高潮", 5 if special else 4)
    if "津波" in name:
        return ("津波", 5 if special else 4)
    return None


def _landslide(name: str, code: str, status: str) -> Classification:
    # VXWW50 Kind codes: 3 警戒, 1 解除, 0 なし. 警戒 corresponds to 警戒レベル4.
    return ("土砂災害", 4) if code == "3" else None


def _river_flood(name: str, code: str, status: str) -> Classification:
    if status in LIFTED_STATUSES or "解除" in name:
        return None
    for word, level in (("氾濫発生", 5), ("氾濫危険", 4), ("氾濫警戒", 3)):
        if word in name:
            return ("洪水", level)
    return None


def _classifier(title: str) -> Callable[[str, str, str], Classification] | None:
    if title == LANDSLIDE:
        return _landslide
    if title == RIVER_FLOOD or title.endswith("洪水予報"):
        return _river_flood
    if title.startswith(("気象警報・注意報", "気象特別警報・警報・注意報")):
        return _weather_warning
    return None


def thread_key(title: str, event_id: str) -> str:
    return f"jma:{title}:{event_id}"


def parse(root: Element) -> ParsedAlert:
    """Raises AlertError for a report type we do not handle or a missing Control/Head field."""
    control = root.find("jmx:Control", NS)
    head = root.find("ib:Head", NS)
    if control is None or head is None:
        raise AlertError("JMA report: <Control> or <Head> is missing")
    title = text_of(control, "jmx:Title", NS)
    classify = _classifier(title)
    if classify is None:
        raise AlertError(
            f"JMA report {title!r} is not handled (気象警報・注意報, {LANDSLIDE}, {RIVER_FLOOD})"
        )
    status = text_of(control, "jmx:Status", NS)
    if status not in ("通常", "訓練", "試験"):
        raise AlertError(f"JMA report: unknown Control/Status {status!r}")
    info_type = text_of(head, "ib:InfoType", NS)
    if info_type not in ("発表", "訂正", "取消", "遅延"):
        raise AlertError(f"JMA report: unknown Head/InfoType {info_type!r}")
    event_id = text_of(head, "ib:EventID", NS)
    report_time = text_of(head, "ib:ReportDateTime", NS)
    if not event_id or not report_time:
        raise AlertError("JMA report: Head/EventID or Head/ReportDateTime is missing")
    serial_raw = text_of(head, "ib:Serial", NS)
    serial = int(serial_raw) if serial_raw.isdigit() else None
    sender = text_of(control, "jmx:PublishingOffice", NS) or text_of(
        control, "jmx:EditorialOffice", NS
    )
    best: tuple[str, int] | None = None
    areas: list[Area] = []
    body = root.find("met:Body", NS)
    items = body.findall("met:Warning/met:Item", NS) if body is not None else []
    for item in items:
        matched: list[tuple[str, int]] = []
        for kind in item.findall("met:Kind", NS):
            found = classify(
                text_of(kind, "met:Name", NS),
                text_of(kind, "met:Code", NS),
                text_of(kind, "met:Status", NS),
            )
            if found:
                matched.append(found)
        if not matched:
            continue
        top = max(matched, key=lambda pair: pair[1])
        if best is None or top[1] > best[1]:
            best = top
        for area in (*item.findall("met:Area", NS), *item.findall("met:Areas/met:Area", NS)):
            areas.append(Area(text_of(area, "met:Code", NS), text_of(area, "met:Name", NS)))
    headline = text_of(head, "ib:Headline/ib:Text", NS)
    msg_type = {"取消": MessageType.cancel, "発表": MessageType.alert}.get(
        info_type, MessageType.update
    )
    if msg_type is MessageType.alert and serial is not None and serial > 1:
        msg_type = MessageType.update
    return ParsedAlert(
        source="jma",
        identifier=f"{event_id}#{serial_raw or '0'}@{report_time}",
        sender=sender,
        sent=parse_datetime(report_time, "JMA Head/ReportDateTime"),
        status=AlertStatus.actual if status == "通常" else AlertStatus.exercise,
        raw_status=status,
        msg_type=msg_type,
        thread_keys=(thread_key(title, event_id),),
        title=text_of(head, "ib:Title", NS) or title,
        text=headline,
        kind=best[0] if best else None,
        level=best[1] if best else None,
        areas=tuple(dict.fromkeys(areas)),
        serial=serial,
        lifted=msg_type is not MessageType.cancel and best is None,
        notes=("出典：気象庁ホームページ",),
    )

"""JMA disaster XML (気象庁防災情報XML) into our alert model.

Handled report types, chosen by Control/Title (InfoKind when the title is new to us):
気象警報・注意報 in the H27 (VPWW53/54) and R06 (VPWW55-61) formats, 土砂災害警戒情報
(VXWW50), 指定河川洪水予報 (VXKO), 津波警報・注意報・予報 (VTSE41) and 記録的短時間大雨情報
(VPOA50, information only). Any other well-formed report is understood as "not acted on".

A report names many areas; each area's warning becomes an Entry with its own thread
(report type + area + disaster kind), because 気象警報 reports carry an empty EventID and
Serial. The draft is made later from the entries in our areas only (`drafts.apply_alert`),
so a 特別警報 in the next town never raises our level. Levels come from `levels.TABLE`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from broadcaster.emergency import levels
from broadcaster.emergency.alert import (
    JMA_NS,
    AlertError,
    AlertStatus,
    Area,
    Entry,
    MessageType,
    ParsedAlert,
    parse_datetime,
    text_of,
)

IB_NS = "http://xml.kishou.go.jp/jmaxml1/informationBasis1/"
MET_NS = "http://xml.kishou.go.jp/jmaxml1/body/meteorology1/"
SEIS_NS = "http://xml.kishou.go.jp/jmaxml1/body/seismology1/"
NS = {"jmx": JMA_NS, "ib": IB_NS, "met": MET_NS, "seis": SEIS_NS}
CREDIT = "出典：気象庁ホームページ"
# Kind/Status values meaning the warning is no longer in force in that area.
INACTIVE_STATUSES = frozenset({"解除", "発表警報・注意報はなし", "なし"})
# The disaster kinds a 気象警報 area can carry: "発表警報・注意報はなし" lifts all of them.
WEATHER_KINDS = ("土砂災害", "洪水", "高潮", "内水氾濫")
HANDLED = (
    "気象警報・注意報, 土砂災害警戒情報, 指定河川洪水予報, 津波警報・注意報・予報, "
    "記録的短時間大雨情報"
)


def family(title: str, info_kind: str) -> str | None:
    """The report family we parse it as; keyed on Control/Title, then InfoKind."""
    for name in (levels.normalise(title), levels.normalise(info_kind)):
        if name.startswith(("気象警報・注意報", "気象特別警報・警報・注意報")):
            return "weather"
        if name.startswith("土砂災害警戒情報"):
            return "landslide"
        if name.endswith("洪水予報"):
            return "river"
        if name.startswith("津波警報・注意報・予報"):
            return "tsunami"
        if name.startswith("記録的短時間大雨情報"):
            return "rain_record"
    return None


def thread_key(title: str, event_id: str) -> str:
    return f"jma:{title}:{event_id}"


def area_thread(report_type: str, area_code: str, kind: str | None) -> str:
    return f"jma:{report_type}:{area_code}:{kind or '-'}"


@dataclass(frozen=True)
class _Warning:
    area: Area
    name: str
    row: levels.Correspondence | None
    active: bool


def _areas(item: Element, ns: str) -> list[Area]:
    found = [*item.findall(f"{ns}:Area", NS), *item.findall(f"{ns}:Areas/{ns}:Area", NS)]
    return [Area(text_of(a, f"{ns}:Code", NS), text_of(a, f"{ns}:Name", NS)) for a in found]


def _weather(body: Element | None, landslide: bool) -> Iterator[_Warning]:
    """気象警報・注意報 and 土砂災害警戒情報: Body/Warning/Item/{Kind, Area(s)}."""
    if body is None:
        return
    for item in body.findall("met:Warning/met:Item", NS):
        areas = _areas(item, "met")
        for kind in item.findall("met:Kind", NS):
            name = text_of(kind, "met:Name", NS)
            code = text_of(kind, "met:Code", NS)
            status = text_of(kind, "met:Status", NS)
            row: levels.Correspondence | None
            if landslide:
                row = _landslide_row(name, code)
                active = code == "3"
            else:
                row = levels.correspondence(name, code)
                active = status not in INACTIVE_STATUSES and bool(name or code)
            for area in areas:
                yield _Warning(area, name or status, row, active)


def _landslide_row(name: str, code: str) -> levels.Correspondence:
    # VXWW50 Kind/Code: 3 警戒, 1 解除, 0 なし, in both generations; the 2026 name of
    # 警戒 is 「レベル４土砂災害危険警報」.
    if code != "3":
        return levels.BY_NAME["土砂災害警戒情報"]
    return levels.correspondence(name) or levels.BY_NAME["土砂災害警戒情報"]


def _river(root: Element, head: Element) -> Iterator[_Warning]:
    """指定河川洪水予報: the level is in Head/Headline/Information items (Kind/Code),
    the municipalities are the CityCode elements (Head or Body)."""
    best: tuple[int, str] | None = None
    lifted = False
    for kind in head.findall("ib:Headline/ib:Information/ib:Item/ib:Kind", NS):
        name, code = text_of(kind, "ib:Name", NS), text_of(kind, "ib:Code", NS)
        row = levels.correspondence(name)
        level = levels.RIVER_CODES.get(code) or (row.level if row else None)
        if "解除" in name or code == "10":
            lifted = True
        elif level is not None and (best is None or level > best[0]):
            best = (level, name)
    cities: dict[str, str] = {}
    for parent in root.iter():
        children = {child.tag.rsplit("}", 1)[-1]: child for child in parent}
        if "CityCode" in children:
            code = (children["CityCode"].text or "").strip()
            city = children.get("City")
            cities.setdefault(code, (city.text or "").strip() if city is not None else "")
    for code, name in cities.items():
        area = Area(code, name)
        if best is not None:
            row = levels.Correspondence(best[1], "洪水", best[0])
            yield _Warning(area, best[1], row, best[0] >= 2 and not lifted)
        else:
            yield _Warning(area, "解除", levels.BY_NAME["氾濫注意情報"], False)


def _tsunami(root: Element) -> Iterator[_Warning]:
    """VTSE41: Body/Tsunami/Forecast/Item/{Area, Category/Kind/Code}."""
    for item in root.findall("seis:Body/seis:Tsunami/seis:Forecast/seis:Item", NS):
        area = Area(
            text_of(item, "seis:Area/seis:Code", NS), text_of(item, "seis:Area/seis:Name", NS)
        )
        code = text_of(item, "seis:Category/seis:Kind/seis:Code", NS)
        name = text_of(item, "seis:Category/seis:Kind/seis:Name", NS)
        row = levels.BY_NAME.get(levels.TSUNAMI_CODES.get(code, "")) or levels.correspondence(name)
        active = code not in levels.TSUNAMI_LIFTED and "解除" not in name
        if not active:
            row = levels.BY_NAME["津波警報"]  # the kind whose thread it lifts
        yield _Warning(area, name, row, active)


def _rain_record(head: Element) -> Iterator[_Warning]:
    row = levels.BY_NAME["記録的短時間大雨情報"]
    for item in head.findall("ib:Headline/ib:Information/ib:Item", NS):
        for area in _areas(item, "ib"):
            yield _Warning(area, row.name, row, True)


def _entries(kind: str, root: Element, head: Element) -> tuple[Entry, ...]:
    if kind == "river":
        warnings = list(_river(root, head))
    elif kind == "tsunami":
        warnings = list(_tsunami(root))
    elif kind == "rain_record":
        warnings = list(_rain_record(head))
    else:
        warnings = list(_weather(root.find("met:Body", NS), kind == "landslide"))
    river = ""
    if kind == "river":
        river = text_of(head, "ib:Headline/ib:Information/ib:Item/ib:Areas/ib:Area/ib:Code", NS)
    report_type = f"{kind}{':' + river if river else ''}"
    entries: list[Entry] = []
    for w in warnings:
        if w.row is None and (w.active or w.name != "発表警報・注意報はなし"):
            continue  # a warning no municipality acts on (暴風, 雷, 乾燥, ...)
        # "発表警報・注意報はなし": nothing of any kind is in force in that area any more.
        kinds = [w.row.kind] if w.row is not None else list(WEATHER_KINDS)
        for disaster_kind in kinds:
            entries.append(
                Entry(
                    area=w.area,
                    name=w.name,
                    kind=disaster_kind,
                    level=w.row.level if w.row is not None else None,
                    active=w.active,
                    thread=area_thread(report_type, w.area.code or w.area.name, disaster_kind),
                )
            )
    return tuple(dict.fromkeys(entries))


def _not_acted_on(
    title: str, kind: str | None, entries: tuple[Entry, ...], msg_type: MessageType
) -> str | None:
    if kind is None:
        return f"JMA report {title!r} is not one we act on ({HANDLED})"
    if not entries and msg_type is not MessageType.cancel:
        return f"JMA report {title!r} names no warning a municipality acts on (暴風, 雷, ...)"
    return None


def parse(root: Element) -> ParsedAlert:
    """Raises AlertError for a missing or unknown Control/Head field; a report type we do
    not act on parses with `not_acted_on` set."""
    control = root.find("jmx:Control", NS)
    head = root.find("ib:Head", NS)
    if control is None or head is None:
        raise AlertError(
            "JMA report: <Control> or <Head> is missing",
            code="alert.jma_missing",
            element="Control / Head",
        )
    title = text_of(control, "jmx:Title", NS)
    if not title:
        raise AlertError(
            "JMA report: Control/Title is missing",
            code="alert.jma_missing",
            element="Control/Title",
        )
    status = text_of(control, "jmx:Status", NS)
    if status not in ("通常", "訓練", "試験"):
        raise AlertError(
            f"JMA report: unknown Control/Status {status!r}", code="alert.jma_status", value=status
        )
    info_type = text_of(head, "ib:InfoType", NS)
    if info_type not in ("発表", "訂正", "取消", "遅延"):
        raise AlertError(
            f"JMA report: unknown Head/InfoType {info_type!r}",
            code="alert.jma_info_type",
            value=info_type,
        )
    report_time = text_of(head, "ib:ReportDateTime", NS)
    if not report_time:
        raise AlertError(
            "JMA report: Head/ReportDateTime is missing",
            code="alert.jma_missing",
            element="Head/ReportDateTime",
        )
    # Empty in 気象警報 reports: those are threaded by area and kind instead.
    event_id = text_of(head, "ib:EventID", NS)
    serial_raw = text_of(head, "ib:Serial", NS)
    serial = int(serial_raw) if serial_raw.isdigit() else None
    sender = text_of(control, "jmx:PublishingOffice", NS) or text_of(
        control, "jmx:EditorialOffice", NS
    )
    info_kind = text_of(head, "ib:InfoKind", NS)
    kind = family(title, info_kind)
    entries = _entries(kind, root, head) if kind else ()
    msg_type = {"取消": MessageType.cancel, "発表": MessageType.alert}.get(
        info_type, MessageType.update
    )
    if msg_type is MessageType.alert and serial is not None and serial > 1:
        msg_type = MessageType.update
    top = max(
        (e for e in entries if e.active and e.level), key=lambda e: e.level or 0, default=None
    )
    return ParsedAlert(
        source="jma",
        identifier=f"{title}|{event_id}|{info_type}|{serial_raw}|{report_time}"[:256],
        sender=sender,
        sent=parse_datetime(report_time, "JMA Head/ReportDateTime"),
        status=AlertStatus.actual if status == "通常" else AlertStatus.exercise,
        raw_status=status,
        msg_type=msg_type,
        thread_keys=(thread_key(title, event_id),) if event_id else (),
        title=text_of(head, "ib:Title", NS) or title,
        text=text_of(head, "ib:Headline/ib:Text", NS),
        kind=top.kind if top else None,
        level=top.level if top else None,
        areas=tuple(dict.fromkeys(e.area for e in entries)),
        serial=serial,
        notes=(CREDIT,),
        entries=entries,
        information=kind == "rain_record",
        not_acted_on=_not_acted_on(title, kind, entries, msg_type),
        report_type=title,
    )

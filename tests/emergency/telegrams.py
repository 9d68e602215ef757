"""JMA disaster XML telegrams written for these tests, one builder per report type,
following the structure JMA documents (Control / Head / Body); names, codes and areas are
made up or taken from the published code tables, never copied from sample files.

Areas: 4010000 is our city (config.toml maps it to every district), 4013000 the
neighbouring city we do not serve, 600 the tsunami forecast region the tests map.
"""

from __future__ import annotations

OURS = ("4010000", "北九州市")
NEIGHBOUR = ("4013000", "福岡市")
R06 = "気象警報・注意報（Ｒ０６）"
H27 = "気象警報・注意報（Ｈ２７）"
H27_SPECIAL = "気象特別警報・警報・注意報"


def report(
    title: str,
    head_inside: str,
    body: str,
    *,
    status: str = "通常",
    info_type: str = "発表",
    event_id: str = "",
    serial: str = "",
    info_kind: str = "",
    report_time: str = "2026-07-01T14:10:00+09:00",
    body_ns: str = "http://xml.kishou.go.jp/jmaxml1/body/meteorology1/",
    head_title: str = "",
) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/" xmlns:jmx="http://xml.kishou.go.jp/jmaxml1/">
  <Control>
    <Title>{title}</Title>
    <DateTime>2026-07-01T05:10:00Z</DateTime>
    <Status>{status}</Status>
    <EditorialOffice>福岡管区気象台</EditorialOffice>
    <PublishingOffice>福岡管区気象台</PublishingOffice>
  </Control>
  <Head xmlns="http://xml.kishou.go.jp/jmaxml1/informationBasis1/">
    <Title>{head_title or "福岡県" + title}</Title>
    <ReportDateTime>{report_time}</ReportDateTime>
    <TargetDateTime>{report_time}</TargetDateTime>
    <EventID>{event_id}</EventID>
    <InfoType>{info_type}</InfoType>
    <Serial>{serial}</Serial>
    <InfoKind>{info_kind or title}</InfoKind>
    <InfoKindVersion>1.0_0</InfoKindVersion>
    <Headline>
      <Text>福岡県では、大雨に警戒してください。</Text>
      {head_inside}
    </Headline>
  </Head>
  <Body xmlns="{body_ns}">
    {body}
  </Body>
</Report>""".encode()


def kind(name: str, code: str = "", status: str = "発表") -> str:
    parts = f"<Name>{name}</Name>" if name else ""
    parts += f"<Code>{code}</Code>" if code else ""
    return f"<Kind>{parts}<Status>{status}</Status></Kind>"


def item(kinds: str, area: tuple[str, str] = OURS) -> str:
    return f"<Item>{kinds}<Area><Name>{area[1]}</Name><Code>{area[0]}</Code></Area></Item>"


def weather(title: str, items: str, **fields: str) -> bytes:
    """VPWW53/54 (H27) or VPWW55-61 (R06): an empty EventID and Serial, as JMA sends them."""
    body = f'<Warning type="気象警報・注意報（市町村等）">{items}</Warning>'
    return report(title, "", body, info_kind="気象警報・注意報", **fields)


def landslide(kind_name: str, code: str, *, area: tuple[str, str] = OURS, **fields: str) -> bytes:
    """VXWW50: Kind/Code 3 警戒, 1 解除, 0 なし; EventID and Serial filled in."""
    body = (
        '<Warning type="土砂災害警戒情報"><Item>'
        f"<Kind><Name>{kind_name}</Name><Code>{code}</Code></Kind>"
        f"<Area><Name>{area[1]}</Name><Code>{area[0]}</Code></Area>"
        "</Item></Warning>"
    )
    fields.setdefault("event_id", "20260701051000_0")
    fields.setdefault("serial", "1")
    return report("土砂災害警戒情報", "", body, **fields)


def river(
    kind_name: str, code: str, cities: tuple[tuple[str, str], ...] = (OURS,), **fields: str
) -> bytes:
    """VXKO: the level is the Headline's Information item; cities are CityCode elements."""
    head = (
        '<Information type="指定河川洪水予報（河川）"><Item>'
        f"<Kind><Name>{kind_name}</Name><Code>{code}</Code></Kind>"
        '<Areas codeType="指定河川"><Area><Name>紫川</Name><Code>890201</Code></Area></Areas>'
        "</Item></Information>"
    )
    areas = "".join(
        f"<Area><Name>紫川沿い</Name><City>{name}</City><CityCode>{c}</CityCode></Area>"
        for c, name in cities
    )
    body = (
        '<Warning type="指定河川洪水予報"><Item>'
        f"<Kind><Name>{kind_name}</Name><Code>{code}</Code></Kind>"
        '<Areas codeType="指定河川"><Area><Name>紫川</Name><Code>890201</Code></Area></Areas>'
        "</Item></Warning>"
        f'<MeteorologicalInfos type="浸水想定地区"><MeteorologicalInfo><Item>'
        f"<Areas>{areas}</Areas></Item></MeteorologicalInfo></MeteorologicalInfos>"
    )
    fields.setdefault("event_id", "890201_20260701")
    fields.setdefault("serial", "1")
    return report("指定河川洪水予報", head, body, head_title="紫川洪水警報", **fields)


def tsunami(items: tuple[tuple[str, str, str], ...], **fields: str) -> bytes:
    """VTSE41: (area code, kind name, kind code) per forecast region."""
    forecast = "".join(
        f"<Item><Area><Name>福岡県日本海沿岸</Name><Code>{area}</Code></Area>"
        f"<Category><Kind><Name>{name}</Name><Code>{code}</Code></Kind>"
        "<LastKind><Name>津波なし</Name><Code>00</Code></LastKind></Category></Item>"
        for area, name, code in items
    )
    fields.setdefault("event_id", "20260701141000")
    fields.setdefault("serial", "")
    return report(
        "津波警報・注意報・予報a",
        "",
        f"<Tsunami><Forecast><CodeDefine/>{forecast}</Forecast></Tsunami>",
        info_kind="津波警報・注意報・予報",
        body_ns="http://xml.kishou.go.jp/jmaxml1/body/seismology1/",
        **fields,
    )


def rain_record(area: tuple[str, str] = OURS, **fields: str) -> bytes:
    """VPOA50 記録的短時間大雨情報: areas in the Headline."""
    head = (
        '<Information type="記録的短時間大雨情報"><Item>'
        "<Kind><Name>記録的短時間大雨情報</Name></Kind>"
        f'<Areas codeType="気象・地震・火山情報／市町村等"><Area><Name>{area[1]}</Name>'
        f"<Code>{area[0]}</Code></Area></Areas></Item></Information>"
    )
    return report("記録的短時間大雨情報", head, "<MeteorologicalInfos/>", **fields)

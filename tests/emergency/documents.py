"""Small alert documents written for these tests from the published formats (CAP 1.2,
JMA disaster XML); values are made up."""

from __future__ import annotations

CAP_SENDER = "bousai@city.example.lg.jp"


def cap(
    identifier: str = "city-2026-0001",
    *,
    status: str = "Actual",
    msg_type: str = "Alert",
    references: str = "",
    severity: str = "Severe",
    urgency: str = "Immediate",
    certainty: str = "Likely",
    category: str = "Met",
    event: str = "洪水",
    area: str = "<areaDesc>山間部</areaDesc>",
    description: str = "〇〇川が氾濫危険水位に達しました。",
    sent: str = "2026-06-30T14:00:00+09:00",
) -> bytes:
    refs = f"<references>{references}</references>" if references else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>{CAP_SENDER}</sender>
  <sent>{sent}</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>
  {refs}
  <info>
    <language>ja-JP</language>
    <category>{category}</category>
    <event>{event}</event>
    <urgency>{urgency}</urgency>
    <severity>{severity}</severity>
    <certainty>{certainty}</certainty>
    <headline>{event}に関する避難情報</headline>
    <description>{description}</description>
    <instruction>危険な場所から避難してください。</instruction>
    <area>{area}</area>
  </info>
</alert>""".encode()


def cap_reference(
    identifier: str = "city-2026-0001", sent: str = "2026-06-30T14:00:00+09:00"
) -> str:
    return f"{CAP_SENDER},{identifier},{sent}"


def jma(
    *,
    title: str = "土砂災害警戒情報",
    status: str = "通常",
    info_type: str = "発表",
    serial: int = 1,
    event_id: str = "20260701051000_0",
    items: str = "",
    report_time: str = "2026-07-01T14:10:00+09:00",
) -> bytes:
    items = items or landslide_item("3", "警戒")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/">
  <Control>
    <Title>{title}</Title>
    <DateTime>2026-07-01T05:10:00Z</DateTime>
    <Status>{status}</Status>
    <EditorialOffice>福岡管区気象台</EditorialOffice>
    <PublishingOffice>福岡県 福岡管区気象台</PublishingOffice>
  </Control>
  <Head xmlns="http://xml.kishou.go.jp/jmaxml1/informationBasis1/">
    <Title>福岡県{title}</Title>
    <ReportDateTime>{report_time}</ReportDateTime>
    <TargetDateTime>{report_time}</TargetDateTime>
    <EventID>{event_id}</EventID>
    <InfoType>{info_type}</InfoType>
    <Serial>{serial}</Serial>
    <InfoKind>{title}</InfoKind>
    <InfoKindVersion>1.0_0</InfoKindVersion>
    <Headline><Text>降り続く大雨のため、土砂災害の危険度が高まっています。</Text></Headline>
  </Head>
  <Body xmlns="http://xml.kishou.go.jp/jmaxml1/body/meteorology1/">
    <Warning type="{title}">
      {items}
    </Warning>
  </Body>
</Report>""".encode()


def landslide_item(
    code: str, name: str, area_code: str = "4010000", area_name: str = "北九州市"
) -> str:
    return (
        f"<Item><Kind><Name>{name}</Name><Code>{code}</Code></Kind>"
        f"<Area><Name>{area_name}</Name><Code>{area_code}</Code></Area></Item>"
    )


def warning_item(name: str, code: str, status: str = "発表") -> str:
    return (
        f"<Item><Kind><Name>{name}</Name><Code>{code}</Code><Status>{status}</Status></Kind>"
        "<Area><Name>北九州市</Name><Code>4010000</Code></Area></Item>"
    )


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol3;</identifier></alert>"""

"""Benefit notices: every eligible follower once per program, counts, the admin export."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster.benefits import notices
from broadcaster.benefits.models import BenefitNotification, BenefitProgram
from broadcaster.render import Renderer
from broadcaster.sandbox.testing import SandboxThread
from segments.residents import Resident, ResidentOptOut
from tests.clock import freeze_time
from tests.conftest import T0, auth, make_settings
from tests.delivery.scenario import ledgered

PROGRAM = {
    "name": "子育て世帯臨時給付金",
    "rule": {"all": [{"field": "子育て世帯", "op": "eq", "value": True}]},
    "parameters": {
        "details": "児童1人あたり5万円を支給します。",
        "how_to_apply": "市役所窓口で申請",
        "contact": "子育て支援課 093-000-0000",
        "amount": 50000,
    },
    "deadline": "2026-09-30",
}


def notify(client: TestClient, token: str, program: dict[str, Any]) -> Any:
    """Notify at 10:00 JST (outside quiet hours, whatever the real clock says)."""
    with freeze_time("2026-04-01 10:00:00+09:00"):
        return client.post(f"/api/v1/benefits/{program['id']}/notify", headers=auth(token))


def _create(client: TestClient, token: str, **changes: Any) -> dict[str, Any]:
    response = client.post("/api/v1/benefits", headers=auth(token), json={**PROGRAM, **changes})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_eligible_followers_are_notified_once_even_after_an_import_adds_more(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    sandbox: SandboxThread,
    deliver: Callable[[], None],
) -> None:
    family = make_resident(flags=["子育て世帯"])
    english = make_resident(flags=["子育て世帯"], language="en")
    other = make_resident(flags=["高齢者のみ世帯"])
    dept = tokens["子育て支援課"]
    program = _create(client, dept)
    first = notify(client, dept, program).json()
    assert first["notified"] == 2
    deliver()
    [messages] = [d["messages"] for d in sandbox.deliveries(family.line_user_id)]
    assert "子育て世帯臨時給付金" in messages[0]["text"] and "9月30日" in messages[0]["text"]
    assert len(sandbox.deliveries(english.line_user_id)) == 1
    assert sandbox.deliveries(other.line_user_id) == []
    rerun = notify(client, dept, program).json()
    assert (rerun["notified"], rerun["broadcast_id"]) == (0, None)
    newcomer = make_resident(flags=["子育て世帯"])  # e.g. added by the next resident import
    third = notify(client, dept, program).json()
    assert third["notified"] == 1
    deliver()
    assert len(sandbox.deliveries(newcomer.line_user_id)) == 1
    assert len(sandbox.deliveries(family.line_user_id)) == 1
    assert sandbox.duplicates() == []


def test_counts_separate_the_unreachable(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    engine: Engine,
) -> None:
    make_resident(flags=["子育て世帯"])
    make_resident(flags=["子育て世帯"], follow_state="blocked")
    opted_out = make_resident(flags=["子育て世帯"])
    with Session(engine) as session:
        session.add(ResidentOptOut(resident_id=opted_out.id, category="benefits"))
        session.commit()
    dept = tokens["子育て支援課"]
    program = _create(client, dept)
    before = client.get(f"/api/v1/benefits/{program['id']}", headers=auth(dept)).json()["counts"]
    assert before == {"eligible": 3, "notified": 0, "pending": 1, "not_reachable": 2}
    notify(client, dept, program)
    after = client.get(f"/api/v1/benefits/{program['id']}", headers=auth(dept)).json()["counts"]
    assert after == {"eligible": 3, "notified": 1, "pending": 0, "not_reachable": 2}
    assert (
        client.get(f"/api/v1/benefits/{program['id']}", headers=auth(tokens["環境課"])).status_code
        == 404
    )


def test_concurrent_notifies_never_tell_anyone_twice(
    any_engine: Engine,
    tmp_path: Path,
    make_resident: Callable[..., Resident],
) -> None:
    settings = make_settings(tmp_path)
    renderer = Renderer.from_settings(settings)
    from broadcaster.departments import Role, create_department

    with Session(any_engine, expire_on_commit=False) as session:
        department, _ = create_department(session, "子育て支援課", Role.department, T0)
        program = BenefitProgram(
            name="給付金",
            rule=PROGRAM["rule"],
            parameters=PROGRAM["parameters"],
            department_id=department.id,
            created_by="t",
            created_at=T0,
            updated_at=T0,
        )
        session.add(program)
        session.commit()
    from tests.delivery.scenario import add_residents

    add_residents(any_engine, 300)
    with Session(any_engine) as session:
        for resident_id in session.exec(select(Resident.id)).all():
            from segments.residents import ResidentAttribute

            session.add(
                ResidentAttribute(
                    resident_id=resident_id,
                    name="子育て世帯",
                    value="true",
                    verified_at=T0,
                    verified_by="t",
                )
            )
        session.commit()
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            with Session(any_engine, expire_on_commit=False) as session:
                own = session.get(BenefitProgram, program.id)
                assert own is not None
                result = notices.notify(
                    session, own, "t", department.id or 0, settings, renderer, T0.replace(hour=3)
                )
                results.append(result.notified)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [0, 300]
    with Session(any_engine) as session:
        assert len(session.exec(select(BenefitNotification)).all()) == 300


def test_notify_in_quiet_hours_is_refused_with_the_next_allowed_time(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
) -> None:
    make_resident(flags=["子育て世帯"])
    dept = tokens["子育て支援課"]
    program = _create(client, dept)
    with freeze_time("2026-04-01 23:00:00+09:00"):
        response = client.post(f"/api/v1/benefits/{program['id']}/notify", headers=auth(dept))
    assert response.status_code == 422
    assert "next allowed time 2026-04-02 07:00" in response.json()["errors"][0]["message"]
    counts = client.get(f"/api/v1/benefits/{program['id']}", headers=auth(dept)).json()["counts"]
    assert counts["notified"] == 0


def test_bad_rules_and_parameters_are_refused_at_creation(
    client: TestClient, tokens: dict[str, str]
) -> None:
    dept = auth(tokens["子育て支援課"])
    bad_rule = client.post(
        "/api/v1/benefits",
        headers=dept,
        json={**PROGRAM, "rule": {"field": "年収", "op": "lte", "value": 3}},
    )
    assert bad_rule.status_code == 422 and bad_rule.json()["errors"][0]["path"].startswith("rule")
    missing = client.post("/api/v1/benefits", headers=dept, json={**PROGRAM, "parameters": {}})
    assert missing.status_code == 422 and "'details'" in missing.json()["errors"][0]["message"]


def test_notified_csv_is_admin_only_and_has_the_ids_to_reconcile(
    client: TestClient,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    deliver: Callable[[], None],
) -> None:
    family = make_resident(flags=["子育て世帯"], district="北")
    dept = tokens["子育て支援課"]
    program = _create(client, dept)
    notify(client, dept, program)
    deliver()
    url = f"/api/v1/benefits/{program['id']}/notified.csv"
    assert client.get(url, headers=auth(dept)).status_code == 403
    response = client.get(url, headers=auth(tokens["情報政策課"]))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    [row] = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert (row["line_user_id"], row["district"], row["delivery_status"]) == (
        family.line_user_id,
        "北",
        "accepted",
    )


def test_a_notice_resumed_after_a_crash_reaches_only_the_residents_recorded_for_it(
    client: TestClient,
    engine: Engine,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from broadcaster.broadcasts import Broadcast
    from broadcaster.deliveries import Delivery
    from broadcaster.schedule import resume_interrupted

    settings = make_settings(tmp_path)
    told = make_resident(flags=["子育て世帯"])
    program = _create(client, tokens["子育て支援課"])
    at = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)  # 10:00 JST
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(BenefitProgram, program["id"])
        assert row is not None
        result = notices.notify(
            session, row, "test", row.department_id, settings, Renderer.from_settings(settings), at
        )
        assert result.broadcast is not None
        # The process died after the notice was recorded and dispatch had begun.
        broadcast = result.broadcast
        broadcast.status = "sending"
        session.add(broadcast)
        session.commit()
    newcomer = make_resident(flags=["子育て世帯"])  # eligible, but not recorded for it
    assert resume_interrupted(engine, Renderer.from_settings(settings), settings, at) == 1
    ledgered(engine)
    with Session(engine) as session:
        queued = session.exec(
            select(Delivery.resident_id).where(Delivery.broadcast_id == broadcast.id)
        ).all()
        assert session.get(Broadcast, broadcast.id).dispatched_at is not None  # type: ignore[union-attr]
    assert queued == [told.id]
    assert newcomer.id not in queued


def test_a_notice_never_dispatched_is_sent_hours_later_not_expired(
    client: TestClient,
    engine: Engine,
    tokens: dict[str, str],
    make_resident: Callable[..., Resident],
    tmp_path: Path,
) -> None:
    """Its recipients are recorded as told: past max_lateness it still goes (the benefit
    policy does not expire), by the next notify or the next tick."""
    from datetime import UTC, datetime

    from broadcaster.broadcasts import Broadcast
    from broadcaster.deliveries import Delivery

    settings = make_settings(tmp_path)
    told = make_resident(flags=["子育て世帯"])
    program = _create(client, tokens["子育て支援課"])
    at = datetime(2026, 4, 1, 1, 0, tzinfo=UTC)  # 10:00 JST
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(BenefitProgram, program["id"])
        assert row is not None
        result = notices.notify(
            session, row, "test", row.department_id, settings, Renderer.from_settings(settings), at
        )
        assert result.broadcast is not None  # recorded and committed; the process died here
    with freeze_time("2026-04-01 14:00:00+09:00"):  # four hours later
        response = client.post(
            f"/api/v1/benefits/{program['id']}/notify", headers=auth(tokens["子育て支援課"])
        )
    assert response.status_code == 200, response.text
    assert response.json()["resumed"] == 1
    ledgered(engine)
    with Session(engine) as session:
        notice = session.get(Broadcast, result.broadcast.id)
        assert notice is not None and notice.status != "expired"
        assert notice.dispatched_at is not None
        reached = session.exec(
            select(Delivery.resident_id).where(Delivery.broadcast_id == notice.id)
        ).all()
    assert reached == [told.id]

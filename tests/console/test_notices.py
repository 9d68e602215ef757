"""The notice jobs in the console (jobs 2-6): compose, confirm, change or stop, the
calendar, watching delivery. Refusals show Japanese next to their field and write nothing."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcaster import lifecycle
from broadcaster.audit import AuditEntry
from broadcaster.batches import Batch, BatchStatus
from broadcaster.broadcasts import Broadcast, BroadcastStatus
from broadcaster.deliveries import Delivery, DeliveryStatus
from broadcaster.departments import Department
from segments.residents import Resident
from tests.clock import freeze_time
from tests.console.signing import sign_in

NOON = "2026-05-01T03:00:00Z"  # 12:00 JST
NOTICE: dict[str, Any] = {
    "title": "子育て広場のお知らせ",
    "category": "childcare",
    "text": "{{ resident.district }}地区の子育て広場は5月10日に開きます。",
    "districts": ["中央", "北"],
    "when": "at",
    "send_at": "2026-05-01T15:00",
}


def _as(client: TestClient, login: str) -> str:
    """Sign in as another person (the previous one's session cookie dropped first)."""
    client.cookies.clear()
    return sign_in(client, login)


def _rows(engine: Engine) -> list[Broadcast]:
    with Session(engine) as session:
        return list(session.exec(select(Broadcast).order_by(Broadcast.id)).all())


def _audits(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(sa.func.count()).select_from(AuditEntry)).one())


def _field_error(html: str, control: str) -> str:
    """The message shown next to a control (its aria-describedby target)."""
    found = re.search(rf'<p class="field-error" id="err-f-{control}">([^<]*)</p>', html)
    assert found, f"no message next to {control}"
    assert re.search(rf'id="f-{control}"[^>]*aria-invalid="true"', html) or control == "targets"
    return found[1]


def _post(client: TestClient, csrf: str, action: str, **changes: Any) -> Any:
    return client.post(
        "/console/new",
        data={**NOTICE, **changes, "csrf_token": csrf, "action": action},
        follow_redirects=False,
    )


# -- job 2: compose ---------------------------------------------------------------------


def test_the_form_offers_every_target_field_variables_and_a_repeat_picker(
    app_client: TestClient, staff: dict[str, str]
) -> None:
    sign_in(app_client, "kosodate")
    page = app_client.get("/console/new").text
    for words in ("地区", "ごみ収集地区", "関心", "言語", "年齢", "世帯区分", "子育て世帯"):
        assert words in page
    assert "やさしい日本語" in page and "English" in page
    assert "受け取る人の地区名を入れる" in page and 'data-insert="{{ resident.district }}"' in page
    assert "毎月（第何曜日）" in page and "下書きとして保存" in page
    assert 'data-limit="5000"' in page
    assert "{{ resident.district }} と書くと" not in page


def test_the_live_panel_counts_through_the_rule_compiler_and_previews_each_language(
    app_client: TestClient, staff: dict[str, str], cast: dict[str, Resident]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    with freeze_time(NOON):
        panel = app_client.post(
            "/console/new/look",
            data={
                **NOTICE,
                "text_en": "Playground in {{ resident.district }} opens on May 10.",
                "districts": ["中央", "北"],
            },
            headers={"X-CSRF-Token": csrf},
        )
        seniors = app_client.post(
            "/console/new/look",
            data={**NOTICE, "districts": [], "age_min": "65"},
            headers={"X-CSRF-Token": csrf},
        )
        family = app_client.post(
            "/console/new/look",
            data={**NOTICE, "districts": [], "flag_0": "yes", "interests": ["子育て"]},
            headers={"X-CSRF-Token": csrf},
        )
    assert panel.status_code == 200
    assert 'data-recipients="2"' in panel.text
    assert "English" in panel.text and "日本語" in panel.text
    assert "中央地区の子育て広場" in panel.text and "Playground in 北 opens" in panel.text
    assert "/ 5,000 文字（LINEの数え方）" in panel.text
    assert 'data-recipients="1"' in seniors.text
    assert 'data-recipients="1"' in family.text
    assert _rows_count(app_client) == 0


def _rows_count(client: TestClient) -> int:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    return len(_rows(engine))


def test_a_draft_is_saved_without_confirmation_and_can_be_edited(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    with freeze_time(NOON):
        saved = _post(
            app_client,
            csrf,
            "draft",
            text_en="Open on May 10.",
            repeat="weekly",
            repeat_weekday="mon",
        )
    assert saved.status_code == 303
    [row] = _rows(engine)
    assert row.status == BroadcastStatus.draft
    assert row.recurrence == "0 15 * * mon"
    assert row.send_at.astimezone(UTC) == datetime(2026, 5, 4, 6, tzinfo=UTC)  # Monday 15:00
    assert row.rule == {"all": [{"field": "district", "op": "in", "value": ["中央", "北"]}]}
    with freeze_time(NOON):
        form = app_client.get(f"/console/broadcasts/{row.id}/edit").text
    assert 'value="中央" checked' in form and "Open on May 10." in form
    assert '<option value="weekly" selected>' in form


@pytest.mark.parametrize(
    ("changes", "control", "words"),
    [
        ({"title": ""}, "title", "件名を入力してください"),
        ({"text": ""}, "text", "本文（日本語）を入力してください"),
        ({"text": "{{ shelter }}へ"}, "text", "本文に使えない書き方があります"),
        ({"text": "あ" * 5001}, "text", "LINEの上限"),
        ({"send_at": "2026-05-01T23:00"}, "send_at", "21:00–07:00 は配信しない時間帯です"),
        ({"send_at": "2026-04-30T10:00"}, "send_at", "過ぎた日時は指定できません"),
        ({"send_at": "5月1日"}, "send_at", "配信日時の形式が正しくありません"),
        ({"send_at": ""}, "send_at", "配信日時を入力するか"),
        ({"age_min": "70", "age_max": "60"}, "age_max", "下限が上限より大きく"),
        ({"age_min": "二十"}, "age_min", "年齢は0〜150の数字"),
        ({"repeat": "monthly_day", "repeat_day": "40"}, "repeat_day", "1〜31"),
    ],
)
def test_a_refusal_is_japanese_next_to_its_field_and_writes_nothing(
    app_client: TestClient,
    engine: Engine,
    staff: dict[str, str],
    changes: dict[str, Any],
    control: str,
    words: str,
) -> None:
    csrf = sign_in(app_client, "kosodate")
    before = _audits(engine)
    with freeze_time(NOON):
        # A draft needs no send time yet: only sending does.
        actions = (
            ("confirm", "send") if changes == {"send_at": ""} else ("confirm", "draft", "send")
        )
        for action in actions:
            answer = _post(app_client, csrf, action, **changes)
            assert answer.status_code == 422, (action, answer.text[:300])
            assert words in _field_error(answer.text, control)
            assert 'id="error-summary"' in answer.text
    if changes.get("text"):
        assert changes["text"][:20] in answer.text  # what was typed is kept
    assert _rows(engine) == [] and _audits(engine) == before


def test_a_draft_may_wait_for_its_send_time(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    with freeze_time(NOON):
        assert _post(app_client, csrf, "draft", send_at="").status_code == 303
    [row] = _rows(engine)
    assert row.status == BroadcastStatus.draft


# -- job 3: confirm before sending ------------------------------------------------------


def test_the_confirmation_shows_count_breakdown_messages_quota_and_warnings(
    app_client: TestClient, engine: Engine, staff: dict[str, str], cast: dict[str, Resident]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    with freeze_time(NOON):
        page = _post(app_client, csrf, "confirm", text_en="Open on May 10.")
    assert page.status_code == 200 and "送信前の確認" in page.text
    assert 'data-recipients="2"' in page.text
    assert "<td>中央</td>" in page.text and "<td>English</td>" in page.text
    assert "<td>日本語</td>" in page.text
    assert "地区が 中央・北" in page.text
    assert "使う通数</dt><dd>2 通" in page.text
    assert "21:00–07:00 は配信しない時間帯です" in page.text
    assert "全員に送ることを確認しました" not in page.text
    assert _rows(engine) == []
    with freeze_time(NOON):
        sent = _post(app_client, csrf, "send", text_en="Open on May 10.")
    assert sent.status_code == 303
    [row] = _rows(engine)
    assert row.status == BroadcastStatus.scheduled and "Open on May 10." in (
        row.template_text or ""
    )


def test_sending_to_everyone_needs_the_box_ticked_on_the_server(
    app_client: TestClient, engine: Engine, staff: dict[str, str], cast: dict[str, Resident]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    with freeze_time(NOON):
        page = _post(app_client, csrf, "confirm", districts=[])
        assert "全員に送ることを確認しました" in page.text and "全員（3 人）" in page.text
        refused = _post(app_client, csrf, "send", districts=[])
        assert refused.status_code == 422
        assert "チェックを入れてください" in _field_error(refused.text, "confirm_all")
        assert _rows(engine) == []
        sent = _post(app_client, csrf, "send", districts=[], confirm_all="true")
    assert sent.status_code == 303
    [row] = _rows(engine)
    assert row.rule == {}


def test_opted_out_and_blocked_residents_are_counted_as_not_reached(
    app_client: TestClient, engine: Engine, staff: dict[str, str], make_resident: Any
) -> None:
    from segments.residents import ResidentOptOut  # only this test writes opt-outs

    kept = make_resident(district="北")
    stopped = make_resident(district="北")
    make_resident(district="北", follow_state="blocked")
    with Session(engine) as session:
        session.add(ResidentOptOut(resident_id=stopped.id, category="childcare"))
        session.commit()
    assert kept.id
    csrf = sign_in(app_client, "kosodate")
    with freeze_time(NOON):
        page = _post(app_client, csrf, "confirm", districts=["北"]).text
    assert 'data-recipients="1"' in page
    assert "1 人はこの分類の配信を停止しているため届きません" in page
    assert "1 人は公式アカウントをブロックしているため届きません" in page


# -- job 4: change or stop --------------------------------------------------------------


def _scheduled(client: TestClient, csrf: str, engine: Engine) -> Broadcast:
    with freeze_time(NOON):
        assert _post(client, csrf, "send").status_code == 303
    return _rows(engine)[-1]


def test_an_edit_goes_through_the_apis_update_and_is_confirmed(
    app_client: TestClient, engine: Engine, staff: dict[str, str], cast: dict[str, Resident]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    row = _scheduled(app_client, csrf, engine)
    edit = f"/console/broadcasts/{row.id}/edit"
    data = {**NOTICE, "title": "子育て広場（会場変更）", "districts": ["山間"], "csrf_token": csrf}
    with freeze_time(NOON):
        confirm = app_client.post(edit, data={**data, "action": "confirm"})
        assert "この内容で変更する" in confirm.text and 'data-recipients="1"' in confirm.text
        bad = app_client.post(edit, data={**data, "action": "send", "send_at": "2026-05-01T23:30"})
        assert bad.status_code == 422 and "配信しない時間帯" in _field_error(bad.text, "send_at")
        assert _rows(engine)[0].title == NOTICE["title"]
        done = app_client.post(edit, data={**data, "action": "send"}, follow_redirects=False)
    assert done.status_code == 303
    [changed] = _rows(engine)
    assert changed.title == "子育て広場（会場変更）"
    assert changed.rule == {"all": [{"field": "district", "op": "in", "value": ["山間"]}]}
    with Session(engine) as session:
        actions = session.exec(select(AuditEntry.action)).all()
    assert "broadcast.update" in actions


def test_duplicate_starts_a_new_form_from_a_notice(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    row = _scheduled(app_client, csrf, engine)
    form = app_client.get(f"/console/new?from={row.id}").text
    assert "子育て広場のお知らせ（複製）" in form and 'value="北" checked' in form
    assert 'name="send_at" value=""' in form
    _as(app_client, "kankyo")
    assert app_client.get(f"/console/new?from={row.id}").status_code == 404


def test_cancel_asks_first_and_then_reads_as_cancelled(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    row = _scheduled(app_client, csrf, engine)
    ask = app_client.get(f"/console/broadcasts/{row.id}/cancel").text
    assert "元に戻せません" in ask and "取り消さずに戻る" in ask
    assert _rows(engine)[0].status == BroadcastStatus.scheduled
    done = app_client.post(
        f"/console/broadcasts/{row.id}/cancel", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303
    page = app_client.get(f"/console/broadcasts/{row.id}").text
    assert "取消（送信していません）" in page and "誰にも送っていません" in page
    assert "配信完了" not in page and "編集する" not in page
    assert app_client.get(f"/console/broadcasts/{row.id}/cancel").status_code == 409


def test_with_approval_on_an_admin_approves_or_sends_back(
    tmp_path: Any, engine: Engine, staff: dict[str, str]
) -> None:
    from broadcaster.app import create_app  # this test needs approval switched on
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, **{"scheduling.approval_required": True})
    app = create_app(settings, engine=engine, background=False)
    with TestClient(app) as client:
        csrf = sign_in(client, "kosodate")
        first = _scheduled(client, csrf, engine)
        second = _scheduled(client, csrf, engine)
        assert first.status == BroadcastStatus.awaiting_approval
        page = client.get(f"/console/broadcasts/{first.id}").text
        assert "承認して予約する" not in page and "管理者の承認を待っています" in page
        refused = client.post(f"/console/broadcasts/{first.id}/approve", data={"csrf_token": csrf})
        assert refused.status_code == 403
        csrf = _as(client, "admin")
        assert "承認して予約する" in client.get(f"/console/broadcasts/{first.id}").text
        with freeze_time(NOON):
            client.post(f"/console/broadcasts/{first.id}/approve", data={"csrf_token": csrf})
            client.post(
                f"/console/broadcasts/{second.id}/send-back",
                data={"csrf_token": csrf, "reason": "日付を確認してください"},
            )
        _as(client, "kosodate")
        returned = client.get(f"/console/broadcasts/{second.id}").text
        assert "情報政策課 高橋 美咲 が差し戻しました" in returned
        assert "理由：日付を確認してください" in returned
    rows = {row.id: row for row in _rows(engine)}
    assert rows[first.id].status == BroadcastStatus.scheduled
    assert rows[first.id].approved_by == "情報政策課 高橋 美咲"
    assert rows[second.id].status == BroadcastStatus.draft


# -- job 5: the calendar ----------------------------------------------------------------


def test_the_calendar_shows_the_months_and_weeks_sends_and_repeats(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    with freeze_time(NOON):
        _post(app_client, csrf, "send")
        _post(
            app_client,
            csrf,
            "send",
            title="毎週の健診案内",
            category="health",
            repeat="weekly",
            repeat_weekday="wed",
            send_at="2026-05-06T10:00",
        )
        month = app_client.get("/console/calendar?on=2026-05-01").text
        week = app_client.get("/console/calendar?view=week&on=2026-05-11").text
        health = app_client.get("/console/calendar?on=2026-05-01&category=childcare").text
    assert "2026年5月" in month and "子育て広場のお知らせ" in month
    assert month.count("毎週の健診案内") == 4  # 6, 13, 20, 27 May
    assert "繰り返し" in month
    assert week.count("毎週の健診案内") == 1 and "子育て広場のお知らせ" not in week
    assert "毎週の健診案内" not in health
    _as(app_client, "kankyo")
    with freeze_time(NOON):
        assert "子育て広場" not in app_client.get("/console/calendar?on=2026-05-01").text


def test_an_admin_filters_the_calendar_by_department(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    with freeze_time(NOON):
        _post(app_client, csrf, "send")
    _as(app_client, "admin")
    with Session(engine) as session:
        other_id = session.exec(select(Department.id).where(Department.name == "環境課")).one()
    with freeze_time(NOON):
        everything = app_client.get("/console/calendar?on=2026-05-01").text
        filtered = app_client.get(f"/console/calendar?on=2026-05-01&department={other_id}").text
    assert "子育て広場のお知らせ" in everything and "子育て支援課" in everything
    assert "子育て広場のお知らせ" not in filtered


# -- job 6: watch delivery --------------------------------------------------------------


def test_the_notice_page_shows_text_targets_person_and_the_planned_count(
    app_client: TestClient, engine: Engine, staff: dict[str, str], cast: dict[str, Resident]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    with freeze_time(NOON):
        row = _scheduled(app_client, csrf, engine)
        page = app_client.get(f"/console/broadcasts/{row.id}").text
    assert "{{ resident.district }}地区の子育て広場" in page
    assert "地区が 中央・北" in page
    assert "子育て支援課 山田 花子" in page and "2026-05-01 15:00（日本時間）" in page
    assert '対象者（見込み）<span class="figure">2</span>' in page
    assert "対象者 0 人" not in page


def _finish(engine: Engine, broadcast_id: int, deliveries: dict[str, int]) -> None:
    """A finished send with these delivery rows (as the outbox and ledger leave them)."""
    now = datetime(2026, 5, 1, 6, 1, tzinfo=UTC)
    with Session(engine) as session:
        assert lifecycle.claim(session, broadcast_id, now)
        ids = iter(range(1, 10_000))
        for status, n in deliveries.items():
            batch_id = None
            if status in ("accepted", "failed", "unknown"):
                batch = Batch(
                    broadcast_id=broadcast_id,
                    status=BatchStatus(status),
                    recipient_count=n,
                    attempts=8 if status == "failed" else 1,
                    last_error="HTTP 400: invalid" if status == "failed" else None,
                    created_at=now,
                    **_batch_extras(now),
                )
                session.add(batch)
                session.flush()
                batch_id = batch.id
            for _ in range(n):
                session.add(
                    Delivery(
                        broadcast_id=broadcast_id,
                        batch_id=batch_id,
                        resident_id=next(ids),
                        status=DeliveryStatus(status),
                    )
                )
        session.commit()
        total = sum(deliveries.values())
        session.execute(
            sa.update(Broadcast)
            .where(Broadcast.id == broadcast_id)
            .values(  # type: ignore[arg-type]
                recipients_total=total,
                dispatched_at=now,
                skipped_over_cap=deliveries.get("skipped_cap", 0),
            )
        )
        troubled = deliveries.get("failed", 0) + deliveries.get("unknown", 0)
        lifecycle.finish(
            session,
            broadcast_id,
            BroadcastStatus.partially_failed if troubled else BroadcastStatus.sent,
            now,
        )
        session.commit()


def _batch_extras(now: datetime) -> dict[str, Any]:
    return {
        "messages": [{"type": "text", "text": "x"}],
        "recipients": [],
        "retry_key": str(uuid.uuid4()),
        "accepted_at": now,
        "ledgered_at": now,
    }


def test_a_send_that_reached_nobody_is_not_green(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    row = _scheduled(app_client, csrf, engine)
    assert row.id is not None
    _finish(engine, row.id, {"skipped_cap": 3})
    page = app_client.get(f"/console/broadcasts/{row.id}").text
    assert "誰にも届いていません" in page and "status-reached_nobody" in page
    assert "3 人全員が、1日・1週間に受け取れる上限に達していた" in page
    assert "status-sent" not in page and "data-final" in page
    listing = app_client.get("/console/broadcasts").text
    assert "誰にも届いていません" in listing


def test_progress_is_a_refreshing_fragment_with_counts_and_batches_explained(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    row = _scheduled(app_client, csrf, engine)
    assert row.id is not None
    _finish(engine, row.id, {"accepted": 5, "failed": 2, "unknown": 1, "skipped_cap": 1})
    fragment = app_client.get(f"/console/broadcasts/{row.id}/progress").text
    assert "<html" not in fragment and "data-final" in fragment
    assert 'LINEが受け付けた</th><td class="num">5' in fragment
    assert '上限のため省略</th><td class="num">1' in fragment
    assert "届いたかどうか分かりません" in fragment and "自動で再送を8回試みました" in fragment
    page = app_client.get(f"/console/broadcasts/{row.id}").text
    assert "一部失敗" in page


def test_a_notice_being_sent_keeps_refreshing(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    csrf = sign_in(app_client, "kosodate")
    row = _scheduled(app_client, csrf, engine)
    assert row.id is not None
    with Session(engine) as session:
        assert lifecycle.claim(session, row.id, datetime(2026, 5, 1, 6, tzinfo=UTC))
        session.commit()
    page = app_client.get(f"/console/broadcasts/{row.id}").text
    assert f'data-refresh="3" data-src="/console/broadcasts/{row.id}/progress"' in page
    assert "data-final" not in app_client.get(f"/console/broadcasts/{row.id}/progress").text


# -- the list ---------------------------------------------------------------------------


def test_the_list_is_paginated_and_filtered(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    with Session(engine) as session:
        department = session.exec(select(Department).where(Department.name == "子育て支援課")).one()
        other = session.exec(select(Department).where(Department.name == "環境課")).one()
        other_id = other.id
        when = datetime(2026, 5, 1, tzinfo=UTC)
        for n in range(120):
            session.add(
                Broadcast(
                    department_id=department.id if n % 4 else other.id,
                    title=f"お知らせ{n:03d}",
                    category="health" if n % 2 else "general",
                    template_text="x",
                    send_at=when,
                    created_at=when,
                    updated_at=when,
                )
            )
        session.commit()
    sign_in(app_client, "kosodate")
    first = app_client.get("/console/broadcasts").text
    assert "90 件（1 / 2 ページ）" in first and len(re.findall(r"お知らせ\d{3}", first)) == 50
    assert "次の50件" in first
    second = app_client.get("/console/broadcasts?page=2").text
    assert second.count('href="/console/broadcasts/') == 40
    health = app_client.get("/console/broadcasts?category=health").text
    assert "60 件" in health
    _as(app_client, "admin")
    by_department = app_client.get(f"/console/broadcasts?department={other_id}").text
    assert "30 件" in by_department


def test_a_notice_from_a_template_file_is_cancelled_here_but_not_edited(
    app_client: TestClient, engine: Engine, staff: dict[str, str]
) -> None:
    with Session(engine) as session:
        department = session.exec(select(Department).where(Department.name == "子育て支援課")).one()
        when = datetime(2026, 5, 2, 1, tzinfo=UTC)
        row = Broadcast(
            department_id=department.id,
            title="イベントのご案内",
            category="events",
            template_name="event",
            send_at=when,
            created_at=when,
            updated_at=when,
        )
        session.add(row)
        session.commit()
        broadcast_id = row.id
    sign_in(app_client, "kosodate")
    page = app_client.get(f"/console/broadcasts/{broadcast_id}").text
    assert "テンプレート「event」" in page and "この配信を取り消す" in page
    assert "編集する" not in page
    assert app_client.get(f"/console/broadcasts/{broadcast_id}/edit").status_code == 409

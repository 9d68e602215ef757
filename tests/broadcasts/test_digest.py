"""まとめ配信: same-day notices flagged for the digest are folded, then sent as one message
per resident at digest_time, each resident getting exactly the notices meant for them."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from broadcaster.batches import Batch
from broadcaster.broadcast_creation import create_broadcast
from broadcaster.broadcast_requests import BroadcastRequest
from broadcaster.broadcasts import Broadcast
from broadcaster.deliveries import Delivery
from broadcaster.digest import dispatch_digests
from broadcaster.schedule import dispatch_due
from tests.broadcasts.conftest import jst
from tests.conftest import make_settings


@pytest.fixture
def digest_settings(tmp_path):
    return make_settings(tmp_path, **{"frequency.digest_enabled": True})


@pytest.fixture
def engine(any_engine):
    """These tests run on PostgreSQL too (the cap and digest SQL must hold on both)."""
    return any_engine


def add(engine, settings, renderer, department_id, title, send_at, rule=None) -> int:
    with Session(engine, expire_on_commit=False) as session:
        request = BroadcastRequest(
            title=title,
            category="events",
            template_text=f"{title}の詳細です。",
            rule=rule,
            send_at=send_at,
            digest=True,
        )
        broadcast = create_broadcast(
            session, "t", department_id, request, settings, renderer, jst(2026, 5, 1, 8)
        )
        session.commit()
        assert broadcast.id is not None
        return broadcast.id


def test_notices_are_folded_then_sent_as_one_digest_per_resident(
    engine,
    digest_settings,
    renderer,
    department_id,
    cast,
):
    settings = digest_settings
    everyone = add(engine, settings, renderer, department_id, "図書館まつり", jst(2026, 5, 1, 10))
    central = add(
        engine,
        settings,
        renderer,
        department_id,
        "中央公園の清掃",
        jst(2026, 5, 1, 12),
        rule={"field": "district", "op": "eq", "value": "中央"},
    )
    evening = add(engine, settings, renderer, department_id, "夜の星空観察", jst(2026, 5, 1, 19))
    for hour in (10, 12):
        assert dispatch_due(engine, settings, renderer, jst(2026, 5, 1, hour, 0, 1)) == 0
    with Session(engine) as session:
        folded = session.get(Broadcast, everyone)
        assert folded is not None and folded.status == "sent"
        assert "digest" in (folded.status_reason or "")
        statuses = set(session.exec(select(Delivery.status)).all())
        assert statuses == {"digested"}
        assert session.exec(select(Batch)).all() == []  # nothing sent yet
    # Before digest_time nothing happens; at 18:00 one digest per distinct set of notices.
    assert dispatch_digests(engine, settings, renderer, jst(2026, 5, 1, 17, 59)) == 0
    assert dispatch_digests(engine, settings, renderer, jst(2026, 5, 1, 18, 0, 1)) == 2
    assert dispatch_digests(engine, settings, renderer, jst(2026, 5, 1, 18, 0, 2)) == 0
    assert dispatch_due(engine, settings, renderer, jst(2026, 5, 1, 18, 0, 2)) == 2
    dispatch_due(engine, settings, renderer, jst(2026, 5, 1, 19, 0, 1))  # folds the evening one
    with Session(engine) as session:
        batches = session.exec(select(Batch).order_by(Batch.id)).all()
        texts = {user: batch.messages[0]["text"] for batch in batches for user in batch.recipients}
        digests = session.exec(select(Broadcast).where(Broadcast.kind == "digest")).all()
    family, senior, english = (cast[name].line_user_id for name in ("family", "senior", "english"))
    assert set(texts) == {family, senior, english}
    assert "図書館まつり" in texts[family] and "中央公園の清掃" in texts[family]
    assert "図書館まつり" in texts[senior] and "中央公園の清掃" not in texts[senior]
    assert "図書館まつり" in texts[english]
    assert all(d.source and evening not in d.source["digest_of"] for d in digests)
    assert central in {item for d in digests for item in (d.source or {})["digest_of"]}
    # The evening notice waits for the next day's digest.
    assert dispatch_digests(engine, settings, renderer, jst(2026, 5, 2, 18, 0, 1)) == 1

"""Text first at creation: a broadcast whose key information is only in a picture is refused
with the reason, through the API, and nothing is stored."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.broadcasts.conftest import notice
from tests.conftest import auth


def test_a_broadcast_only_in_a_picture_is_refused_at_creation_and_nothing_is_stored(
    client: TestClient, tokens: dict[str, str], rows: Any
) -> None:
    template = (
        '{% set card %}{"type": "bubble", "hero": {"type": "image", '
        '"url": "https://www.city.example.lg.jp/poster.png"}}{% endset %}'
        '{{ flex("健康診断のお知らせ", card) }}'
    )
    response = client.post("/api/v1/broadcasts", json=notice(template_text=template),
                           headers=auth(tokens["子育て支援課"]))
    assert response.status_code == 422, response.text
    assert "only in images" in response.text
    assert rows() == []

"""The survey template: the question with five postback quick replies, in every language
residents read it in, checked against LINE's limits like any template."""

from __future__ import annotations

import pytest

from broadcaster.kpis.surveys import choices
from broadcaster.render import Renderer, TemplateError
from broadcaster.settings import Settings
from segments.quick_replies import parse_postback

PARAMETERS = {"title": "配信満足度", "question": "お知らせに満足していますか。",
              "choices": choices(12), "closes_label": "12月8日 18:00"}


@pytest.mark.parametrize("language", ["ja", "easy-ja", "en", "vi"])
def test_the_question_carries_five_postback_quick_replies(
    settings: Settings, language: str
) -> None:
    prepared = Renderer.from_settings(settings).prepare(
        template_name="survey", template_text=None, parameters=PARAMETERS
    )
    [message] = prepared.render({"language": language})
    assert "お知らせに満足していますか。" in message["text"]
    actions = [item["action"] for item in message["quickReply"]["items"]]
    assert [a["label"] for a in actions] == ["1 不満", "2 やや不満", "3 ふつう", "4 やや満足",
                                             "5 満足"]
    assert parse_postback(actions[4]["data"]) == {"action": "survey", "s": "12", "v": "5"}
    assert all(a["type"] == "postback" and a["displayText"] == a["label"] for a in actions)


def test_quick_replies_with_nothing_to_attach_to_are_refused_at_creation(
    settings: Settings,
) -> None:
    with pytest.raises(TemplateError, match="nothing printed before it"):
        Renderer.from_settings(settings).prepare(
            template_name=None,
            template_text='{{ quick_reply([{"label": "はい", "data": "a=1"}]) }}',
            parameters={},
        )
    with pytest.raises(TemplateError, match="at most 13 items"):
        Renderer.from_settings(settings).prepare(
            template_name=None,
            template_text="どれ？{{ quick_reply(items) }}",
            parameters={"items": [{"label": str(n), "text": str(n)} for n in range(14)]},
        )

"""Every shipped template renders, in every language variant, with realistic parameters."""

from __future__ import annotations

import itertools

import pytest
from linebot.v3.messaging import Message

from broadcaster.render import TEMPLATES_DIR, Renderer
from broadcaster.settings import Settings
from tests.render.conftest import EXAMPLES


def test_every_shipped_template_has_an_example() -> None:
    shipped = Renderer(TEMPLATES_DIR, ["ja"]).templates()
    assert set(shipped) == set(EXAMPLES)


def test_evacuation_speaks_every_configured_language(
    renderer: Renderer, settings: Settings
) -> None:
    for name in ("evacuation", "evacuation_lifted"):
        assert set(renderer.templates()[name]) == set(settings.residents.languages)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_shipped_template_renders_for_every_variant(
    renderer: Renderer, settings: Settings, name: str
) -> None:
    prepared = renderer.prepare(template_name=name, template_text=None, parameters=EXAMPLES[name])
    texts = set()
    for language, district in itertools.product(settings.residents.languages, ("中央", "山間")):
        resident = {"language": language, "district": district, "garbage_zone": "A",
                    "reminder_timing": "eve"}
        messages = prepared.render(resident)
        assert 1 <= len(messages) <= 5
        for message in messages:
            Message.from_dict(message)
        first = messages[0]["text"]
        assert "None" not in first and "{" not in first
        if prepared.variant_language(language) == language:
            texts.add(first)
    # Each variant says something of its own.
    own = [lang for lang in settings.residents.languages if lang in prepared.languages]
    assert len(texts) >= len(own)


@pytest.mark.parametrize("level", [3, 4, 5])
def test_each_alert_level_has_its_own_wording(renderer: Renderer, level: int) -> None:
    prepared = renderer.prepare(
        template_name="evacuation",
        template_text=None,
        parameters={**EXAMPLES["evacuation"], "level": level, "drill": True},
    )
    text = prepared.render({"language": "ja", "district": "北"})[0]["text"]
    title = {3: "高齢者等避難", 4: "避難指示", 5: "緊急安全確保"}[level]
    assert text.startswith("【訓練】これは訓練です。実際の避難は必要ありません。\n")
    assert f"【警戒レベル{level}】{title}\n" in text


def test_unknown_alert_level_is_refused(renderer: Renderer) -> None:
    with pytest.raises(Exception, match="evacuation"):
        renderer.prepare(
            template_name="evacuation", template_text=None,
            parameters={**EXAMPLES["evacuation"], "level": 7},
        )

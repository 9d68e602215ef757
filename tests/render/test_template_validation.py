"""Templates are refused when a broadcast is created, with the name and line of the problem."""

from __future__ import annotations

import pytest

from broadcaster.render import Renderer, TemplateError


def refuse(renderer: Renderer, text: str, **parameters: object) -> str:
    with pytest.raises(TemplateError) as caught:
        renderer.prepare(template_name=None, template_text=text, parameters=parameters)
    return str(caught.value)


def test_undefined_variable_is_refused_with_name_and_line(small_renderer: Renderer) -> None:
    message = refuse(small_renderer, "{{ title }}\n\n会場: {{ venue }}", title="まつり")
    assert message == (
        "template text, line 3: 'venue' is neither a broadcast parameter nor a resident field"
    )


def test_undefined_variable_in_a_shipped_template_names_the_file(renderer: Renderer) -> None:
    with pytest.raises(TemplateError, match=r"template 'event.ja.j2', line 3: 'venue' is neither"):
        renderer.prepare(
            template_name="event",
            template_text=None,
            parameters={"title": "t", "event_date": "2026-05-03", "time": "10:00",
                        "description": "d", "venue_location": None},
        )


def test_unknown_resident_field_is_refused(small_renderer: Renderer) -> None:
    message = refuse(small_renderer, "こんにちは\n{{ resident.age_bracket }}")
    assert message.startswith("template text, line 2: resident.age_bracket is not a resident field")


def test_personal_columns_are_not_resident_fields(small_renderer: Renderer) -> None:
    assert "line_user_id is not a resident field" in refuse(
        small_renderer, "{{ resident.line_user_id }}"
    )


@pytest.mark.parametrize(
    "text",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''['__class__'] }}",
        "{{ cycler.__init__.__globals__ }}",
        "{% set x = kinds.append(1) %}{{ kinds }}",
    ],
)
def test_sandbox_escape_attempts_are_refused(small_renderer: Renderer, text: str) -> None:
    message = refuse(small_renderer, text, kinds=["燃やすごみ"])
    assert message.startswith("template text, line 1:")
    assert "not allowed" in message or "unsafe" in message


def test_syntax_error_names_the_line(small_renderer: Renderer) -> None:
    message = refuse(small_renderer, "一行目\n{% if title %}\n{{ title }}", title="x")
    assert message.startswith("template text, line 3: syntax error:")


def test_runtime_error_names_the_line(small_renderer: Renderer) -> None:
    shelters = {"中央": {"name": "公民館"}}
    message = refuse(small_renderer, "a\n{{ shelters[resident.district].name }}", shelters=shelters)
    assert message.startswith("template text, line 2:")
    assert "district=北" in message  # the trial value that failed


def test_unknown_template_lists_available_names(renderer: Renderer) -> None:
    with pytest.raises(TemplateError) as caught:
        renderer.prepare(template_name="evacuaton", template_text=None, parameters={})
    assert "unknown template 'evacuaton'" in str(caught.value)
    assert "evacuation, evacuation_lifted, event" in str(caught.value)


def test_exactly_one_of_name_and_text(renderer: Renderer) -> None:
    with pytest.raises(TemplateError, match="exactly one"):
        renderer.prepare(template_name="event", template_text="x", parameters={})
    with pytest.raises(TemplateError, match="exactly one"):
        renderer.prepare(template_name=None, template_text=None, parameters={})


def test_reserved_parameter_names_are_refused(small_renderer: Renderer) -> None:
    assert "parameter 'location' is reserved" in refuse(small_renderer, "x", location="公園")
    assert "parameter 'resident' is reserved" in refuse(small_renderer, "x", resident={})


def test_a_template_over_limits_is_refused_at_creation(small_renderer: Renderer) -> None:
    message = refuse(small_renderer, "{{ body }}", body="あ" * 5001)
    assert "template text: messages[0].text: 5,001 UTF-16 units, LINE allows 5,000" in message


def test_a_template_printing_nothing_is_refused(small_renderer: Renderer) -> None:
    assert "nothing to send" in refuse(small_renderer, "{% if false %}x{% endif %}")

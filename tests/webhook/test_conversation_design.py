"""The conversation's pure functions: pagination, postback size, forged values."""

from __future__ import annotations

from segments import enrollment
from segments.choices import Choices, Options, Outcome
from segments.questions import Step

MANY = Options(
    districts=tuple(f"第{n}地区" for n in range(1, 31)),
    zones=("A",),
    interests=tuple(f"関心{n}" for n in range(1, 16)),
    languages=("ja", "en"),
)


def labels(outcome: Outcome) -> list[str]:
    return [i["action"]["label"] for i in outcome.messages[-1]["quickReply"]["items"]]


def test_long_lists_are_paged_with_next_and_never_exceed_13_buttons() -> None:
    seen: list[str] = []
    outcome = enrollment.start(Choices(), MANY)
    for _ in range(3):
        shown = labels(outcome)
        assert len(shown) <= 13 and shown[-1] == "次へ"
        seen += shown[:-1]
        data = outcome.messages[-1]["quickReply"]["items"][-1]["action"]["data"]
        outcome = enrollment.handle_postback(Choices(step="district"), MANY, data)  # type: ignore[assignment]
    assert seen == list(MANY.districts)
    assert labels(outcome)[0] == "第1地区"  # the last page's 「次へ」 wraps around


def test_interest_pages_keep_the_done_button() -> None:
    outcome = enrollment.handle_postback(Choices(step="zone"), MANY, "set=reminder&v=off")
    assert outcome is not None and outcome.changes == {
        "reminder_timing": "off", "enrollment_step": Step.interests.value}
    shown = labels(outcome)
    assert len(shown) == 13 and shown[-2:] == ["次へ", "完了"]


def test_every_postback_fits_lines_300_character_limit() -> None:
    long_name = "長" * 40
    options = Options(districts=(long_name,), zones=("A",), interests=("子育て",),
                      languages=("ja",))
    outcome = enrollment.start(Choices(), options)
    [item] = outcome.messages[-1]["quickReply"]["items"]
    assert len(item["action"]["label"]) == 20 and item["action"]["displayText"] == long_name
    assert len(item["action"]["data"]) <= 300
    chosen = enrollment.handle_postback(Choices(step="district"), options, item["action"]["data"])
    assert chosen is not None and chosen.changes["district"] == long_name


def test_forged_values_change_nothing() -> None:
    choices = Choices(district="北", step="zone")
    for data in ("set=zone&v=Z", "set=district", "set=interest&v=カジノ", "set=bogus&v=1",
                 "set=zone&page=x", "", "%%%"):
        outcome = enrollment.handle_postback(choices, MANY, data)
        assert outcome is not None and outcome.changes == {} and outcome.interests is None
        assert "申し訳ありません" in outcome.messages[0]["text"]

"""Taking survey answers: residents' postbacks and free text in LINE, staff's one-time links.

One answer per respondent per survey: a second tap before the close replaces the first
(a change of mind), a tap after the close is refused politely and changes nothing. After a
score, a survey with a follow-up question asks it, and the resident's next text message
(that is no command) is kept as the comment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from broadcaster.clock import as_utc
from broadcaster.kpis.models import Survey, SurveyAnswer, SurveyAudience, SurveyToken
from broadcaster.kpis.surveys import POSTBACK_ACTION, SCALE, SCALE_LABELS, is_open
from broadcaster.webhook_commands import POSTBACK_FIELD_COMMANDS, TEXT_FALLBACKS
from segments.residents import Resident

MAX_COMMENT = 1000
CLOSED_TEXT = "このアンケートの受付は終了しました。ご協力ありがとうございました。"
NOT_FOUND_TEXT = "申し訳ありません。このアンケートは見つかりませんでした。"
INVALID_TEXT = "申し訳ありません。その回答は受け付けられませんでした。ボタンから選んでください。"
COMMENT_TEXT = "ご意見ありがとうございました。今後の配信の参考にします。"


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def answer_postback(
    session: Session, resident: Resident, fields: dict[str, str], now: datetime
) -> list[dict[str, Any]]:
    """`action=survey&s=<survey id>&v=<score>`: record, replace or refuse the answer."""
    survey_id, score = fields.get("s", ""), fields.get("v", "")
    if not survey_id.isdigit():
        return [_text(NOT_FOUND_TEXT)]
    survey = session.get(Survey, int(survey_id))
    if survey is None or survey.audience != SurveyAudience.residents:
        return [_text(NOT_FOUND_TEXT)]
    if not score.isdigit() or int(score) not in SCALE:
        return [_text(INVALID_TEXT)]
    if as_utc(survey.closes_at) <= now:
        return [_text(CLOSED_TEXT)]
    if not is_open(survey, now):
        return [_text(NOT_FOUND_TEXT)]
    session.flush()
    assert resident.id is not None
    answer = session.exec(
        select(SurveyAnswer).where(
            SurveyAnswer.survey_id == survey.id, SurveyAnswer.resident_id == resident.id
        )
    ).first()
    label = SCALE_LABELS[int(score)]
    if answer is None:
        assert survey.id is not None
        answer = SurveyAnswer(
            survey_id=survey.id,
            resident_id=resident.id,
            score=int(score),
            district=resident.district,
            answered_at=now,
        )
        reply = f"ご回答ありがとうございました（{label}）。"
    else:
        answer.score = int(score)
        answer.district = resident.district
        answer.answered_at = now
        answer.changed += 1
        reply = f"回答を「{label}」に変更しました。"
    messages = [_text(reply)]
    if survey.followup:
        answer.awaiting_comment = True
        messages.append(_text(survey.followup))
    session.add(answer)
    return messages


def take_comment(
    session: Session, resident: Resident, text: str, now: datetime
) -> list[dict[str, Any]]:
    """The free-text follow-up: kept on the resident's latest answer that asked for one,
    if its survey is still open. [] (not taken) otherwise."""
    if resident.id is None or not text:
        return []
    row = session.exec(
        select(SurveyAnswer, Survey)
        .join(Survey, col(Survey.id) == col(SurveyAnswer.survey_id))
        .where(SurveyAnswer.resident_id == resident.id, col(SurveyAnswer.awaiting_comment))
        .order_by(col(SurveyAnswer.answered_at).desc())
    ).first()
    if row is None:
        return []
    answer, survey = row
    answer.awaiting_comment = False
    session.add(answer)
    if not is_open(survey, now):
        return []
    answer.comment = text[:MAX_COMMENT]
    return [_text(COMMENT_TEXT)]


class StaffAnswerRefused(ValueError):
    """The one-time link cannot take an answer; the message is for the staff member."""


def answer_with_token(
    session: Session, token: SurveyToken, score: int, comment: str | None, now: datetime
) -> SurveyAnswer:
    """Record a staff answer once per link. Raises StaffAnswerRefused (used, closed, or a
    score out of range); nothing is written then."""
    survey = session.get(Survey, token.survey_id)
    if survey is None:
        raise StaffAnswerRefused("このアンケートは見つかりませんでした。")
    if token.used_at is not None:
        raise StaffAnswerRefused("このリンクはすでに回答に使われています。")
    if not is_open(survey, now):
        raise StaffAnswerRefused(CLOSED_TEXT)
    if score not in SCALE:
        raise StaffAnswerRefused("1から5のいずれかを選んでください。")
    assert token.id is not None
    token.used_at = now
    answer = SurveyAnswer(
        survey_id=token.survey_id,
        token_id=token.id,
        score=score,
        comment=(comment or "").strip()[:MAX_COMMENT] or None,
        answered_at=now,
    )
    session.add(token)
    session.add(answer)
    session.flush()
    return answer


def register() -> None:
    """Take survey postbacks and comments in the webhook (called once by the API package)."""
    POSTBACK_FIELD_COMMANDS[POSTBACK_ACTION] = answer_postback
    # First of the fallbacks (before the sorting dictionary): text a resident sends after
    # answering a survey is their comment.
    others = {k: v for k, v in TEXT_FALLBACKS.items() if k != "kpis.survey_comment"}
    TEXT_FALLBACKS.clear()
    TEXT_FALLBACKS["kpis.survey_comment"] = take_comment
    TEXT_FALLBACKS.update(others)

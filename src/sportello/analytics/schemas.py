"""Report payloads. Every list of rows is also a table of the report's CSV export."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, Field


class Period(BaseModel):
    start: date = Field(description="First local day of the range (business time zone).")
    end: date = Field(description="Last local day of the range, included.")
    timezone: str
    channel: str | None = None
    language: str | None = None
    priority: str | None = None
    operator_id: uuid.UUID | None = None


class Durations(BaseModel):
    """Seconds; percentiles by nearest rank. None when there is nothing to measure."""

    count: int = 0
    average: float | None = None
    p50: float | None = None
    p90: float | None = None
    max: float | None = None


class OutcomeDay(BaseModel):
    day: date
    assistant: int = 0
    operator: int = 0
    ticket: int = 0
    abandoned: int = 0
    in_queue: int = 0


class OutcomeCount(BaseModel):
    outcome: str
    conversations: int
    share: float | None


class OutcomesReport(BaseModel):
    period: Period
    total: int
    containment_rate: float | None = Field(
        description="Conversations the assistant handled alone / all."
    )
    outcomes: list[OutcomeCount]
    days: list[OutcomeDay]


class TopicCount(BaseModel):
    topic_id: str | None
    title: str | None
    answers: int


class MissedQuestion(BaseModel):
    asked_at: str
    language: str
    candidate_topic_id: str | None
    confidence: float | None
    question: str


class AssistantReport(BaseModel):
    period: Period
    conversations: int
    containment_rate: float | None
    questions: int
    answered: int
    missed: int
    answer_rate: float | None
    top_answered: list[TopicCount]
    top_missed: list[TopicCount] = Field(
        description="By the topic it was unsure about (candidate)."
    )
    missed_questions: list[MissedQuestion] = Field(
        description="Latest questions it was not sure about."
    )


class WaitBucket(BaseModel):
    bucket: str
    entries: int


class QueueReport(BaseModel):
    period: Period
    entries: int
    served: int
    abandoned: int
    left_contact: int
    waiting: int
    abandonment_rate: float | None
    wait: Durations = Field(description="Enqueue to assignment, served entries.")
    wait_before_abandoning: Durations
    wait_histogram: list[WaitBucket]


class ResponseTimesReport(BaseModel):
    period: Period
    chat_first_response: Durations = Field(description="Enqueue to the operator's first message.")
    ticket_first_response: Durations = Field(
        description="Ticket opened to first response (wall clock)."
    )
    ticket_resolution: Durations = Field(description="Ticket opened to resolved (wall clock).")


class SlaPriority(BaseModel):
    priority: str
    tickets: int
    first_response_met: int
    first_response_breached: int
    first_response_compliance: float | None
    resolution_met: int
    resolution_breached: int
    resolution_compliance: float | None


class SlaTier(BaseModel):
    tier: int
    tickets: int
    breaches: int


class SlaReport(BaseModel):
    period: Period
    priorities: list[SlaPriority]
    tiers: list[SlaTier]


class OperatorRow(BaseModel):
    operator_id: uuid.UUID
    name: str
    chats: int
    handle_average_seconds: float | None
    first_response_average_seconds: float | None
    ratings: int
    rating_average: float | None
    tickets_resolved: int
    ticket_first_response_average_seconds: float | None


class OperatorsReport(BaseModel):
    period: Period
    operators: list[OperatorRow]


class RatingCount(BaseModel):
    rating: int
    conversations: int


class RatingComment(BaseModel):
    conversation_id: uuid.UUID
    day: date
    rating: int
    language: str
    operator_id: uuid.UUID | None
    comment: str


class SatisfactionReport(BaseModel):
    period: Period
    rated: int
    operator_chats: int
    response_rate: float | None
    average: float | None
    distribution: list[RatingCount]
    comments: list[RatingComment]


class ChannelRow(BaseModel):
    channel: str
    total: int
    delivered: int
    failed: int
    dead: int
    pending: int
    delivery_rate: float | None


class LinkRow(BaseModel):
    purpose: str
    sent: int
    opened: int
    open_rate: float | None


class ChannelsReport(BaseModel):
    period: Period
    channels: list[ChannelRow]
    links: list[LinkRow]


class VolumeDay(BaseModel):
    day: date
    conversations: int


class HeatCell(BaseModel):
    weekday: int = Field(description="0 Monday … 6 Sunday, local.")
    hour: int = Field(description="Local hour 0–23.")
    conversations: int


class VolumeReport(BaseModel):
    period: Period
    total: int
    days: list[VolumeDay]
    heatmap: list[HeatCell] = Field(description="All 7×24 cells, zeros included.")

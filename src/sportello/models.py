"""Every mapped table, imported in one place for Alembic and metadata-wide operations."""

from sportello.analytics.models import AnalyticsState, AssistantAnswer, ConversationFact
from sportello.assistant.models import KBTopic
from sportello.audit import AuditEvent
from sportello.conversations.models import Conversation, Message
from sportello.db import Base
from sportello.notifications.models import (
    ConversationLink,
    InboundMessage,
    NotificationPreference,
    NotificationRecipient,
    OutboxMessage,
    PushSubscription,
)
from sportello.operators.models import LoginFailure, Operator, OperatorConnection, OperatorSession
from sportello.queue.models import CannedReply, ConversationNote, QueueEntry
from sportello.tickets.models import (
    ContactRequest,
    Ticket,
    TicketCounter,
    TicketNote,
    VipCustomer,
)

__all__ = [
    "AnalyticsState",
    "AssistantAnswer",
    "AuditEvent",
    "Base",
    "CannedReply",
    "ContactRequest",
    "Conversation",
    "ConversationFact",
    "ConversationLink",
    "ConversationNote",
    "InboundMessage",
    "KBTopic",
    "LoginFailure",
    "Message",
    "NotificationPreference",
    "NotificationRecipient",
    "Operator",
    "OperatorConnection",
    "OperatorSession",
    "OutboxMessage",
    "PushSubscription",
    "QueueEntry",
    "Ticket",
    "TicketCounter",
    "TicketNote",
    "VipCustomer",
]

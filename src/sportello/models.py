"""Every mapped table, imported in one place for Alembic and metadata-wide operations."""

from sportello.assistant.models import KBTopic
from sportello.audit import AuditEvent
from sportello.conversations.models import Conversation, Message
from sportello.db import Base

__all__ = ["AuditEvent", "Base", "Conversation", "KBTopic", "Message"]

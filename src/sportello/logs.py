"""Structured JSON logs that never carry message bodies, emails, phone numbers or tokens."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w/-])\+?\d[\d ().-]{7,}\d")
TOKEN_PARAM = re.compile(r"(?i)((?:token|sportello_token|signature|password|secret)=)[^&\s\"']+")
BEARER = re.compile(r"(?i)(bearer\s+)[\w.~+/=-]+")
UUID_PATH_TOKEN = re.compile(r"(/r/)[\w.-]{20,}")

# Attributes of a record that are the logging machinery's own, not extra fields.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "color_message"}
# Extra fields that could carry personal data are dropped, whatever the caller passed.
_FORBIDDEN_KEYS = {"body", "text", "email", "phone", "token", "password", "content", "question"}


def scrub(text: str) -> str:
    """Remove emails, phone numbers and secrets from free text."""
    text = TOKEN_PARAM.sub(r"\1[redacted]", text)
    text = BEARER.sub(r"\1[redacted]", text)
    text = UUID_PATH_TOKEN.sub(r"\1[redacted]", text)
    text = EMAIL.sub("[email]", text)
    return PHONE.sub("[phone]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key in _RESERVED or key.startswith("_") or key in _FORBIDDEN_KEYS:
                continue
            entry[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


QUIET_LIBRARIES = (
    "aiosqlite", "sqlalchemy", "asyncpg", "websockets", "httpx", "httpcore", "redis",
    "aiosmtplib", "twilio", "urllib3", "multipart", "python_multipart",
)


def log_config(level: str = "info") -> dict[str, Any]:
    """A dictConfig for the app and uvicorn: JSON on standard error."""
    lvl = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": handler},
        "loggers": {
            "": {"handlers": ["default"], "level": lvl},
            "uvicorn": {"handlers": [], "level": lvl, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": lvl, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": lvl, "propagate": True},
            # Libraries that print statement parameters or frames at debug level stay at warning,
            # whatever the app's level: their debug output would carry message bodies.
            **{name: {"level": "WARNING"} for name in QUIET_LIBRARIES},
        },
    }

"""Notification texts from the Jinja2 templates in templates/{it,en}/, one set per kind."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, TemplateNotFound, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("it", "en")
CUSTOMER_KINDS = ("ticket.opened", "ticket.replied", "ticket.waiting_user", "ticket.resolved")
OPERATOR_KINDS = (
    "chat.waiting",
    "chat.unattended",
    "chat.offered",
    "chat.assigned",
    "chat.unanswered",
    "ticket.assigned",
    "ticket.customer_replied",
    "sla.warning",
    "sla.breached",
    "ticket.escalated",
)
MESSAGE_KIND = "message"  # free text: payload carries `subject` and `text`
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    short: str


@lru_cache(maxsize=2)
def _env(lang: str) -> Environment:
    return Environment(
        loader=FileSystemLoader([TEMPLATES / lang, TEMPLATES]),
        autoescape=select_autoescape(["html"]),
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def one_line(text: str, limit: int = 200) -> str:
    """Whitespace (CR and LF included) collapsed to single spaces: safe as a header value."""
    return _SPACE.sub(" ", text).strip()[:limit]


def _stem(kind: str) -> str:
    if kind == MESSAGE_KIND:
        return "_message"
    return kind.replace(".", "_")


def render(kind: str, lang: str, context: dict[str, Any]) -> Rendered:
    """Subject, text and HTML bodies and a short text (SMS, push, Slack) for `kind`."""
    lang = lang if lang in LANGUAGES else LANGUAGES[0]
    env = _env(lang)
    ctx = {**context, "lang": lang}
    stem = _stem(kind)
    short = env.get_template(f"{stem}.short.txt").render(ctx).strip()
    try:
        env.get_template(f"{stem}.subject.txt")
        email_stem = stem
    except TemplateNotFound:
        email_stem = "_operator"
    ctx["short"] = short
    subject = one_line(env.get_template(f"{email_stem}.subject.txt").render(ctx))
    ctx["title"] = subject
    text = env.get_template(f"{email_stem}.txt").render(ctx).strip() + "\n"
    html = env.get_template(f"{email_stem}.html").render(ctx)
    return Rendered(subject=subject, text=text, html=html, short=short)

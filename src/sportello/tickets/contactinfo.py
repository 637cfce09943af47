"""Checking the contact details a customer gives, with a sentence in Italian or English when wrong.

Emails are checked with `email-validator` (syntax only: no network), phone numbers with
`phonenumbers` (default region IT, stored as E.164). Callback slots must fall inside business
hours, in the future and within the configured horizon.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from sportello.calendar.hours import BusinessCalendar


class ContactError(ValueError):
    """A contact detail the customer must correct; `str()` is the sentence to show them."""


def _it(lang: str) -> bool:
    return lang.lower().startswith("it")


def _say(lang: str, it: str, en: str) -> str:
    return it if _it(lang) else en


def check_email(text: str, lang: str = "it") -> str:
    """The normalised address, or ContactError saying what is wrong with it."""
    value = text.strip()
    if not value:
        raise ContactError(_say(lang, "Scrivi un indirizzo email.", "Please type an email address."))
    if len(value) > 254:
        raise ContactError(
            _say(lang, "Questo indirizzo email è troppo lungo.", "This email address is too long.")
        )
    if value.count("@") != 1:
        raise ContactError(
            _say(
                lang,
                f"«{value}» non è un indirizzo email: deve contenere una sola chiocciola (@), "
                "per esempio nome@esempio.it.",
                f"“{value}” is not an email address: it needs exactly one @, "
                "for example name@example.com.",
            )
        )
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ContactError(_explain_email(value, str(exc), lang)) from None
    return str(result.normalized)


def _explain_email(value: str, reason: str, lang: str) -> str:
    local, _, domain = value.partition("@")
    if not local:
        return _say(
            lang,
            "Manca la parte prima della @ (il tuo nome utente).",
            "The part before the @ (your user name) is missing.",
        )
    if not domain:
        return _say(
            lang,
            "Manca il dominio dopo la @, per esempio gmail.com.",
            "The domain after the @ is missing, for example gmail.com.",
        )
    if "period" in reason and "row" not in reason:
        return _say(
            lang,
            f"Il dominio «{domain}» è incompleto: dovrebbe avere un punto, per esempio {domain}.it.",
            f"The domain “{domain}” is incomplete: it should have a dot, for example {domain}.com.",
        )
    if "row" in reason or "period" in reason:
        return _say(
            lang,
            "L'indirizzo ha un punto fuori posto (due punti di seguito, o all'inizio o alla fine).",
            "The address has a misplaced dot (two in a row, or at the start or end).",
        )
    if "invalid characters" in reason or "SPACE" in reason:
        return _say(
            lang,
            "L'indirizzo contiene caratteri non ammessi, per esempio spazi o virgole.",
            "The address contains characters that are not allowed, such as spaces or commas.",
        )
    return _say(
        lang,
        f"«{value}» non sembra un indirizzo email valido.",
        f"“{value}” does not look like a valid email address.",
    )


def check_phone(text: str, lang: str = "it", *, mobile: bool = False, region: str = "IT") -> str:
    """The number in E.164, or ContactError; `mobile` rejects landlines (for SMS and WhatsApp)."""
    value = text.strip()
    if not value:
        raise ContactError(
            _say(lang, "Scrivi un numero di telefono.", "Please type a phone number.")
        )
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ContactError(_explain_parse(value, exc.error_type, lang)) from None
    if not phonenumbers.is_possible_number(number):
        reason = phonenumbers.is_possible_number_with_reason(number)
        if reason == phonenumbers.ValidationResult.TOO_SHORT:
            raise ContactError(
                _say(
                    lang,
                    f"Il numero «{value}» è troppo corto: controlla di averlo scritto tutto.",
                    f"The number “{value}” is too short: check that you typed all of it.",
                )
            )
        if reason == phonenumbers.ValidationResult.TOO_LONG:
            raise ContactError(
                _say(
                    lang,
                    f"Il numero «{value}» ha troppe cifre.",
                    f"The number “{value}” has too many digits.",
                )
            )
    if not phonenumbers.is_valid_number(number):
        raise ContactError(
            _say(
                lang,
                f"«{value}» non è un numero di telefono valido. Per un numero estero inizia con "
                "il prefisso internazionale, per esempio +44.",
                f"“{value}” is not a valid phone number. For a number outside Italy start with "
                "the country code, for example +44.",
            )
        )
    if mobile and phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.FIXED_LINE:
        raise ContactError(
            _say(
                lang,
                f"«{value}» sembra un numero fisso: per SMS e WhatsApp serve un cellulare.",
                f"“{value}” looks like a landline: SMS and WhatsApp need a mobile number.",
            )
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _explain_parse(value: str, error_type: int, lang: str) -> str:
    if error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        return _say(
            lang,
            f"Il prefisso internazionale di «{value}» non esiste.",
            f"The country code of “{value}” does not exist.",
        )
    if error_type in (
        phonenumbers.NumberParseException.TOO_SHORT_NSN,
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD,
    ):
        return _say(
            lang,
            f"Il numero «{value}» è troppo corto.",
            f"The number “{value}” is too short.",
        )
    if error_type == phonenumbers.NumberParseException.TOO_LONG:
        return _say(
            lang, f"Il numero «{value}» è troppo lungo.", f"The number “{value}” is too long."
        )
    return _say(
        lang,
        f"«{value}» non sembra un numero di telefono: scrivi solo cifre, con + e prefisso "
        "se è estero.",
        f"“{value}” does not look like a phone number: use digits only, with + and the "
        "country code if it is not Italian.",
    )


def check_callback_slot(
    slot: datetime,
    calendar: BusinessCalendar,
    now: datetime,
    lang: str = "it",
    *,
    horizon_days: int = 14,
) -> datetime:
    """`slot` if it is an aware future moment inside business hours and the horizon."""
    if slot.tzinfo is None or slot.utcoffset() is None:
        raise ContactError(
            _say(
                lang,
                "Indica l'orario con il fuso orario (per esempio 2025-12-01T10:00:00+01:00).",
                "Give the time with its time zone (for example 2025-12-01T10:00:00+01:00).",
            )
        )
    if slot <= now:
        raise ContactError(
            _say(lang, "Questo orario è già passato.", "That time has already passed.")
        )
    if slot > now + timedelta(days=horizon_days):
        raise ContactError(
            _say(
                lang,
                f"Possiamo fissare una chiamata al massimo entro {horizon_days} giorni.",
                f"We can schedule a call at most {horizon_days} days ahead.",
            )
        )
    if not calendar.is_open(slot):
        opening = calendar.next_opening(slot)
        hint = (
            " " + _say(lang, "Il primo orario utile è ", "The first available time is ")
            + calendar.describe_moment(opening, lang, now=now)
            + "."
            if opening is not None
            else ""
        )
        raise ContactError(
            _say(
                lang,
                f"A quell'ora ({calendar.describe_moment(slot, lang, now=now)}) siamo chiusi.",
                f"We are closed at that time ({calendar.describe_moment(slot, lang, now=now)}).",
            )
            + hint
        )
    return slot

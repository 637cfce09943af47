"""What Sportello tells visitors during a handoff, in Italian and English."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "closed": {
        "it": "Al momento il servizio clienti è chiuso. {reopen} Lasciaci un contatto e ti risponderemo appena possibile.",
        "en": "Our support team is closed right now. {reopen} Leave us a contact and we will get back to you as soon as we can.",
    },
    "nobody": {
        "it": "In questo momento non ci sono operatori disponibili. Lasciaci un contatto e ti risponderemo appena possibile.",
        "en": "No operator is available right now. Leave us a contact and we will get back to you as soon as we can.",
    },
    "queued": {
        "it": "Ti metto in contatto con un operatore. Sei {position}° in coda; attesa stimata: {wait}.",
        "en": "I am connecting you to an operator. You are number {position} in the queue; estimated wait: {wait}.",
    },
    "queued_no_estimate": {
        "it": "Ti metto in contatto con un operatore. Sei {position}° in coda.",
        "en": "I am connecting you to an operator. You are number {position} in the queue.",
    },
    "wait_timeout": {
        "it": "Ci scusiamo per l'attesa. Vuoi continuare ad aspettare o preferisci lasciarci un contatto per essere ricontattato?",
        "en": "Sorry for the wait. Would you like to keep waiting, or leave a contact so that we get back to you?",
    },
    "joined": {
        "it": "{name} si è unito alla conversazione.",
        "en": "{name} has joined the conversation.",
    },
    "transferred": {
        "it": "Ti sto trasferendo a un collega, resta in linea.",
        "en": "I am transferring you to a colleague, please stay with us.",
    },
    "ended": {
        "it": "La chat è terminata. Come valuti l'assistenza ricevuta, da 1 a 5?",
        "en": "The chat has ended. How would you rate the help you received, from 1 to 5?",
    },
    "inactive": {
        "it": "Chiudiamo la conversazione perché non abbiamo tue notizie da un po'. Scrivici quando vuoi.",
        "en": "We are closing this conversation because we have not heard from you for a while. Write to us any time.",
    },
    "left_queue": {
        "it": "Sei uscito dalla coda.",
        "en": "You have left the queue.",
    },
    "gone_from_queue": {
        "it": "Ti abbiamo tolto dalla coda perché la chat è rimasta chiusa per un po'. Se vuoi ancora parlare con un operatore, chiedilo di nuovo.",
        "en": "We took you out of the queue because the chat stayed closed for a while. If you still want to talk to an operator, just ask again.",
    },
    "leave_contact": {
        "it": "Va bene: lasciaci un contatto e ti risponderemo appena possibile.",
        "en": "All right: leave us a contact and we will get back to you as soon as we can.",
    },
}


def text(key: str, lang: str, **values: object) -> str:
    table = TEXTS[key]
    template = table["it"] if lang.lower().startswith("it") else table["en"]
    return template.format(**values)


def describe_wait(seconds: int | None, lang: str) -> str:
    italian = lang.lower().startswith("it")
    if seconds is None:
        return "non disponibile" if italian else "not available"
    if seconds < 60:
        return "meno di un minuto" if italian else "less than a minute"
    minutes = round(seconds / 60)
    if italian:
        return "circa 1 minuto" if minutes == 1 else f"circa {minutes} minuti"
    return "about 1 minute" if minutes == 1 else f"about {minutes} minutes"

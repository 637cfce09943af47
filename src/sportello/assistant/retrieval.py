"""Local topic retrieval: BM25 over stemmed words with typo tolerance, character n-gram similarity
to the sample questions, and (optionally) an embedding similarity; a calibrated confidence on top."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .kb import Topic
from .text import (
    STOPWORDS,
    asked_sentences,
    char_ngrams,
    content_tokens,
    deletes,
    edit_distance_at_most_one,
    expand_shorthand,
    inner_capitalised,
    normalise,
    split_sentences,
    stem,
)

# Field weights: sample questions say how visitors ask, titles name the topic, answers add vocabulary.
W_QUESTION = 1.0
W_TITLE = 1.5
W_ANSWER = 0.35
K1 = 1.2
B = 0.5
FUZZY_WEIGHT = 0.8
W_LEXICAL = 0.6
W_CHARS = 0.4
W_SEM_QUESTION = 1.0
W_SEM_ANSWER = 1.0
W_SEM_SENTENCE = 0.5
W_SEM_TOPIC = 0.5
SEM_FLOOR = 0.8
# Confidence: a logistic of the top score plus MARGIN_* times its lead over the runner-up, centred
# on CENTRE_*. With embeddings the lead says little: two topics on neighbouring subjects (opening
# hours and event dates) both match a right question's meaning, and an off-topic question that
# shares one distinctive word with a single topic gets a large lead. Tuned together with the
# threshold on half the questions, a weight of 0 for the lead won on every one of 50 random halves
# (docs/assistant.md); the centre moves down with the term it no longer adds.
CENTRE_SEMANTIC = 0.9
MARGIN_SEMANTIC = 0.0
CENTRE_LEXICAL = 0.35
MARGIN_LEXICAL = 0.5
CHAR_CANDIDATES = 40
# A name the knowledge base never mentions ("Trento", "Zara") says the question is about some
# other place, shop or product, however well its other words match: each one lowers the confidence
# as much as this much of blended score (about a third of a typical right answer's lead).
UNKNOWN_NAME_PENALTY = 0.4


@dataclass
class _LangIndex:
    postings: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    idf: dict[str, float] = field(default_factory=dict)
    doc_len: list[float] = field(default_factory=list)
    avg_len: float = 1.0
    words: set[str] = field(default_factory=set)
    deletes: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class _Unit:
    topic: int
    grams: dict[str, float]
    norm: float


@dataclass(frozen=True)
class Scored:
    """One topic's scores for a query."""

    topic_id: str
    score: float
    lexical: float
    chars: float
    semantic: float | None
    coverage: float


@dataclass(frozen=True)
class Ranking:
    """Ranked topics for a query, with the query-level evidence used for the confidence."""

    results: list[Scored]
    known: float  # share of the query's content words (IDF-weighted) that the knowledge base knows
    confidence: float
    unknown_names: int = 0  # capitalised words inside a sentence that no language of the KB knows


@dataclass
class Signals:
    """A query's per-topic evidence, one list entry per topic (the e5 ones are None without embeddings)."""

    lexical: list[float]
    coverage: list[float]
    chars: list[float]
    known: float
    unknown_names: int = 0
    sem_question: list[float] | None = None
    sem_answer: list[float] | None = None
    sem_sentence: list[float] | None = None
    sem_topic: list[float] | None = None


def _average(a: Signals, b: Signals) -> Signals:
    """The mean of two queries' per-topic signals; the query-level evidence stays the first one's."""

    def mean(x: list[float] | None, y: list[float] | None) -> list[float] | None:
        if x is None or y is None:
            return None
        return [(u + v) / 2 for u, v in zip(x, y, strict=True)]

    return Signals(
        [(u + v) / 2 for u, v in zip(a.lexical, b.lexical, strict=True)],
        [max(u, v) for u, v in zip(a.coverage, b.coverage, strict=True)],
        [(u + v) / 2 for u, v in zip(a.chars, b.chars, strict=True)],
        a.known,
        a.unknown_names,
        mean(a.sem_question, b.sem_question),
        mean(a.sem_answer, b.sem_answer),
        mean(a.sem_sentence, b.sem_sentence),
        mean(a.sem_topic, b.sem_topic),
    )


def _above_floor(sim: float) -> float:
    # e5 cosines of unrelated texts sit near 0.75-0.8; only the part above SEM_FLOOR is evidence.
    return max(0.0, (sim - SEM_FLOOR) / (1 - SEM_FLOOR))


def blend(sig: Signals) -> list[float]:
    """One score per topic: a weighted sum of the lexical, character and (when present) e5 signals."""
    out = []
    for i in range(len(sig.lexical)):
        score = W_LEXICAL * sig.lexical[i] + W_CHARS * sig.chars[i]
        if sig.sem_question is not None:
            assert sig.sem_answer is not None and sig.sem_sentence is not None and sig.sem_topic is not None
            score += W_SEM_QUESTION * _above_floor(sig.sem_question[i])
            score += W_SEM_ANSWER * _above_floor(sig.sem_answer[i])
            score += W_SEM_SENTENCE * _above_floor(sig.sem_sentence[i])
            score += W_SEM_TOPIC * _above_floor(sig.sem_topic[i])
        out.append(score)
    return out


class Embedder(Protocol):
    """What retrieval needs from an embedding model (see semantic.E5Embedder)."""

    def encode(self, texts: Sequence[str], is_query: bool) -> Any: ...

    def dot(self, matrix: Any, vector: Any) -> list[float]: ...


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class Retriever:
    """An in-memory index of the topics; build once, query many times (thread-safe for reads)."""

    def __init__(self, topics: Sequence[Topic], embedder: Embedder | None = None) -> None:
        self.topics = list(topics)
        self.langs = sorted({lang for t in self.topics for lang in t.texts})
        self._lang: dict[str, _LangIndex] = {}
        self._units: list[_Unit] = []
        self._units_of: list[list[_Unit]] = []
        self._gram_idf: dict[str, float] = {}
        self._gram_postings: dict[str, list[int]] = {}
        self._embedder = embedder
        self._question_owner: list[int] = []
        self._answer_owner: list[int] = []
        self._sentence_owner: list[int] = []
        self._topic_owner: list[int] = []
        self._topic_matrix: Any = None
        self._question_matrix: Any = None
        self._answer_matrix: Any = None
        self._sentence_matrix: Any = None
        for lang in self.langs:
            self._lang[lang] = self._build_lang(lang)
        self._build_units()
        if embedder is not None:
            self._build_semantic(embedder)

    def _build_lang(self, lang: str) -> _LangIndex:
        index = _LangIndex()
        tfs: list[dict[str, float]] = []
        for topic in self.topics:
            tf: dict[str, float] = {}
            text = topic.texts.get(lang)
            if text is not None:
                fields = [(text.title, W_TITLE), (text.answer, W_ANSWER)]
                fields += [(q, W_QUESTION) for q in text.questions]
                for body, weight in fields:
                    words = content_tokens(normalise(body).split(), lang)
                    index.words.update(words)
                    for w in words:
                        s = stem(w, lang)
                        tf[s] = tf.get(s, 0.0) + weight
            tfs.append(tf)
            index.doc_len.append(sum(tf.values()))
        n = len(self.topics)
        index.avg_len = (sum(index.doc_len) / n) if n else 1.0
        df: dict[str, int] = {}
        for doc, tf in enumerate(tfs):
            dl = index.doc_len[doc] / index.avg_len if index.avg_len else 1.0
            for s, weight in tf.items():
                df[s] = df.get(s, 0) + 1
                # The BM25 term-frequency part is fixed per posting, so it is computed once here.
                index.postings.setdefault(s, []).append((doc, weight * (K1 + 1) / (weight + K1 * (1 - B + B * dl))))
        index.idf = {s: math.log(1 + (n - d + 0.5) / (d + 0.5)) for s, d in df.items()}
        for word in index.words:
            if len(word) >= 4:
                for key in deletes(word):
                    index.deletes.setdefault(key, set()).add(word)
        return index

    def _build_units(self) -> None:
        df: dict[str, int] = {}
        raw: list[tuple[int, dict[str, int]]] = []
        for i, topic in enumerate(self.topics):
            for lang, text in topic.texts.items():
                for body in (text.title, *text.questions):
                    grams = char_ngrams(" ".join(content_tokens(normalise(body).split(), lang)))
                    raw.append((i, grams))
                    for g in grams:
                        df[g] = df.get(g, 0) + 1
        n = max(len(raw), 1)
        self._gram_idf = {g: math.log((1 + n) / (1 + d)) + 1.0 for g, d in df.items()}
        self._units_of = [[] for _ in self.topics]
        for i, grams in raw:
            vec = {g: (1 + math.log(c)) * self._gram_idf[g] for g, c in grams.items()}
            norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
            unit = _Unit(i, vec, norm)
            self._units.append(unit)
            self._units_of[i].append(unit)

    def _build_semantic(self, embedder: Embedder) -> None:
        questions: list[str] = []
        answers: list[str] = []
        sentences: list[str] = []
        documents: list[str] = []
        # Every language's texts are indexed: the multilingual model matches a query across languages.
        for i, topic in enumerate(self.topics):
            for text in topic.texts.values():
                for body in (text.title, *text.questions):
                    questions.append(body)
                    self._question_owner.append(i)
                answers.append(text.answer)
                self._answer_owner.append(i)
                for sentence in split_sentences(text.answer):
                    sentences.append(sentence)
                    self._sentence_owner.append(i)
                # The whole topic as one passage: a question can need the title's and the answer's words together.
                documents.append(f"{text.title}. {' '.join(text.questions)} {text.answer.strip()}")
                self._topic_owner.append(i)
        # Sample questions are compared query-to-query, answers query-to-passage (e5's two prefixes).
        self._question_matrix = embedder.encode(questions, True)
        self._answer_matrix = embedder.encode(answers, False)
        self._sentence_matrix = embedder.encode(sentences, False) if sentences else None
        self._topic_matrix = embedder.encode(documents, False)

    def _query_terms(self, words: list[str], lang: str) -> tuple[dict[str, float], float, float]:
        """Query stems with weights, the total IDF mass and the IDF mass the index knows."""
        index = self._lang[lang]
        max_idf = max(index.idf.values(), default=1.0)
        terms: dict[str, float] = {}
        total = known = 0.0
        for w in dict.fromkeys(content_tokens(words, lang)):
            s = stem(w, lang)
            if s in index.idf:
                terms[s] = max(terms.get(s, 0.0), 1.0)
                total += index.idf[s]
                known += index.idf[s]
                continue
            near = self._fuzzy(w, index) if len(w) >= 4 else set()
            near_stems = {stem(x, lang) for x in near} & index.idf.keys()
            if near_stems:
                best = max(index.idf[x] for x in near_stems)
                for x in near_stems:
                    terms[x] = max(terms.get(x, 0.0), FUZZY_WEIGHT)
                total += best
                known += best * FUZZY_WEIGHT
            elif not w.isdigit():
                total += max_idf
        return terms, total, known

    @staticmethod
    def _fuzzy(word: str, index: _LangIndex) -> set[str]:
        found: set[str] = set()
        for key in deletes(word):
            for cand in index.deletes.get(key, ()):
                if cand not in found and edit_distance_at_most_one(word, cand):
                    found.add(cand)
        return found

    @property
    def semantic(self) -> bool:
        """Whether rank() can blend in embeddings."""
        return self._embedder is not None and bool(self._question_owner)

    def signals(self, text: str, lang: str | None = None, use_embeddings: bool = True) -> Signals:
        """Every per-topic signal for a query, before they are blended (rank() blends them)."""
        words = expand_shorthand(normalise(text).split(), lang)
        n = len(self.topics)
        lexical = [0.0] * n
        coverage = [0.0] * n
        known_share = 0.0
        for lg, index in self._lang.items():
            terms, total, known = self._query_terms(words, lg)
            if total <= 0:
                continue
            known_share = max(known_share, known / total)
            scores: dict[int, float] = {}
            matched: dict[int, float] = {}
            for s, qweight in terms.items():
                idf = index.idf[s]
                w = qweight * idf
                for doc, part in index.postings.get(s, ()):
                    scores[doc] = scores.get(doc, 0.0) + w * part
                    matched[doc] = matched.get(doc, 0.0) + w
            bonus = 1.05 if lg == lang else 1.0
            for doc, value in scores.items():
                # Normalise by the query's own IDF mass so scores compare across queries.
                v = bonus * value / (total * (K1 + 1))
                if v > lexical[doc]:
                    lexical[doc] = v
                coverage[doc] = max(coverage[doc], matched[doc] / total)
        qgrams = char_ngrams(" ".join(content_tokens(words, lang or "it")))
        qvec = {g: (1 + math.log(c)) * self._gram_idf[g] for g, c in qgrams.items() if g in self._gram_idf}
        qnorm = math.sqrt(sum(v * v for v in qvec.values()))
        qnorm_all = math.sqrt(sum(((1 + math.log(c)) * self._gram_idf.get(g, 8.0)) ** 2 for g, c in qgrams.items())) or 1.0
        chars = [0.0] * n
        # Character similarity only re-scores the best lexical candidates, so cost stays flat with KB size.
        pool = set(sorted(range(n), key=lambda i: lexical[i], reverse=True)[:CHAR_CANDIDATES])
        if qnorm > 0:
            for unit in (u for i in pool for u in self._units_of[i]):
                grams = unit.grams
                # Only the shared grams: the same sum in the same order, at half the cost (the hot loop of a reply).
                dot = sum(v * grams[g] for g, v in qvec.items() if g in grams)
                if dot:
                    sim = dot / (qnorm_all * unit.norm)
                    if sim > chars[unit.topic]:
                        chars[unit.topic] = sim
        signals = Signals(lexical, coverage, chars, known_share, self._unknown_names(text))
        if use_embeddings and self._embedder is not None and self._question_owner:
            qv = self._embedder.encode([text], True)
            signals.sem_question = self._max_per_topic(self._question_owner, self._question_matrix, qv)
            signals.sem_answer = self._max_per_topic(self._answer_owner, self._answer_matrix, qv)
            # One sentence of a long answer can match a question the answer as a whole dilutes.
            if self._sentence_matrix is not None:
                signals.sem_sentence = self._max_per_topic(self._sentence_owner, self._sentence_matrix, qv)
            else:
                signals.sem_sentence = [0.0] * n
            signals.sem_topic = self._max_per_topic(self._topic_owner, self._topic_matrix, qv)
        return signals

    def _unknown_names(self, text: str) -> int:
        """How many likely names in the query (see text.inner_capitalised) no language of the KB knows,
        not even one typo away; stopwords ("The", "Il") are not names."""
        count = 0
        for word in dict.fromkeys(inner_capitalised(text)):
            if any(word in STOPWORDS.get(lg, ()) for lg in self._lang):
                continue
            if not any(
                stem(word, lg) in index.idf or word in index.words or (len(word) >= 4 and self._fuzzy(word, index))
                for lg, index in self._lang.items()
            ):
                count += 1
        return count

    def _max_per_topic(self, owners: list[int], matrix: Any, qv: Any) -> list[float]:
        assert self._embedder is not None
        best = [0.0] * len(self.topics)
        for owner, sim in zip(owners, self._embedder.dot(matrix, qv), strict=True):
            if sim > best[owner]:
                best[owner] = sim
        return best

    def rank(self, text: str, lang: str | None = None, top: int = 5, use_embeddings: bool = True) -> Ranking:
        """Topics ranked for the query; lang (the detected one) breaks ties in its favour.

        use_embeddings=False ranks from the lexical signals alone, as when embeddings are off.
        """
        sig = self.signals(text, lang, use_embeddings)
        asked = asked_sentences(text)
        if asked is not None:
            # The question sentences count as much as the whole message: the statements around them
            # are context that can matter ("I lost my wallet. Has anyone found it?"), but less.
            sig = _average(sig, self.signals(asked, lang, use_embeddings))
        combined = blend(sig)
        order = sorted(range(len(self.topics)), key=lambda i: combined[i], reverse=True)[: max(top, 1)]
        semantic = sig.sem_question
        results = [
            Scored(
                self.topics[i].id,
                combined[i],
                sig.lexical[i],
                sig.chars[i],
                semantic[i] if semantic is not None else None,
                sig.coverage[i],
            )
            for i in order
        ]
        confidence = self._confidence(results, sig.known, sig.unknown_names)
        return Ranking(results, sig.known, confidence, sig.unknown_names)

    def _confidence(self, results: list[Scored], known: float, unknown_names: int = 0) -> float:
        """Logistic map of the top score, its lead over the runner-up, the share of the query the KB
        knows and the names it does not know onto [0, 1].

        The centre differs with and without embeddings because the blended score's scale does.
        """
        if not results or results[0].score <= 0:
            return 0.0
        first = results[0]
        margin = first.score - (results[1].score if len(results) > 1 else 0.0)
        if first.semantic is not None:
            centre, slope, lead, penalty = CENTRE_SEMANTIC, 6.0, MARGIN_SEMANTIC, UNKNOWN_NAME_PENALTY
        else:
            centre, slope, lead = CENTRE_LEXICAL, 12.0, MARGIN_LEXICAL
            penalty = UNKNOWN_NAME_PENALTY * CENTRE_LEXICAL / CENTRE_SEMANTIC  # the lexical score's smaller scale
        z = slope * (first.score + lead * margin + 0.2 * known - penalty * unknown_names - centre)
        return _sigmoid(z)

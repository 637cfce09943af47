from __future__ import annotations

import json
import subprocess
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sportello.assistant.engine import Assistant
from sportello.assistant.kb import Topic, TopicText
from sportello.assistant.retrieval import Retriever
from sportello.assistant.text import asked_sentences, inner_capitalised, normalise, split_sentences
from tests.assistant.conftest import SHARED

ROOT = Path(__file__).resolve().parents[2]


def test_normalise_accents_and_apostrophes() -> None:
    assert normalise("C'è l'ingresso dell’evento? Perché!") == "c e l ingresso dell evento perche"
    assert normalise("I don't know, we're late") == "i do not know we re late"


def test_short_query_and_typos(lexical_assistant: Assistant) -> None:
    assert lexical_assistant.reply("parcheggio?").topic_id == "parking"
    assert lexical_assistant.reply("parchegio?").topic_id == "parking"
    assert lexical_assistant.reply("devo stampare i biglieti?").topic_id == "qr-code-tickets"


def test_answers_in_visitor_language(lexical_assistant: Assistant) -> None:
    it = lexical_assistant.reply("dove posso parcheggiare la macchina?")
    en = lexical_assistant.reply("where can I park the car?")
    assert it.lang == "it" and en.lang == "en"
    assert it.topic_id == en.topic_id == "parking"
    assert it.answer != en.answer


def test_greeting_around_question_still_answers(lexical_assistant: Assistant) -> None:
    reply = lexical_assistant.reply("ciao! quanto costa il biglietto?")
    assert reply.intent == "question" and reply.topic_id == "ticket-prices"


def test_out_of_scope_says_not_sure(lexical_assistant: Assistant) -> None:
    reply = lexical_assistant.reply("who won the football game last night?")
    assert reply.topic_id is None and reply.offer_operator
    assert "not sure" in reply.answer


def test_operator_and_smalltalk_replies(lexical_assistant: Assistant) -> None:
    op = lexical_assistant.reply("posso chiamare qualcuno?")
    assert op.intent == "operator" and op.offer_operator and op.lang == "it"
    hi = lexical_assistant.reply("hello!")
    assert hi.intent == "smalltalk" and hi.lang == "en" and hi.topic_id is None


def test_runners_up_and_confidence(lexical_assistant: Assistant) -> None:
    reply = lexical_assistant.reply("quanto costa il biglietto famiglia?")
    assert 0.0 <= reply.confidence <= 1.0
    assert len(reply.runners_up) == 3
    assert reply.topic_id not in {r.topic_id for r in reply.runners_up}


def test_rank1_accuracy_on_shared_set(lucine_topics: list) -> None:
    rows = [json.loads(x) for x in (SHARED / "questions.jsonl").read_text().splitlines() if x.strip()]
    retriever = Retriever(lucine_topics)
    in_scope = [r for r in rows if r["intent"] == "question" and r["expect"]]
    right = sum(retriever.rank(r["q"], r["lang"]).results[0].topic_id == r["expect"] for r in in_scope)
    assert right / len(in_scope) >= 0.6  # lexical-only floor; the blend with embeddings is in bench/


def test_cli_json_from_stdin() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sportello.assistant.cli", "--kb", str(SHARED / "kb.yaml"), "--json", "--lexical"],
        input="parcheggio?\nciao\nvorrei parlare con un operatore\n",
        capture_output=True, text=True, check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""},
    )
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["intent"] for o in out] == ["question", "smalltalk", "operator"]
    assert out[0]["topic_id"] == "parking"
    assert set(out[0]) == {"question", "intent", "topic_id", "lang", "confidence", "answer"}


def test_cli_rejects_invalid_kb(tmp_path: Path) -> None:
    bad = tmp_path / "kb.yaml"
    bad.write_text("- id: x\n  it:\n    title: t\n")
    proc = subprocess.run(
        [sys.executable, "-m", "sportello.assistant.cli", "--kb", str(bad), "--json", "q"],
        capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""},
    )
    assert proc.returncode == 2 and "line 3: topic x.it.answer: is missing" in proc.stderr


class _WordEmbedder:
    """A stand-in for e5: hashed bag of words, unit-normalised (enough to exercise the semantic path)."""

    def encode(self, texts: Sequence[str], is_query: bool) -> Any:
        rows = np.zeros((len(texts), 64), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in normalise(text).split():
                rows[i, zlib.crc32(word.encode()) % 64] += 1.0
        rows += 0.05  # unrelated texts keep a small positive cosine, as e5's do
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def dot(self, matrix: Any, vector: Any) -> list[float]:
        return [float(x) for x in matrix @ vector[0]]


def test_split_sentences_keeps_decimals() -> None:
    assert split_sentences("Il percorso è lungo 1,6 km. Apre alle 17.30! Ok?\n") == [
        "Il percorso è lungo 1,6 km.",
        "Apre alle 17.30!",
        "Ok?",
    ]


def test_semantic_path_matches_one_answer_sentence() -> None:
    texts = {
        "en": TopicText("Parking", ("Where can I park?",), "The car park is free. Bicycle racks zebra giraffe stand at the gate."),
    }
    other = {"en": TopicText("Tickets", ("How much is a ticket?",), "Tickets cost ten euros. Children enter free.")}
    topics = [Topic("parking", (), texts), Topic("tickets", (), other)]
    retriever = Retriever(topics, _WordEmbedder())
    ranking = retriever.rank("zebra giraffe racks", "en")
    assert ranking.results[0].topic_id == "parking"
    assert ranking.results[0].semantic is not None


def test_declined_operator_clause_does_not_steer_retrieval(lexical_assistant: Assistant) -> None:
    reply = lexical_assistant.reply("non ho bisogno di un operatore, volevo solo sapere dove parcheggiare")
    assert reply.intent == "question" and reply.topic_id == "parking"


def test_semantic_path_scores_the_whole_topic_passage() -> None:
    # Neither the title nor any one sentence holds both words; the whole-topic passage does.
    texts = {"en": TopicText("Parking", ("Where can I park?",), "Spaces near the zebra gate. Giraffe statues mark the exit.")}
    other = {"en": TopicText("Tickets", ("How much is a ticket?",), "Tickets cost ten euros. Children enter free.")}
    retriever = Retriever([Topic("parking", (), texts), Topic("tickets", (), other)], _WordEmbedder())
    assert retriever.rank("zebra giraffe", "en").results[0].topic_id == "parking"
    assert len(retriever._topic_owner) == 2


def test_inner_capitalised_words_are_name_candidates() -> None:
    assert inner_capitalised("c'è un mercatino anche a Trento?") == ["trento"]
    assert inner_capitalised("Quando apre? Domani sera") == []  # sentence starts are not names
    assert inner_capitalised("can I pay with Apple Pay?") == ["apple", "pay"]


def test_unknown_name_lowers_confidence(lucine_topics: list) -> None:
    retriever = Retriever(lucine_topics)
    known = retriever.rank("quando apre il mercatino di Natale?", "it")
    unknown = retriever.rank("quando apre il mercatino di Natale di Zorbolandia?", "it")
    assert known.unknown_names == 0 and unknown.unknown_names == 1
    assert unknown.confidence < known.confidence
    # A name the knowledge base itself uses ("Villa Ortensia") is not unknown, even with a typo.
    assert retriever.rank("dov'è Villa Ortensa?", "it").unknown_names == 0


def test_asked_sentences_only_when_mixed_with_statements() -> None:
    assert asked_sentences("dove si parcheggia? veniamo in camper") == "dove si parcheggia?"
    assert asked_sentences("Ho perso il portafoglio. Qualcuno l'ha trovato?") == "Qualcuno l'ha trovato?"
    assert asked_sentences("dove parcheggio? quanto costa?") is None  # every sentence asks
    assert asked_sentences("vorrei sapere gli orari") is None  # none does


def test_capitalised_by_habit_is_not_a_name() -> None:
    assert inner_capitalised("DOVE POSSO PARCHEGGIARE A TRENTO?") == []
    assert inner_capitalised("Where Can I Park The Car?") == []


def test_a_visitor_s_own_name_is_not_a_name_candidate() -> None:
    assert inner_capitalised("Ciao, sono Marco Rossi, a che ora apre?") == []
    assert inner_capitalised("Hi, I'm Anna Bianchi: is there a shuttle from Trento?") == ["trento"]
    assert inner_capitalised("my name is Anna and I wonder about Zara") == ["zara"]
    assert inner_capitalised("grazie Giulia, e dove si trova Verona?") == ["verona"]

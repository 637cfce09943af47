from __future__ import annotations

import pytest

from sportello.assistant.intent import detect_intent, focus_question
from sportello.assistant.language import LanguageDetector

OPERATOR = [
    "posso chiamare qualcuno?",  # the seed's keyword rule misses this one
    "voglio parlare con un operatore",
    "operatore per favore",
    "Operator please",
    "can I speak to a human?",
    "mi mettete in contatto con qualcuno?",
    "please connect me with an agent",
    "c'è qualcuno?",
    "can you call me back?",
    "Let me talk to your manager",
    "fatemi parlare con una persona vera",
    "vorrei parlare con un opertore",  # typo
    "can i talk to sombody",  # typo
    "sei un bot inutile, passami un collega",
    "could you get a person to call me?",
    "ciao, ho un problema con l'ordine: posso parlare con qualcuno?",  # mixed
]
NOT_OPERATOR = [
    "quante persone entrano?",  # seed false positive
    "c'è assistenza per disabili?",  # seed false positive
    "non serve un operatore, volevo solo sapere gli orari",  # negation
    "no need for a human, what time do you open?",
    "non voglio parlare con nessuno, dimmi solo il prezzo",
    "who operates the shuttle bus?",
    "tour operator discounts?",
    "is the staff friendly?",
    "qual è il numero del servizio clienti?",
    "posso portare una persona disabile?",
    "mio figlio può parlare con babbo natale?",
    "Do you support human rights charities?",
]


@pytest.mark.parametrize("text", OPERATOR)
def test_operator_requests(text: str) -> None:
    assert detect_intent(text).name == "operator"


@pytest.mark.parametrize("text", NOT_OPERATOR)
def test_not_operator_requests(text: str) -> None:
    assert detect_intent(text).name != "operator"


@pytest.mark.parametrize(
    ("text", "kind"),
    [("ciao", "greeting"), ("hi", "greeting"), ("grazie mille!", "thanks"), ("thanks a lot", "thanks"),
     ("arrivederci", "bye"), ("bye!", "bye"), ("ok perfetto", "ack"), ("come stai?", "howareyou")],
)
def test_smalltalk(text: str, kind: str) -> None:
    intent = detect_intent(text)
    assert intent.name == "smalltalk" and intent.smalltalk == kind


def test_greeting_around_question_is_a_question() -> None:
    assert detect_intent("ciao! a che ora aprite?").name == "question"


@pytest.mark.parametrize(
    ("text", "lang"),
    [("ciao", "it"), ("hi", "en"), ("parcheggio?", "it"), ("where can I park?", "en"),
     ("quanto costa il biglietto famiglia?", "it"), ("how much is a ticket for a child?", "en"),
     ("c'è un bus dalla stazione?", "it"), ("thanks", "en")],
)
def test_language(text: str, lang: str) -> None:
    assert LanguageDetector(default="it").detect(text) == lang


def test_language_fallback() -> None:
    assert LanguageDetector(default="en").detect("42") == "en"
    assert LanguageDetector(default="it").detect("ok", hint="en") == "en"


@pytest.mark.parametrize(
    ("text", "focused"),
    [
        ("non mi serve un operatore, vorrei solo sapere quanto costa il parcheggio?", "vorrei solo sapere quanto costa il parcheggio?"),
        ("no need for an agent. Just tell me when you close", "Just tell me when you close"),
        ("non voglio parlare con nessuno; dove sono i bagni?", "dove sono i bagni?"),
        ("buonasera! grazie, si può pagare con carta?", "si può pagare con carta?"),
        ("hello, where is the entrance?", "where is the entrance?"),
        ("dove si parcheggia, e quanto costa?", "dove si parcheggia, e quanto costa?"),
        ("ciao", "ciao"),
    ],
)
def test_focus_question_keeps_the_asking_clauses(text: str, focused: str) -> None:
    assert focus_question(text) == focused


def test_focus_question_keeps_a_wanted_person() -> None:
    # Only a declined person is dropped; a clause asking for one stays (intent detection acts on it).
    assert focus_question("vorrei parlare con un operatore, per il parcheggio") == "vorrei parlare con un operatore, per il parcheggio"

"""Text processing shared by retrieval, intent and language detection: normalise, tokenise, stem."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import snowballstemmer

LANGS = ("it", "en")

_STEMMER_NAMES = {"it": "italian", "en": "english"}
# Snowball stemmers keep per-word state in the object: one shared by the threads that answer
# visitors (asyncio.to_thread) returns other words' stems under concurrency. One per thread.
_local = threading.local()


def _stemmer(lang: str) -> Any:
    stemmers: dict[str, Any] | None = getattr(_local, "stemmers", None)
    if stemmers is None:
        stemmers = _local.stemmers = {}
    stemmer = stemmers.get(lang)
    if stemmer is None and lang in _STEMMER_NAMES:
        stemmer = stemmers[lang] = snowballstemmer.stemmer(_STEMMER_NAMES[lang])
    return stemmer

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})
_EN_CONTRACTIONS = [
    (re.compile(r"\bcan't\b"), "can not"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"\bcannot\b"), "can not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"'(re|ve|ll|d|m)\b"), r" \1"),
    (re.compile(r"'s\b"), ""),
]
_TOKEN = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[^\s])")
_CASED_WORD = re.compile(r"[^\W\d_]+|[.!?:;\n]")

# Texting shorthand that a stemmer cannot recover; general chat usage, not tied to any knowledge base.
SHORTHAND = {
    "it": {
        "qnd": "quando", "qndo": "quando", "cmq": "comunque", "nn": "non", "x": "per", "xche": "perche",
        "xke": "perche", "perke": "perche", "ke": "che", "cn": "con", "grz": "grazie", "grazi": "grazie",
        "tnx": "grazie", "sn": "sono", "qlc": "qualcosa", "qlcn": "qualcuno", "qualcun": "qualcuno",
        "dv": "dove", "dmn": "domani", "msg": "messaggio", "tel": "telefono", "cell": "cellulare",
        "info": "informazioni", "bimbi": "bambini", "bimbo": "bambino", "bimba": "bambina",
        "tks": "grazie", "pls": "per favore", "xfavore": "per favore",
    },
    "en": {
        "u": "you", "ur": "your", "r": "are", "pls": "please", "plz": "please", "thx": "thanks",
        "ty": "thanks", "tnx": "thanks", "ppl": "people", "w": "with", "abt": "about", "tmrw": "tomorrow",
        "tmr": "tomorrow", "2day": "today", "2nite": "tonight", "b4": "before", "info": "information",
        "im": "i am", "dont": "do not", "cant": "can not", "wont": "will not", "ya": "you",
    },
}

STOPWORDS = {
    "it": set(
        """
        a ad al allo ai agli all alla alle agl anche ancora c che chi ci col coi con contro cui d da dal dallo
        dai dagli dall dalla dalle degl dei del dell della delle dello degli di e ed ecco gli i il in io l la
        le lei li lo loro lui ma me mi mia mie miei mio ne nei nel nell nella nelle nello negli noi o od per
        piu po poi quella quelle quelli quello questa queste questi questo s se si sia siamo siete sono su
        sul sull sulla sulle sullo sugli suo sua suoi sue ti tra fra tu tua tue tuo tuoi un una uno vi voi
        e è ho hai ha abbiamo avete hanno essere sei era erano stato stata sto sta stai stanno fa fare
        faccio volevo vorrei voglio potrei posso puoi puo potete possono devo deve dobbiamo sapere chiedere
        domanda solo ciao salve buongiorno buonasera grazie per favore cortesia gentilmente ok va bene
        qualcosa tutto tutti tutte cosa quale quali qual come dove quando quanto quanta quanti quante
        perche mai gia cosi molto poco nostro nostra vostro vostra vostri vostre ne allora quindi pero
        sui sugl negl quest quel quei quegli possiamo vuole vuoi vogliamo vogliono saremo sara sarei
        sarebbe avrei avremmo abbia possibile troppo niente nulla qualcuno qualche ogni davvero magari
        forse ecc
        """.split()
    ),
    "en": set(
        """
        a an the and or but if of at by for with about to from in on into onto over under up down out off
        is are was were be been being am do does did doing have has had having i me my mine we us our ours
        you your yours he him his she her hers it its they them their this that these those there here
        what which who whom whose when where why how can could would should will shall may might must
        not no s t just so than then too very also any some all each both more most other such own same
        only please hi hello hey thanks thank ok okay well like want wanted wondering know tell let get
        got need one as im dont d ll re ve m
        still now really maybe think something someone somewhere anything anyone anywhere roughly
        actually even yet already
        """.split()
    ),
}
# Words that carry meaning for ranking even though they are common question words.
_KEEP_FOR_RANKING = {"it": {"quando", "dove", "quanto", "quanti", "quante"}, "en": {"when", "where"}}


def normalise(text: str) -> str:
    """Lower-case, fold accents and apostrophes, expand English contractions; letters/digits only."""
    text = text.translate(_APOSTROPHES).lower()
    for pattern, repl in _EN_CONTRACTIONS:
        text = pattern.sub(repl, text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("'", " ")
    return " ".join(_TOKEN.findall(text))


def split_sentences(text: str) -> list[str]:
    """The sentences of a text, split after ".", "!" or "?" followed by space (decimals stay whole)."""
    return [part.strip() for part in _SENTENCE_END.split(text.strip()) if part.strip()]


# Words after which a capitalised name is a person's own (the visitor introducing themselves, or
# greeting, thanking or addressing someone), not the subject of the question.
_PERSON_CUES = frozenset(
    """
    sono chiamo ciao salve buongiorno buonasera grazie gentile gentili caro cara signor signora sig
    dott dottoressa m am name hi hello hey dear thanks thank mr mrs ms miss dr
    """.split()
)


def inner_capitalised(text: str) -> list[str]:
    """Normalised words written with a capital letter that do not start a sentence (likely names).

    "c'è un mercatino anche a Trento?" gives ["trento"]; "Quando apre?" gives [] (sentence start).
    People's names are left out: those after a cue such as "sono", "mi chiamo", "I'm", "my name is",
    "ciao", "thanks" ("Ciao, sono Marco Rossi, a che ora apre?" gives []), with the capitalised
    words that follow them (the surname). A message whose inner words are mostly capitalised
    ("WHERE CAN I PARK", "Where Can I Park") is capitalised by habit, not by name, and gives [].
    """
    out: list[str] = []
    inner = 0
    start = True
    person = False  # the previous word was a cue, or a name that followed one
    previous = ""
    for match in _CASED_WORD.finditer(text):
        word = match.group()
        if not word[0].isalpha():
            start, person = True, False
            continue
        capital = word[0].isupper() and len(word) >= 3
        if not start:
            inner += 1
            if capital and not person:
                out.append(normalise(word))
        norm = normalise(word)
        # "my name is Anna", "this is Anna": the cue is the phrase.
        person = norm in _PERSON_CUES or (person and capital) or (norm == "is" and previous in ("name", "this"))
        previous = norm
        start = False
    return out if len(out) * 2 <= inner else []


def asked_sentences(text: str) -> str | None:
    """The sentences that end with "?" when a message also has others, else None.

    "dove si parcheggia? veniamo in camper con tre bambini" asks where to park; the statement after
    it is context whose words ("bambini") pull towards other topics (children's tickets).
    """
    sentences = split_sentences(text)
    asked = [s for s in sentences if s.endswith("?")]
    if not asked or len(asked) == len(sentences):
        return None
    return " ".join(asked)


def tokens(text: str) -> list[str]:
    """Normalised word tokens, in order."""
    return normalise(text).split()


def expand_shorthand(toks: Iterable[str], lang: str | None = None) -> list[str]:
    """Replace texting shorthand ("qnd", "thx") by full words; lang None tries both languages."""
    out: list[str] = []
    langs = (lang,) if lang in SHORTHAND else LANGS
    for tok in toks:
        for lg in langs:
            full = SHORTHAND[lg].get(tok)
            if full is not None:
                out.extend(full.split())
                break
        else:
            out.append(tok)
    return out


@lru_cache(maxsize=200_000)
def stem(word: str, lang: str) -> str:
    """Snowball stem of a normalised word (unknown languages are returned unchanged)."""
    stemmer = _stemmer(lang)
    if stemmer is None:
        return word
    return str(stemmer.stemWord(word))


def content_tokens(toks: Iterable[str], lang: str) -> list[str]:
    """Tokens that carry meaning for ranking (stopwords removed, a few question words kept)."""
    stop = STOPWORDS.get(lang, set())
    keep = _KEEP_FOR_RANKING.get(lang, set())
    return [t for t in toks if (t not in stop or t in keep) and (len(t) > 1 or t.isdigit())]


def char_ngrams(text: str, low: int = 3, high: int = 5) -> dict[str, int]:
    """Counts of character n-grams of each word padded with spaces (typo-tolerant features)."""
    grams: dict[str, int] = {}
    for word in text.split():
        padded = f" {word} "
        for n in range(low, high + 1):
            for i in range(len(padded) - n + 1):
                g = padded[i : i + n]
                grams[g] = grams.get(g, 0) + 1
    return grams


def deletes(word: str) -> set[str]:
    """The word and every string one deletion away (symmetric-delete typo index keys)."""
    out = {word}
    for i in range(len(word)):
        out.add(word[:i] + word[i + 1 :])
    return out


def edit_distance_at_most_one(a: str, b: str) -> bool:
    """True when a and b differ by at most one insertion, deletion, substitution or transposition."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]

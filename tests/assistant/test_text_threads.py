"""Stemming is used from worker threads (the assistant answers in asyncio.to_thread)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import snowballstemmer

from sportello.assistant import text


def test_stems_are_right_when_many_threads_stem_at_once() -> None:
    words = [f"{root}{end}" for root in ("prenot", "parcheggi", "bigliett", "rimbors", "cancell", "illumin")
             for end in ("are", "azione", "azioni", "ato", "ati", "iamo", "ando", "o", "i", "e")]
    words += [f"{root}{end}" for root in ("book", "park", "refund", "cancel", "light", "walk")
              for end in ("ing", "ed", "s", "ings", "er", "ers")]
    reference = {
        (w, lang): snowballstemmer.stemmer(name).stemWord(w)
        for w in words
        for lang, name in (("it", "italian"), ("en", "english"))
    }

    def work(offset: int) -> list[tuple[str, str, str]]:
        out = []
        for i in range(4000):
            w = words[(i * 7 + offset) % len(words)]
            lang = "it" if (i + offset) % 2 else "en"
            # Bypass the cache: every call runs a stemmer.
            out.append((w, lang, text.stem.__wrapped__(w, lang)))
        return out

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [r for chunk in pool.map(work, range(16)) for r in chunk]
    wrong = [(w, lang, got) for w, lang, got in results if got != reference[(w, lang)]]
    assert wrong == []

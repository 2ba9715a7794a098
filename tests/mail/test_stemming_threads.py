"""Stemming from several threads at once (messages are analysed on a thread pool)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from stalwart_tx.mail import search_language
from stalwart_tx.mail.search_language import stem

WORDS = [f"{base}{suffix}" for base in ("generalization", "running", "happiness", "connected",
                                        "argumentative", "nationalities", "quarterly")
         for suffix in ("", "s", "ing", "ness", "ational", "izations", "fulness")]


def test_concurrent_stemming_gives_the_serial_answers() -> None:
    expected = {w: search_language._stemmer("en").stemWord(w) for w in WORDS}

    def work(offset: int) -> dict[str, str]:
        found = {}
        for _ in range(40):
            stem.cache_clear()  # force the stemmer itself to run, not the cache
            for word in WORDS[offset:] + WORDS[:offset]:
                found[word] = stem("en", word)
        return found

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))
    assert all(result == expected for result in results)

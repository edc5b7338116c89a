"""BM25 over the published knowledge base: each entry's question and every variant is
one short document; an entry scores as its best document.

Why our own forty lines and not ``bm25s``: bm25s needs numpy and scipy (about 100 MB
installed, neither in this project) for sparse matrices that pay off at millions of
documents; the knowledge base has hundreds to a few thousand short questions, where an
inverted index in plain Python answers in well under a millisecond (bench/assistant.py).

The score is Okapi BM25 (k1 1.2, b 0.75, Lucene's non-negative idf). ``coverage`` says how
much of the question the best document explains (the idf-weighted share of the
question's words it contains): BM25 scores are not comparable across questions, the
share is, so thresholds are set on it."""

from __future__ import annotations

import heapq
import math
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

K1 = 1.2
B = 0.75


@dataclass(frozen=True)
class Hit:
    entry_id: uuid.UUID
    score: float  # BM25 of the best document, times the entry's feedback weight
    coverage: float  # 0..1: idf-weighted share of the words matched (question mostly)


class Bm25Index:
    """Built once per knowledge-base change; read by any number of replies at once."""

    def __init__(self, documents: Iterable[tuple[uuid.UUID, Sequence[str]]]):
        self._owner: list[uuid.UUID] = []
        lengths: list[int] = []
        counts: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for entry_id, words in documents:
            doc = len(self._owner)
            self._owner.append(entry_id)
            lengths.append(len(words))
            for word, count in Counter(words).items():
                counts[word].append((doc, count))
        total = len(self._owner) or 1
        average = (sum(lengths) / total) or 1.0
        self._idf = {
            word: math.log(1 + (total - len(p) + 0.5) / (len(p) + 0.5))
            for word, p in counts.items()
        }
        self.unknown_idf = math.log(1 + (total + 0.5) / 0.5)  # a word no entry has
        # Each posting's BM25 term weight, computed once: a search only adds them up.
        self._postings: dict[str, list[tuple[int, float]]] = {}
        self._weight = [0.0] * len(self._owner)  # each document's words' idf, summed
        for word, postings in counts.items():
            idf = self._idf[word]
            weighted = []
            for doc, tf in postings:
                norm = K1 * (1 - B + B * lengths[doc] / average)
                weighted.append((doc, idf * tf * (K1 + 1) / (tf + norm)))
                self._weight[doc] += idf
            self._postings[word] = weighted
        self._weight = [w or 1.0 for w in self._weight]

    def __len__(self) -> int:
        return len(self._owner)

    def idf(self, word: str) -> float:
        """A word's weight in the question; a word no entry has counts fully when it is
        a real word (it may be what the question is about: "贷款") and a quarter when
        it is a single character (mostly particles and fillers jieba leaves alone)."""
        if word in self._idf:
            return self._idf[word]
        return self.unknown_idf if len(word) > 1 else self.unknown_idf / 4

    def search(
        self, words: Sequence[str], weights: dict[uuid.UUID, float] | None = None, limit: int = 5
    ) -> list[Hit]:
        query = list(dict.fromkeys(words))  # a repeated word counts once
        if not query:
            return []
        scores: dict[int, float] = defaultdict(float)
        matched: dict[int, float] = defaultdict(float)
        for word in query:
            postings = self._postings.get(word)
            if postings is None:
                continue
            idf = self._idf[word]
            for doc, weight in postings:
                scores[doc] += weight
                matched[doc] += idf
        total = sum(self.idf(word) for word in query)
        owner, factor = self._owner, weights or {}
        if factor:
            for doc in scores:
                scores[doc] *= factor.get(owner[doc], 1.0)
        # Only the best documents become hits: an entry has a handful of documents, so
        # the best ``limit`` entries are among the best ``limit * 8`` documents.
        top = heapq.nlargest(limit * 8, scores.items(), key=lambda item: item[1])
        best: dict[uuid.UUID, Hit] = {}
        for doc, score in top:
            entry_id = owner[doc]
            if entry_id in best:
                continue  # its best document came first
            # Mostly the question's share explained, partly the document's: a long
            # variant that merely contains the question's words is a weaker match.
            coverage = 0.75 * matched[doc] / total + 0.25 * matched[doc] / self._weight[doc]
            best[entry_id] = Hit(entry_id, score, coverage)
        return list(best.values())[:limit]

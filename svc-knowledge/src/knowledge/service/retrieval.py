"""Offline Chinese retrieval: jieba with the bureau's lexicon, synonyms, BM25 over question, similar
questions and answer, and re-ranking by the matter and the want (intent) recognised in the question.

Nothing here touches the database or the network: ``SearchIndex`` is built from published entries
and swapped whole, so a search never sees a half-built index. The segmenter and the lexicon are
loaded once per process (``analyzer()``).
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import bm25s
import jieba
import numpy as np

jieba.setLogLevel(logging.WARNING)

# The want words of the assistant that are not entry categories (knowledge.schemas.CATEGORIES).
EXTRA_INTENTS = ("complaint",)

# Question shapes that name a want without a fixed cue word: 能挪吗, 可以申请吗, 用不用, 是备案还是许可.
_INTENT_PATTERNS = (
    ("eligibility", re.compile(r"(能|可以|可不可以|能不能|允许).{0,8}吗|(\w)不\2|是.{1,6}还是")),
    ("fees", re.compile(r"交.{0,3}(什么|多少)?钱|收.{0,2}费")),
)
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
# Weights of the fields in the combined score: the questions say what an entry is for; the answer
# only adds evidence.
QUESTION_WEIGHT = 1.0
ANSWER_WEIGHT = 0.25
MATTER_BOOST = 0.35
INTENT_BOOST = 0.45
# Wants answered by the platform-wide entries (no matter): such an entry counts as of the matter asked about.
GENERAL_INTENTS = frozenset({"progress", "licence", "help", "complaint"})


@dataclass(frozen=True)
class Lexicon:
    words: tuple[str, ...]
    synonyms: dict[str, tuple[str, ...]]  # variant → canonical tokens
    stopwords: frozenset[str]
    intents: dict[str, tuple[str, ...]]
    matter_signals: dict[str, tuple[tuple[str, ...], ...]]
    clarify_between: tuple[dict[str, Any], ...]
    handover_phrases: tuple[str, ...]
    solved_phrases: tuple[str, ...]
    platform_terms: frozenset[str]
    matter_codes: dict[str, str]  # matter name → catalogue code (LR-XK-008 …)

    @classmethod
    def load(cls, data: dict[str, Any] | None = None) -> Lexicon:
        if data is None:
            data = json.loads(lexicon_text())
        synonyms: dict[str, tuple[str, ...]] = {}
        for canonical, variants in data["synonyms"].items():
            for variant in variants:
                synonyms[normalise(variant)] = tuple(canonical.split())
        return cls(
            words=tuple(data["words"]),
            synonyms=synonyms,
            stopwords=frozenset(data["stopwords"]),
            intents={k: tuple(v) for k, v in data["intents"].items()},
            matter_signals={m: tuple(tuple(g) for g in groups) for m, groups in data["matter_signals"].items()},
            clarify_between=tuple(data["clarify_between"]),
            handover_phrases=tuple(data["handover_phrases"]),
            solved_phrases=tuple(data["solved_phrases"]),
            platform_terms=frozenset(data.get("platform_terms", ())),
            matter_codes=dict(data.get("matter_codes", {})),
        )

    def matter_named(self, code: str | None) -> str | None:
        """The matter's name for its catalogue code, None when unknown."""
        return next((name for name, c in self.matter_codes.items() if c == code), None) if code else None


def lexicon_text() -> str:
    return resources.files("knowledge.lexicon").joinpath("lexicon.json").read_text("utf-8")


def normalise(text: str) -> str:
    """Full-width to half-width, lower case: 'ＣＩＴＥＳ' and 'cites' are the same word."""
    return unicodedata.normalize("NFKC", text).lower()


class Analyzer:
    """Segmenter with the bureau's dictionary; turns text into retrieval tokens (synonyms expanded)."""

    def __init__(self, lexicon: Lexicon, fingerprint: str = "") -> None:
        self.lexicon = lexicon
        # Names the lexicon and segmenter that made stored tokens: tokens of another one are made again.
        self.fingerprint = fingerprint
        # An own Tokenizer, not jieba's global one, so the bureau's words never leak into other code.
        self.tokenizer = jieba.Tokenizer()
        self.tokenizer.initialize()
        for word in {*lexicon.words, *lexicon.synonyms}:
            self.tokenizer.add_word(normalise(word), freq=50_000)
        for tokens in lexicon.synonyms.values():
            for token in tokens:
                self.tokenizer.add_word(token, freq=50_000)

    def words(self, text: str) -> list[str]:
        """The words of ``text`` (search mode: long words and the words inside them), without
        punctuation and stopwords."""
        out = []
        for word in self.tokenizer.cut_for_search(normalise(text), HMM=False):
            word = _PUNCT.sub("", word)
            if word and word not in self.lexicon.stopwords:
                out.append(word)
        return out

    def word_groups(self, text: str) -> list[set[str]]:
        """Each word of ``text`` as said (precise mode) with every term that stands for it: the words
        inside it and its formal names. A text covers the word when it has any of them."""
        groups = []
        for word in self.tokenizer.cut(normalise(text), HMM=False):
            word = _PUNCT.sub("", word)
            if not word or word in self.lexicon.stopwords:
                continue
            group = {word, *self.lexicon.synonyms.get(word, ())}
            if len(word) > 2:
                for part in self.words(word):
                    group.add(part)
                    group.update(self.lexicon.synonyms.get(part, ()))
            groups.append(group)
        return groups

    def tokens(self, text: str) -> list[str]:
        """Retrieval tokens: each word, plus the formal terms it is a colloquial name for."""
        out: list[str] = []
        for word in self.words(text):
            out.append(word)
            out.extend(self.lexicon.synonyms.get(word, ()))
        return out

    def intents(self, text: str, tokens: list[str] | None = None) -> list[str]:
        """The wants named in ``text`` (materials, time_limit, fees…), strongest first."""
        norm = normalise(text)
        toks = set(tokens if tokens is not None else self.tokens(text))
        scores: Counter[str] = Counter()
        for intent, cues in self.lexicon.intents.items():
            for cue in cues:
                # A longer cue is the more specific one: 一直有效 says more than 批下来.
                if cue in toks:
                    scores[intent] += 1 + len(cue)
                elif cue in norm:
                    scores[intent] += len(cue)
        for intent, pattern in _INTENT_PATTERNS:
            if pattern.search(norm):
                scores[intent] += 3
        return [i for i, _ in scores.most_common()]

    def matters(self, tokens: list[str]) -> list[str]:
        """Matters whose every signal group has a word in ``tokens``."""
        toks = set(tokens)
        found = []
        for matter, groups in self.lexicon.matter_signals.items():
            if all(any(t in toks or any(t in tok for tok in toks if len(tok) > len(t)) for t in group)
                   for group in groups):
                found.append(matter)
        return found

    def general_rarity(self, group: set[str]) -> float:
        """0 for the commonest words of general Chinese, 1 for rare ones (log-frequency in jieba's
        dictionary, from about 1 in 8,000 words to 1 in 3 million)."""
        freq = max(self.tokenizer.FREQ.get(w, 0) for w in group)
        return (math.log(self.tokenizer.total / (freq + 1)) - 9.0) / 6.0

    def asks_for_human(self, text: str) -> bool:
        norm = normalise(text)
        return any(p in norm for p in self.lexicon.handover_phrases)

    def says_solved(self, text: str) -> bool:
        norm = _PUNCT.sub("", normalise(text))
        return len(norm) <= 8 and any(p in norm for p in self.lexicon.solved_phrases)


@functools.cache
def analyzer() -> Analyzer:
    """The process's analyzer: jieba's dictionary and the lexicon are loaded once, not per request."""
    text = lexicon_text()
    fingerprint = hashlib.sha256(f"{jieba.__version__}\n{text}".encode()).hexdigest()[:16]
    return Analyzer(Lexicon.load(json.loads(text)), fingerprint)


@dataclass(frozen=True)
class IndexedEntry:
    id: str
    version: int
    question: str
    answer: str
    matter: str | None
    category: str | None
    question_tokens: tuple[str, ...]
    answer_tokens: tuple[str, ...]


@dataclass
class Hit:
    entry: IndexedEntry
    score: float
    bm25: float
    coverage: float
    # A platform-wide term of the question (账号, 亮证, 预约…) that this entry's questions name too.
    names_topic: bool = False


@dataclass
class Understanding:
    """What the analyzer recognised in a question."""

    tokens: list[str]
    intents: list[str]
    matters: list[str]
    known_ratio: float  # share of the question's words the corpus knows at all
    groups: list[set[str]]  # the question's words, each with the terms that stand for it


def entry_tokens(a: Analyzer, question: str, similar: list[str], answer: str, matter: str | None
                 ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    q = a.tokens(" ".join([question, *similar]))
    if matter:
        q += a.tokens(matter)
    return tuple(q), tuple(a.tokens(answer))


@dataclass
class SearchIndex:
    """BM25 over the published entries; immutable once built (a change builds a new one)."""

    entries: list[IndexedEntry] = field(default_factory=list)
    generation: int = 0

    def __post_init__(self) -> None:
        self._questions = bm25s.BM25(k1=1.2, b=0.5)
        self._answers = bm25s.BM25(k1=1.2, b=0.75)
        if self.entries:
            self._questions.index([list(e.question_tokens) or [""] for e in self.entries], show_progress=False)
            self._answers.index([list(e.answer_tokens) or [""] for e in self.entries], show_progress=False)
        vocab: set[str] = set()
        df: Counter[str] = Counter()
        for e in self.entries:
            terms = set(e.question_tokens) | set(e.answer_tokens)
            vocab |= terms
            df.update(terms)
        self.vocabulary = vocab
        n = max(len(self.entries), 1)
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self._oov_idf = math.log(1 + (n + 0.5) / 0.5)
        # Matter and category as arrays, so re-ranking is a few vector operations, not a loop per entry.
        self._matters = np.array([e.matter or "" for e in self.entries], dtype=object)
        self._categories = np.array([e.category or "" for e in self.entries], dtype=object)

    def understand(self, a: Analyzer, text: str, tokens: list[str] | None = None) -> Understanding:
        tokens = tokens if tokens is not None else a.tokens(text)
        groups = a.word_groups(text)
        known = sum(1 for g in groups if g & self.vocabulary)
        return Understanding(tokens=tokens, intents=a.intents(text, tokens), matters=a.matters(tokens),
                             known_ratio=known / len(groups) if groups else 0.0, groups=groups)

    def _weighted_groups(self, a: Analyzer, groups: list[set[str]]) -> list[tuple[float, set[str]]]:
        """Each word group with its weight: the idf of its rarest known term; for a word the knowledge
        base never uses, a weight that grows with how rare the word is in general Chinese (jieba's
        dictionary), so 一块 or 听说 barely count and 驾照 or 社保 count fully."""
        out = []
        for g in groups:
            if g & self.vocabulary:
                out.append((max(self._idf[t] for t in g if t in self._idf), g))
            else:
                out.append((self._oov_idf * min(max(a.general_rarity(g), 0.1), 1.0), g))
        return out

    def search(self, a: Analyzer, text: str, *, limit: int = 10, tokens: list[str] | None = None,
               understanding: Understanding | None = None, matters: list[str] | None = None,
               intents: list[str] | None = None) -> list[Hit]:
        """Ranked entries for ``text``. ``matters``/``intents`` override what is recognised in the text
        (the assistant passes what the conversation established)."""
        if not self.entries:
            return []
        u = understanding or self.understand(a, text, tokens)
        query = [t for t in u.tokens if t in self.vocabulary]
        if not query:
            return []
        scores = (QUESTION_WEIGHT * self._questions.get_scores(query)
                  + ANSWER_WEIGHT * self._answers.get_scores(query))
        top = float(scores.max())
        if top <= 0:
            return []
        scores = scores / top  # 1.0 for the best text match; boosts are relative to it
        wanted_matters = set(matters if matters is not None else u.matters)
        wanted_intents = intents if intents is not None else u.intents
        boost = np.zeros(len(self.entries), dtype=np.float32)
        first_intent = wanted_intents[0] if wanted_intents else None
        if wanted_matters:
            boost += MATTER_BOOST * np.isin(self._matters, list(wanted_matters))
        if first_intent in GENERAL_INTENTS:
            boost += MATTER_BOOST * ((self._matters == "") & (self._categories == first_intent))
        if first_intent:
            boost += INTENT_BOOST * (self._categories == first_intent)
            others = [i for i in wanted_intents[1:] if i != first_intent]
            if others:
                boost += INTENT_BOOST / 2 * np.isin(self._categories, others)
        final = scores + boost
        k = min(limit, len(self.entries))
        order = np.argpartition(-final, k - 1)[:k]
        order = order[np.argsort(-final[order])]
        groups = self._weighted_groups(a, u.groups)
        query_idf = sum(w for w, _ in groups) or 1.0
        hits = []
        for i in order:
            if final[i] <= 0:
                break
            e = self.entries[int(i)]
            terms = set(e.question_tokens) | set(e.answer_tokens)
            coverage = sum(w for w, group in groups if group & terms) / query_idf
            topic = bool(a.lexicon.platform_terms & set(u.tokens) & set(e.question_tokens))
            hits.append(Hit(entry=e, score=round(float(final[i]), 4), bm25=float(scores[i] * top), coverage=coverage,
                            names_topic=topic))
        return hits

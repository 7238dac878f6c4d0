"""Offline Chinese retrieval: what a question says, read three ways, and the entries ranked by a model
fitted on held questions (``knowledge/lexicon/model.json``).

A question is read as **words** (jieba with the bureau's lexicon, colloquial names expanded to the formal
terms), as **character bigrams** (robust to segmentation, unseen colloquial words and one wrong
character) and as **sound bigrams** (toneless pinyin of the characters, robust to homophone typing and
voice-to-text errors: 检役 reads as 检疫). Traditional characters are read as simplified (OpenCC) and
full-width as half-width before anything else.

An entry is indexed in fields: its standard question (the title), its questions (title, similar
phrasings and the matter's name), and its answer; each field and reading has its own BM25 index. The
ranking score is a linear model over the fields' BM25 scores (each relative to the best entry's) and
the matter and want (intent) the question names; its weights are fitted pairwise on held questions by
``tests/bench/assistant_model.py`` and shipped with the lexicon, so the same numbers rank in the service,
the benchmark and the tests.

Nothing here touches the database or the network: ``SearchIndex`` is built from published entries and
swapped whole, so a search never sees a half-built index. The segmenter, the lexicon and the model are
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
import opencc
import pypinyin

jieba.setLogLevel(logging.WARNING)

# The want words of the assistant that are not entry categories (knowledge.schemas.CATEGORIES).
EXTRA_INTENTS = ("complaint",)

# Question shapes that name a want without a fixed cue word: 能挪吗, 可以申请吗, 用不用, 是备案还是许可.
_INTENT_PATTERNS = (
    ("eligibility", re.compile(r"(能|可以|可不可以|能不能|允许).{0,8}吗|(\w)不\2|是.{1,6}还是")),
    ("fees", re.compile(r"交.{0,3}(什么|多少)?钱|收.{0,2}费")),
)
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
# Clauses of a turn, and a clause that says what the person does not mean (不是移树 / 并不是临时的).
_CLAUSES = re.compile(r"[，,。；;！!？?\s]+")
_DENIED = re.compile(r"^(而|并|也|倒)?不是")
# Runs of Chinese characters, and words of Latin letters or digits (CITES, LED, 12345).
_RUNS = re.compile(r"[\u3400-\u9fff]+|[a-z0-9]+")
_HAN = re.compile(r"[\u3400-\u9fff]")
# Wants answered by the platform-wide entries (no matter): such an entry counts as of the matter asked about.
GENERAL_INTENTS = frozenset({"progress", "licence", "help", "complaint"})
# How the stored tokens of an entry are made; a change here re-tokenises every entry (see fingerprint).
TOKEN_SCHEME = "fields-words-chars-sounds-2"

# The ranking model's inputs, in its order. Each BM25 feature is the entry's score divided by the best
# entry's score for the question (0–1); matter, general, intent and other_intent are 0 or 1; the
# evidence features score the question against all the entries of the entry's matter (of its category)
# read as one document, relative to the best matter (category): the six entries of a matter together say
# more about which matter a question is about than any one of them, and all the fee entries together what
# a question about fees sounds like. Words every category has (the matters' names) weigh nothing there,
# and words every matter has (材料, 多久) nothing in the matters' index. category_probability is the
# aspect classifier's probability of the entry's category; matter_and_aspect the product of the two, high
# only for the entry of the right matter *and* the right aspect.
RANK_FEATURES = ("title_words", "question_words", "answer_words", "question_chars", "answer_chars",
                 "question_sounds", "matter", "general", "intent", "other_intent", "matter_evidence",
                 "category_evidence", "category_probability", "matter_and_aspect")
# A question of at least this many distinct bigrams, every one of which an entry's own questions hold, is
# that entry's: it goes first (see SearchIndex.hits). Entries covering this share of it (idf-weighted) are
# the ones checked.
WHOLE_QUESTION_COVERAGE = 0.8
WHOLE_QUESTION_BIGRAMS = 4
WHOLE_QUESTION_BONUS = 1.0
# The hand-over model's inputs: what the best hits and the question itself say about whether the base
# answers it at all. top_aspect is the aspect classifier's probability of the best entry's category;
# topic_named whether a platform-wide term of the question (账号, 进度, 亮证, 预约…) is one the best entry's
# questions use too — the evidence a general entry has where a matter's entry has its matter's signals;
# top_is_general whether the best entry is a platform-wide one (no matter), whose evidence differs;
# uncovered the idf weight of the question's words the best entry lacks, focus_covered whether it has the
# question's weightiest word.
HANDOVER_FEATURES = ("top_score", "margin", "word_coverage", "char_coverage", "known_ratio",
                     "unknown_rarity", "matter_named", "top_of_matter", "out_of_scope", "length",
                     "top_aspect", "topic_named", "top_is_general", "uncovered", "focus_covered",
                     "unanswered_words")


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
    # Topics of other departments (户口, 社保…) → the department that handles them.
    other_departments: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, data: dict[str, Any] | None = None) -> Lexicon:
        if data is None:
            data = json.loads(lexicon_text())
        synonyms: dict[str, tuple[str, ...]] = {}
        for canonical, variants in data["synonyms"].items():
            for variant in variants:
                synonyms[normalise(variant)] = tuple(canonical.split())
        other = {normalise(term): department for department, terms in data.get("other_departments", {}).items()
                 for term in terms}
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
            other_departments=other,
        )

    def matter_named(self, code: str | None) -> str | None:
        """The matter's name for its catalogue code, None when unknown."""
        return next((name for name, c in self.matter_codes.items() if c == code), None) if code else None


def lexicon_text() -> str:
    return resources.files("knowledge.lexicon").joinpath("lexicon.json").read_text("utf-8")


def model_text() -> str:
    return resources.files("knowledge.lexicon").joinpath("model.json").read_text("utf-8")


@functools.cache
def _simplified() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def normalise(text: str) -> str:
    """Full-width to half-width, lower case, traditional characters to simplified: 'ＣＩＴＥＳ' and
    'cites', 遷移樹木 and 迁移树木 are the same words."""
    return _simplified().convert(unicodedata.normalize("NFKC", text).lower())


@dataclass(frozen=True)
class CategoryModel:
    """Which aspect (entry category: materials, fees, time_limit…) a question asks about: a multinomial
    logistic regression over the question's words and character bigrams, fitted on the corpus's own
    phrasings and the held questions. It reads the aspect from how the whole question is put (要等多久,
    还能用吗, 得交些啥), where the lexicon's cue words only know the phrasings someone listed."""

    labels: tuple[str, ...]
    bias: np.ndarray
    terms: dict[str, np.ndarray]  # term → one weight per label

    @classmethod
    def load(cls, data: dict[str, Any]) -> CategoryModel:
        return cls(labels=tuple(data["labels"]), bias=np.array(data["bias"], dtype=np.float64),
                   terms={t: np.array(w, dtype=np.float64) for t, w in data["terms"].items()})

    def probabilities(self, terms: set[str]) -> dict[str, float]:
        logits = self.bias.copy()
        for term in terms:
            weights = self.terms.get(term)
            if weights is not None:
                logits += weights
        exp = np.exp(logits - logits.max())
        return dict(zip(self.labels, (exp / exp.sum()).tolist(), strict=True))


@dataclass(frozen=True)
class Model:
    """The fitted parts: the aspect classifier, a linear ranking score over ``RANK_FEATURES``, and a
    logistic hand-over probability over ``HANDOVER_FEATURES`` (standardised) with the threshold chosen by
    cross-validation."""

    categories: CategoryModel
    # How much a question's words alone sound like the questions the base did not answer (罚款, 补贴, 名单…
    # in held questions without an answer): a logistic regression over the same terms, labels
    # ("answered", "unanswered").
    unanswered_words: CategoryModel
    rank_weights: np.ndarray
    handover_mean: np.ndarray
    handover_scale: np.ndarray
    handover_coef: np.ndarray
    handover_intercept: float
    handover_threshold: float
    about: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, data: dict[str, Any] | None = None) -> Model:
        if data is None:
            data = json.loads(model_text())
        ranker, handover = data["ranker"], data["handover"]
        if tuple(ranker["features"]) != RANK_FEATURES or tuple(handover["features"]) != HANDOVER_FEATURES:
            raise ValueError("the assistant model was fitted for other features; fit it again "
                             "(tests/bench/assistant_model.py --write)")
        return cls(categories=CategoryModel.load(data["categories"]),
                   unanswered_words=CategoryModel.load(data["unanswered_words"]),
                   rank_weights=np.array(ranker["weights"], dtype=np.float64),
                   handover_mean=np.array(handover["mean"], dtype=np.float64),
                   handover_scale=np.array(handover["scale"], dtype=np.float64),
                   handover_coef=np.array(handover["coef"], dtype=np.float64),
                   handover_intercept=float(handover["intercept"]),
                   handover_threshold=float(handover["threshold"]), about=data.get("about", {}))

    def to_json(self) -> dict[str, Any]:
        def rounded(values: np.ndarray) -> list[float]:
            return [round(float(v), 4) for v in values]
        def classifier(c: CategoryModel) -> dict[str, Any]:
            return {"labels": list(c.labels), "bias": rounded(c.bias),
                    "terms": {t: rounded(w) for t, w in sorted(c.terms.items())}}
        return {"about": self.about, "categories": classifier(self.categories),
                "unanswered_words": classifier(self.unanswered_words),
                "ranker": {"features": list(RANK_FEATURES), "weights": rounded(self.rank_weights)},
                "handover": {"features": list(HANDOVER_FEATURES), "mean": rounded(self.handover_mean),
                             "scale": rounded(self.handover_scale), "coef": rounded(self.handover_coef),
                             "intercept": round(self.handover_intercept, 4),
                             "threshold": round(self.handover_threshold, 4)}}

    def handover_probability(self, features: np.ndarray) -> float:
        """The hand-over model's probability that the base holds no answer to the question (fitted with
        the two classes weighed equally, so it leans to "no answer"; the threshold is what decides)."""
        z = (features - self.handover_mean) / self.handover_scale
        return float(1.0 / (1.0 + math.exp(-(float(z @ self.handover_coef) + self.handover_intercept))))

    def confidence(self, unanswered: float) -> float:
        """The reply's confidence, 0–1, from the hand-over probability: 0.5 at the threshold, so a front
        end can read "answered above 0.5" whatever the fitted threshold is."""
        t = self.handover_threshold
        if unanswered <= t:
            return 0.5 + 0.5 * (t - unanswered) / t if t > 0 else 1.0
        return 0.5 * (1.0 - unanswered) / (1.0 - t) if t < 1 else 0.0


class Analyzer:
    """Segmenter with the bureau's dictionary; turns text into words (synonyms expanded), character
    bigrams and sound bigrams."""

    def __init__(self, lexicon: Lexicon, model: Model, fingerprint: str = "") -> None:
        self.lexicon = lexicon
        self.model = model
        self.cues = frozenset(normalise(cue) for cues in lexicon.intents.values() for cue in cues)
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

    def chars(self, text: str) -> list[str]:
        """Character bigrams of each run of Chinese characters (a lone character as itself), and each
        Latin word whole; bigrams that are stopwords (怎么, 什么) left out."""
        out: list[str] = []
        for run in _RUNS.findall(normalise(text)):
            if not _HAN.match(run) or len(run) == 1:
                out.append(run)
                continue
            out.extend(b for b in (run[i:i + 2] for i in range(len(run) - 1)) if b not in self.lexicon.stopwords)
        return out

    def sounds(self, text: str) -> list[str]:
        """Toneless pinyin bigrams of each run of Chinese characters: how the question sounds."""
        out: list[str] = []
        for run in _RUNS.findall(normalise(text)):
            if not _HAN.match(run):
                continue
            syllables = pypinyin.lazy_pinyin(run)
            if len(syllables) == 1:
                out.append(syllables[0])
            out.extend(f"{syllables[i]}_{syllables[i + 1]}" for i in range(len(syllables) - 1))
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

    def other_department_terms(self, text: str) -> list[str]:
        """Topics of other departments the question names (户口, 公积金…)."""
        norm = normalise(text)
        return [term for term in self.lexicon.other_departments if term in norm]

    def general_rarity(self, group: set[str]) -> float:
        """0 for the commonest words of general Chinese, 1 for rare ones (log-frequency in jieba's
        dictionary, from about 1 in 8,000 words to 1 in 3 million)."""
        freq = max(self.tokenizer.FREQ.get(w, 0) for w in group)
        return (math.log(self.tokenizer.total / (freq + 1)) - 9.0) / 6.0

    def affirmed(self, text: str) -> str:
        """``text`` without the clauses that say what the person does not mean, when another clause
        says what they do: “不是移树，是苗木要运到外地去卖” is about the seedlings."""
        clauses = [c for c in _CLAUSES.split(text) if c]
        kept = [c for c in clauses if not _DENIED.match(c)]
        return "，".join(kept) if kept and len(kept) < len(clauses) else text

    def asks_for_human(self, text: str) -> bool:
        norm = normalise(text)
        return any(p in norm for p in self.lexicon.handover_phrases)

    def says_solved(self, text: str) -> bool:
        norm = _PUNCT.sub("", normalise(text))
        return len(norm) <= 8 and any(p in norm for p in self.lexicon.solved_phrases)


@functools.cache
def analyzer() -> Analyzer:
    """The process's analyzer: jieba's dictionary, the lexicon and the model are loaded once, not per request."""
    text = lexicon_text()
    return Analyzer(Lexicon.load(json.loads(text)), Model.load(), fingerprint(text))


def fingerprint(lexicon: str) -> str:
    """Names the lexicon and segmenter that make an entry's stored tokens: tokens of another are made again."""
    versions = f"{jieba.__version__} {pypinyin.__version__} {TOKEN_SCHEME}"
    return hashlib.sha256(f"{versions}\n{lexicon}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EntryTokens:
    """An entry's tokens per field and reading, as stored with its published version."""

    title_words: tuple[str, ...]
    question_words: tuple[str, ...]
    answer_words: tuple[str, ...]
    question_chars: tuple[str, ...]
    answer_chars: tuple[str, ...]
    question_sounds: tuple[str, ...]

    def to_json(self) -> dict[str, list[str]]:
        return {name: list(getattr(self, name)) for name in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EntryTokens:
        return cls(**{name: tuple(data[name]) for name in cls.__dataclass_fields__})


def entry_tokens(a: Analyzer, question: str, similar: list[str], answer: str, matter: str | None) -> EntryTokens:
    questions = " ".join([question, *similar, matter or ""])
    return EntryTokens(title_words=tuple(a.tokens(question)), question_words=tuple(a.tokens(questions)),
                       answer_words=tuple(a.tokens(answer)), question_chars=tuple(a.chars(questions)),
                       answer_chars=tuple(a.chars(answer)), question_sounds=tuple(a.sounds(questions)))


@dataclass(frozen=True)
class IndexedEntry:
    id: str
    version: int
    question: str
    answer: str
    matter: str | None
    category: str | None
    tokens: EntryTokens


@dataclass
class Hit:
    entry: IndexedEntry
    score: float
    coverage: float  # idf-weighted share of the question's words the entry has
    char_coverage: float  # the same for the question's character bigrams
    uncovered: float  # the idf weight of the question's words the entry lacks
    focus_covered: bool  # the entry has the question's weightiest word


@dataclass
class Understanding:
    """What the analyzer recognised in a question."""

    tokens: list[str]
    chars: list[str]
    sounds: list[str]
    intents: list[str]
    matters: list[str]
    known_ratio: float  # share of the question's words the corpus knows at all
    groups: list[set[str]]  # the question's words, each with the terms that stand for it
    unknown_rarity: float  # how rare in general Chinese the rarest word the corpus does not know is (0–1)
    other_departments: list[str]  # topics of other departments named, that the knowledge base does not use
    letters: list[str] = field(default_factory=list)  # the question's Chinese characters one by one

    @property
    def terms(self) -> set[str]:
        """What the aspect classifier reads: the words, the character bigrams, the single characters (钱,
        久, 材: an aspect is often one character of a word nobody listed), the sound bigrams (how a
        misspelt or spoken question sounds) and the wants the lexicon's cue words name (``want:fees``), so it
        learns how far to trust each cue."""
        return {*self.tokens, *self.chars, *(f"1:{c}" for c in self.letters), *(f"s:{x}" for x in self.sounds),
                *(f"want:{i}" for i in self.intents)}


# (field of EntryTokens, BM25 k1, b): questions are short and many-phrased, answers long.
_FIELDS = (("title_words", 1.2, 0.5), ("question_words", 1.2, 0.5), ("answer_words", 1.2, 0.75),
           ("question_chars", 1.2, 0.5), ("answer_chars", 1.2, 0.75), ("question_sounds", 1.2, 0.5))


@dataclass
class SearchIndex:
    """BM25 per field and reading over the published entries; immutable once built (a change builds a
    new one)."""

    entries: list[IndexedEntry] = field(default_factory=list)
    generation: int = 0

    def __post_init__(self) -> None:
        self._indexes: dict[str, bm25s.BM25] = {}
        self._vocabularies: dict[str, set[str]] = {}
        for name, k1, b in _FIELDS:
            index = bm25s.BM25(k1=k1, b=b)
            documents = [list(getattr(e.tokens, name)) or [""] for e in self.entries]
            if documents:
                index.index(documents, show_progress=False)
            self._indexes[name] = index
            self._vocabularies[name] = {t for d in documents for t in d if t}
        self.vocabulary = self._vocabularies["question_words"] | self._vocabularies["answer_words"]
        # BM25 with k1 = 0 scores a document by the summed idf of the query terms it has.
        self._question_cover = bm25s.BM25(k1=0.0, b=0.0)
        if self.entries:
            self._question_cover.index([list(e.tokens.question_chars) or [""] for e in self.entries], show_progress=False)
        n = max(len(self.entries), 1)
        self._idf = _idf((set(e.tokens.question_words) | set(e.tokens.answer_words) for e in self.entries), n)
        self._char_idf = _idf((set(e.tokens.question_chars) | set(e.tokens.answer_chars) for e in self.entries), n)
        self._oov_idf = math.log(1 + (n + 0.5) / 0.5)
        self._homophones = _by_sound(self._idf)
        self._char_homophones = _by_sound(self._char_idf)
        # Matter and category as arrays, so the matter and want features are vector operations.
        self._matters = np.array([e.matter or "" for e in self.entries], dtype=object)
        self._categories = np.array([e.category or "" for e in self.entries], dtype=object)
        # A general entry (no matter) is a topic of its own.
        self._matter_groups = _GroupIndex([e.matter or f"entry:{e.id}" for e in self.entries], self.entries)
        self._category_groups = _GroupIndex([e.category or "" for e in self.entries], self.entries)

    def understand(self, a: Analyzer, text: str) -> Understanding:
        tokens = a.tokens(text)
        groups = a.word_groups(text)
        chars = a.chars(text)
        self._correct_homophones(tokens, groups, chars)
        # A want's cue word (怎么弄, 多久) is understood even where no entry uses it.
        understood = [bool(g & self.vocabulary or g & a.cues) for g in groups]
        known = sum(understood)
        unknown = [a.general_rarity(g) for g, u in zip(groups, understood, strict=True) if not u]
        other = [t for t in a.other_department_terms(text) if t not in self.vocabulary]
        return Understanding(tokens=tokens, chars=chars, sounds=a.sounds(text), letters=_HAN.findall(normalise(text)),
                             intents=a.intents(text, tokens), matters=a.matters(tokens),
                             known_ratio=known / len(groups) if groups else 0.0, groups=groups,
                             unknown_rarity=min(max(unknown, default=0.0), 1.0), other_departments=other)

    def matter_evidence(self, u: Understanding) -> dict[str, float]:
        """How well the question matches each matter's entries read together, relative to the best matter."""
        return self._matter_groups.group_scores(u)

    def _correct_homophones(self, tokens: list[str], groups: list[set[str]], chars: list[str]) -> None:
        """Add the knowledge base's word for each word or character pair of the question it does not know
        but that sounds like one it does: how a pinyin keyboard or a voice recogniser misspells (检役 → 检疫,
        凉证 → 亮证, 流成 → 流程)."""
        for group in groups:
            if group & self.vocabulary:
                continue
            for word in list(group):
                known = self._homophones.get(sound_of(word)) if len(word) > 1 and _HAN.match(word) else None
                if known:
                    group.add(known)
                    tokens.append(known)
        for pair in list(chars):
            if pair not in self._char_idf and len(pair) == 2 and _HAN.match(pair):
                known = self._char_homophones.get(sound_of(pair))
                if known:
                    chars.append(known)

    def rank_features(self, u: Understanding, matters: list[str], intents: list[str], categories: CategoryModel,
                      aspect: set[str] | None = None) -> np.ndarray:
        """One row per entry, one column per ``RANK_FEATURES``; the aspect is read from ``aspect`` (terms)
        when given, else from the question."""
        n = len(self.entries)
        columns = []
        for name, _, _ in _FIELDS:
            reading = u.tokens if name.endswith("words") else u.chars if name.endswith("chars") else u.sounds
            query = [t for t in reading if t in self._vocabularies[name]]
            scores = self._indexes[name].get_scores(query) if query else np.zeros(n)
            top = float(scores.max()) if n else 0.0
            columns.append(scores / top if top > 0 else np.zeros(n))
        first = intents[0] if intents else None
        columns.append(np.isin(self._matters, matters).astype(np.float64) if matters else np.zeros(n))
        columns.append(((self._matters == "") & (self._categories == first)).astype(np.float64)
                       if first in GENERAL_INTENTS else np.zeros(n))
        columns.append((self._categories == first).astype(np.float64) if first else np.zeros(n))
        others = [i for i in intents[1:] if i != first]
        columns.append(np.isin(self._categories, others).astype(np.float64) if others else np.zeros(n))
        columns.append(self._matter_groups.scores(u))
        columns.append(self._category_groups.scores(u))
        probabilities = categories.probabilities(u.terms if aspect is None else aspect)
        by_group = np.array([probabilities.get(c, 0.0) for c in self._category_groups.keys], dtype=np.float64)
        columns.append(by_group[self._category_groups.rows])
        columns.append(columns[RANK_FEATURES.index("matter_evidence")] * columns[-1])
        return np.column_stack(columns)

    def search(self, a: Analyzer, text: str, *, limit: int = 10, understanding: Understanding | None = None,
               matters: list[str] | None = None, intents: list[str] | None = None,
               aspect: set[str] | None = None, model: Model | None = None) -> list[Hit]:
        """Ranked entries for ``text``. ``matters``/``intents``/``aspect`` override what is recognised in
        the text (the assistant passes what the conversation established); ``model`` the shipped one
        (fitting passes its own)."""
        if not self.entries:
            return []
        u = understanding or self.understand(a, text)
        if not any(t in self.vocabulary for t in u.tokens) and not any(c in self._char_idf for c in u.chars):
            return []
        model = model or a.model
        features = self.rank_features(u, u.matters if matters is None else matters,
                                      u.intents if intents is None else intents, model.categories, aspect)
        return self.hits(a, u, features, model.rank_weights, limit)

    def hits(self, a: Analyzer, u: Understanding, features: np.ndarray, weights: np.ndarray, limit: int) -> list[Hit]:
        """The ``limit`` best entries by the ranking score, with what they cover of the question. An entry
        whose own questions hold every bigram of a question of four bigrams or more (an editor's wording,
        typed or pasted) comes before every other: the model learnt from questions worded apart from the
        entries, and a new entry has no matter or category evidence yet."""
        scores = features @ weights
        asked = set(u.chars)
        known = [c for c in u.chars if c in self._vocabularies["question_chars"]]
        if len(asked) >= WHOLE_QUESTION_BIGRAMS and len(known) == len(u.chars):
            # Summed idf of the bigrams an entry's questions have (BM25 with k1 = 0), over the question's.
            coverage = self._question_cover.get_scores(known) / sum(self._char_idf[c] for c in known)
            near = np.flatnonzero(coverage >= WHOLE_QUESTION_COVERAGE)
            whole = [i for i in near if asked <= set(self.entries[int(i)].tokens.question_chars)]
            if whole:
                scores = scores.copy()
                scores[whole] += WHOLE_QUESTION_BONUS
        k = min(limit, len(self.entries))
        order = np.argpartition(-scores, k - 1)[:k]
        order = order[np.argsort(-scores[order], kind="stable")]
        groups = self._weighted_groups(a, u.groups)
        query_idf = sum(w for w, _ in groups) or 1.0
        # The question's most telling word (英文 in 店招可以只用英文店名吗): an entry without it rarely answers.
        focus = max(groups, key=lambda g: g[0])[1] if groups else None
        chars = Counter(u.chars)
        char_mass = sum(self._char_idf.get(c, self._oov_idf) * n for c, n in chars.items()) or 1.0
        out = []
        for i in order:
            if scores[i] <= 0:  # nothing of the question in the entry
                break
            e = self.entries[int(i)]
            terms = set(e.tokens.question_words) | set(e.tokens.answer_words)
            entry_chars = set(e.tokens.question_chars) | set(e.tokens.answer_chars)
            covered = sum(w for w, group in groups if group & terms)
            out.append(Hit(entry=e, score=round(float(scores[i]), 4), coverage=covered / query_idf,
                           uncovered=query_idf - covered if groups else 0.0,
                           focus_covered=bool(focus and focus & terms),
                           char_coverage=sum(self._char_idf[c] * n for c, n in chars.items() if c in entry_chars)
                           / char_mass))
        return out

    def handover_features(self, a: Analyzer, u: Understanding, hits: list[Hit], matters: list[str],
                          categories: CategoryModel, unanswered_words: CategoryModel) -> np.ndarray:
        """One row of ``HANDOVER_FEATURES`` for the question and its ranked hits."""
        best = hits[0] if hits else None
        second = hits[1].score if len(hits) > 1 else 0.0
        aspect = categories.probabilities(u.terms).get(best.entry.category or "", 0.0) if best else 0.0
        topics = a.lexicon.platform_terms & set(u.tokens)
        topic_named = bool(best and topics & set(best.entry.tokens.question_words))
        return np.array([
            best.score if best else 0.0,
            best.score - second if best else 0.0,
            min(best.coverage, 1.0) if best else 0.0,
            min(best.char_coverage, 1.0) if best else 0.0,
            u.known_ratio,
            u.unknown_rarity,
            1.0 if matters else 0.0,
            1.0 if best and best.entry.matter in matters else 0.0,
            1.0 if u.other_departments else 0.0,
            math.log1p(len(u.groups)),
            aspect,
            1.0 if topic_named else 0.0,
            1.0 if best and best.entry.matter is None else 0.0,
            best.uncovered if best else 0.0,
            1.0 if best and best.focus_covered else 0.0,
            unanswered_words.probabilities(u.terms).get("unanswered", 0.0),
        ], dtype=np.float64)

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


class _GroupIndex:
    """BM25 over groups of entries (a matter's, a category's), each group's questions read as one document
    of words and character bigrams."""

    def __init__(self, keys: list[str], entries: list[IndexedEntry]) -> None:
        numbers: dict[str, int] = {}
        self.rows = np.array([numbers.setdefault(k, len(numbers)) for k in keys], dtype=np.int64)
        self.keys = list(numbers)
        documents: list[list[str]] = [[] for _ in numbers]
        for row, e in zip(self.rows, entries, strict=True):
            documents[row] += [*e.tokens.question_words, *e.tokens.question_chars]
        self.index = bm25s.BM25(k1=1.2, b=0.75)
        if documents:
            self.index.index([d or [""] for d in documents], show_progress=False)
        self.vocabulary = {t for d in documents for t in d}

    def group_scores(self, u: Understanding) -> dict[str, float]:
        """Each group's score for the question, relative to the best group's."""
        query = [t for t in (*u.tokens, *u.chars) if t in self.vocabulary]
        if not query:
            return dict.fromkeys(self.keys, 0.0)
        scores = self.index.get_scores(query)
        top = float(scores.max())
        return {k: float(v) / top if top > 0 else 0.0 for k, v in zip(self.keys, scores, strict=True)}

    def scores(self, u: Understanding) -> np.ndarray:
        """Each entry's group score for the question, relative to the best group's."""
        query = [t for t in (*u.tokens, *u.chars) if t in self.vocabulary]
        if not query:
            return np.zeros(len(self.rows))
        scores = self.index.get_scores(query)
        top = float(scores.max())
        return scores[self.rows] / top if top > 0 else np.zeros(len(self.rows))


@functools.lru_cache(maxsize=500_000)
def sound_of(word: str) -> str:
    """Toneless pinyin of ``word`` (cached: an index rebuild asks again for every word it knows)."""
    return " ".join(pypinyin.lazy_pinyin(word))


def _by_sound(idf: dict[str, float]) -> dict[str, str]:
    """The words of two or more Chinese characters by how they sound; of two that sound alike, the
    commoner (lower idf)."""
    out: dict[str, str] = {}
    for word in sorted((w for w in idf if len(w) > 1 and _HAN.match(w)), key=lambda w: (idf[w], w)):
        out.setdefault(sound_of(word), word)
    return out


def _idf(documents: Any, n: int) -> dict[str, float]:
    df: Counter[str] = Counter()
    for terms in documents:
        df.update(terms)
    return {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}

"""The smart assistant's (智能客服) decision for one user turn: answer, ask one clarifying question,
or hand over to a human — from the search index and the dialogue so far.

Pure logic over ``SearchIndex`` and the dialogue state (kept as JSON on the session row), so the
API, the benchmark and the unit tests run exactly the same code.

Slots carry over: the matter (事项) and the want (intent) recognised in earlier turns stay until a
turn names a different matter; the words of earlier turns of the same topic keep counting, with
less weight than the latest turn's.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from knowledge.service.retrieval import Analyzer, Hit, SearchIndex

# Confidence below which the assistant does not answer (hands over, or asks once when vague).
ANSWER_THRESHOLD = 0.5
# Two matters of a clarify group whose best entries score this close are not told apart by the text.
AMBIGUITY_MARGIN = 0.12
MAX_SUGGESTIONS = 3
# A hit of the named matter must still cover this share of the question (湿垃圾桶几点撤 is not about 餐厨垃圾申报).
MATTER_MIN_COVERAGE = 0.25
TOPIC_MIN_COVERAGE = 0.25
# With a want named, two matters are only confused when their best entries score this close.
AMBIGUITY_MARGIN_WITH_INTENT = 0.05

Action = Literal["answer", "clarify", "handover", "progress", "thanks"]


@dataclass
class DialogueState:
    matters: list[str] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)
    context: list[str] = field(default_factory=list)  # earlier user texts of the current topic
    last_action: str | None = None
    clarified_groups: list[int] = field(default_factory=list)
    clarifications: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> DialogueState:
        return cls(**(data or {}))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Reply:
    action: Action
    hit: Hit | None = None
    confidence: float = 0.0
    suggestions: list[Hit] = field(default_factory=list)
    clarify_zh: str | None = None
    clarify_en: str | None = None
    handover_reason: str | None = None
    matter: str | None = None
    intent: str | None = None


def confidence_of(hits: list[Hit], known_ratio: float, matters: list[str]) -> float:
    """How sure the best hit answers the question, 0–1. A hit of the matter the conversation names
    (recognised from the lexicon's signals, not from the ranking), or a platform-wide entry about the
    general topic the question names (账号, 亮证…), is trusted once it covers a fair share of the
    question; otherwise it has to cover most of what the question says, and beat the runner-up."""
    if not hits:
        return 0.0
    best = hits[0]
    margin = best.score - hits[1].score if len(hits) > 1 else best.score
    coverage = min(best.coverage, 1.0)
    if best.entry.matter is not None:
        named = best.entry.matter in matters and coverage >= MATTER_MIN_COVERAGE
    else:  # a platform-wide term (预约, 账号) is weaker evidence than a matter's own signals
        named = best.names_topic and coverage >= TOPIC_MIN_COVERAGE
    if named:
        value = 0.55 + 0.45 * min(coverage / 0.6, 1.0)
    else:
        value = 0.7 * coverage + 0.1 * min(margin / 0.3, 1.0) + 0.1 * known_ratio
    return round(max(0.0, min(value, 1.0)), 3)


def _same_words(analyzer: Analyzer, earlier: str, text: str) -> bool:
    a, b = set(analyzer.words(earlier)), set(analyzer.words(text))
    return bool(a) and a == b


def _ambiguous_group(analyzer: Analyzer, hits: list[Hit], matters: list[str], state: DialogueState,
                     margin: float) -> int | None:
    """The clarify group whose matters the conversation names more than one of, with the text not
    telling them apart; None when the question is clear enough."""
    for number, group in enumerate(analyzer.lexicon.clarify_between):
        if number in state.clarified_groups:
            continue
        named = [m for m in group["matters"] if m in matters]
        if len(named) < 2:
            continue
        best: dict[str, float] = {}
        for h in hits:
            matter = h.entry.matter
            if matter is not None and matter in named and matter not in best:
                best[matter] = h.score
        if len(best) < 2:
            return number if len(best) == 0 else None
        top_two = sorted(best.values(), reverse=True)[:2]
        if top_two[0] - top_two[1] < margin:
            return number
    return None


def respond(index: SearchIndex, analyzer: Analyzer, state: DialogueState, text: str) -> Reply:
    """Decide the reply to ``text`` and update ``state`` in place."""
    if analyzer.asks_for_human(text):
        state.last_action = "handover"
        return Reply(action="handover", handover_reason="user_asked")

    # The same question again right after an answer: the answer did not help.
    if state.last_action == "answer" and state.context and _same_words(analyzer, state.context[-1], text):
        state.last_action = "handover"
        return Reply(action="handover", handover_reason="repeated_question")

    own = index.understand(analyzer, text)
    same_topic = not own.matters or not state.matters or bool(set(own.matters) & set(state.matters))
    if not same_topic:
        state.context, state.intents, state.clarified_groups = [], [], []
    # The latest turn counts twice: it says what the person wants now.
    context_tokens = [t for earlier in state.context for t in analyzer.tokens(earlier)]
    tokens = own.tokens * 2 + context_tokens
    understanding = index.understand(analyzer, " ".join([*state.context, text]), tokens)
    # Matters named by the whole topic (a later turn may complete an earlier one: 广告 … 临时的);
    # narrowed to the ones the latest turn names when it names any.
    matters = understanding.matters
    if own.matters:
        matters = [m for m in matters if m in own.matters] or own.matters
    intents = own.intents or state.intents
    hits = index.search(analyzer, text, limit=10, understanding=understanding, matters=matters, intents=intents)
    # The newest turn decides how much of the question is known; earlier turns may have been vague.
    confidence = confidence_of(hits, max(own.known_ratio, understanding.known_ratio), matters)

    state.context = [*state.context, text][-4:]
    state.matters, state.intents = matters, intents
    matter = matters[0] if len(matters) == 1 else None
    intent = intents[0] if intents else None

    if "progress" in intents and hits and hits[0].entry.category == "progress":
        state.last_action = "progress"
        return Reply(action="progress", hit=hits[0], confidence=confidence, suggestions=hits[1:1 + MAX_SUGGESTIONS],
                     matter=matter, intent="progress")

    may_clarify = state.last_action != "clarify"
    group = _ambiguous_group(analyzer, hits, matters, state, AMBIGUITY_MARGIN_WITH_INTENT if intents else AMBIGUITY_MARGIN) \
        if may_clarify else None
    if group is not None and not (intents and confidence >= 0.9):
        clarify = analyzer.lexicon.clarify_between[group]
        state.clarified_groups.append(group)
        return _clarify(state, hits, confidence, clarify["question_zh"], clarify["question_en"], matter, intent)
    # A matter named with no want (“树的事情”): ask which aspect rather than guess one.
    if may_clarify and matter and not intents and state.clarifications == 0 and len(own.groups) <= 3:
        return _clarify(state, hits, confidence, *_aspect_question(matter), matter, intent)

    if hits and confidence >= ANSWER_THRESHOLD:
        state.last_action = "answer"
        return Reply(action="answer", hit=hits[0], confidence=confidence,
                     suggestions=hits[1:1 + MAX_SUGGESTIONS], matter=matter, intent=intent)

    # Not sure. A vague first question that the knowledge base knows the words of gets one question
    # back; anything else goes to a human.
    vague = not own.intents and own.known_ratio >= 0.75 and len(own.groups) <= 3
    if may_clarify and vague and state.clarifications == 0:
        if matter:
            zh, en = _aspect_question(matter)
        else:
            zh, en = _VAGUE_QUESTION
        return _clarify(state, hits, confidence, zh, en, matter, intent)

    state.last_action = "handover"
    return Reply(action="handover", confidence=confidence, suggestions=hits[:MAX_SUGGESTIONS],
                 handover_reason="no_answer" if not hits else "low_confidence", matter=matter, intent=intent)


_VAGUE_QUESTION = ("请再具体说说：您要办的是哪个事项（如迁移树木、户外招牌、建筑垃圾处置），想了解哪方面？",
                   "Could you say a little more: which matter is it (tree relocation, signboards, construction "
                   "waste…) and what would you like to know?")


def _aspect_question(matter: str) -> tuple[str, str]:
    return (f"请问您想了解“{matter}”的哪方面：申请材料、办理时限、收费、办理流程，还是有效期？",
            f"What would you like to know about “{matter}”: materials, time limit, fees, process or validity?")


def _clarify(state: DialogueState, hits: list[Hit], confidence: float, zh: str, en: str, matter: str | None,
             intent: str | None) -> Reply:
    state.last_action = "clarify"
    state.clarifications += 1
    return Reply(action="clarify", confidence=confidence, suggestions=hits[:MAX_SUGGESTIONS], clarify_zh=zh,
                 clarify_en=en, matter=matter, intent=intent)

"""The smart assistant's (智能客服) decision for one user turn: answer, ask one clarifying question,
or hand over to a human — from the search index and the dialogue so far.

Pure logic over ``SearchIndex``, the fitted ``Model`` and the dialogue state (kept as JSON on the session
row), so the API, the benchmark, the cross-validation and the unit tests run exactly the same code. The
decision to answer is the model's: it answers when the probability that the base holds no answer is
below the threshold chosen by cross-validation; a question about another department's matter (户口,
公积金…) is routed to 12345 instead of to the bureau's help desk.

Slots carry over: the matter (事项) and the want (intent) recognised in earlier turns stay until a
turn names a different matter; the words of earlier turns of the same topic keep counting, with
less weight than the latest turn's.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from knowledge.schemas import HandoverReason
from knowledge.service.retrieval import GENERAL_INTENTS, Analyzer, Hit, Model, SearchIndex

# Two matters of a clarify group whose evidence (relative to the best matter's) is this close are not told
# apart by the text.
AMBIGUITY_MARGIN = 0.1
MAX_SUGGESTIONS = 3
# With a want named, two matters are only confused when their evidence is this close.
AMBIGUITY_MARGIN_WITH_INTENT = 0.05
# A clarifying question is only worth asking when the assistant is this unsure: a clear question is answered.
CLARIFY_BELOW = 0.9
# The aspect classifier this sure of one aspect counts as the question naming its want (要等几个工作天).
WANT_PROBABILITY = 0.5

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
    handover_reason: HandoverReason | None = None
    department: str | None = None  # the other department a question out of scope belongs to
    matter: str | None = None
    intent: str | None = None


def _same_words(analyzer: Analyzer, earlier: str, text: str) -> bool:
    a, b = set(analyzer.words(earlier)), set(analyzer.words(text))
    return bool(a) and a == b


def _ambiguous_group(analyzer: Analyzer, evidence: dict[str, float], matters: list[str], state: DialogueState,
                     margin: float) -> int | None:
    """The clarify group whose matters the conversation names more than one of, with the text not
    telling them apart (their evidence — the question against each matter's entries read together —
    this close); None when the question is clear enough."""
    for number, group in enumerate(analyzer.lexicon.clarify_between):
        if number in state.clarified_groups:
            continue
        named = sorted((evidence.get(m, 0.0) for m in group["matters"] if m in matters), reverse=True)
        if len(named) >= 2 and named[0] - named[1] < margin:
            return number
    return None


def respond(index: SearchIndex, analyzer: Analyzer, state: DialogueState, text: str, model: Model | None = None
            ) -> Reply:
    """Decide the reply to ``text`` and update ``state`` in place (``model``: the shipped one unless a
    cross-validation fold passes its own)."""
    model = model or analyzer.model
    if analyzer.asks_for_human(text):
        state.last_action = "handover"
        return Reply(action="handover", handover_reason="user_asked")

    # The same question again right after an answer: the answer did not help.
    if state.last_action == "answer" and state.context and _same_words(analyzer, state.context[-1], text):
        state.last_action = "handover"
        return Reply(action="handover", handover_reason="repeated_question")

    text = analyzer.affirmed(text)  # “不是移树，是苗木要运出去”: what the person does not mean is left out
    own = index.understand(analyzer, text)
    same_topic = not own.matters or not state.matters or bool(set(own.matters) & set(state.matters))
    if not same_topic:
        state.context, state.intents, state.clarified_groups = [], [], []
    # The matter the conversation is on, when this turn names none: it stays (slot carry-over).
    carried = [] if own.matters else list(state.matters)
    # The whole topic is read, the latest turn twice: it says what the person wants now.
    understanding = index.understand(analyzer, " ".join([*state.context, text, text])) if state.context else own
    # Matters named by the whole topic (a later turn may complete an earlier one: 广告 … 临时的);
    # narrowed to the ones the latest turn names when it names any.
    matters = understanding.matters
    if own.matters:
        matters = [m for m in matters if m in own.matters] or own.matters
    intents = own.intents or state.intents
    # A want the lexicon's cue words miss may still be plain from how the question is put.
    own_want = bool(own.intents) or max(model.categories.probabilities(own.terms).values()) >= WANT_PROBABILITY
    wants_named = own_want or bool(intents)
    # The aspect asked about is the latest turn's when it names one (“…横幅” … “要提前多久报”), else the one
    # the conversation named (“检疫证怎么弄” … “苗圃里的”).
    if own_want or not state.context:
        aspect = own.terms
    else:
        aspect = index.understand(analyzer, " ".join(state.context)).terms
    hits = index.search(analyzer, text, limit=10, understanding=understanding, matters=matters, intents=intents,
                        aspect=aspect, model=model)
    # A follow-up turn of a conversation settled on one matter is answered from that matter's entries first
    # (“检疫证怎么弄” … “苗圃里的”: 产地检疫's process, not a general entry sharing words) — unless the turn asks
    # about the platform itself (进度, 电子证照…), which no matter's entry answers.
    settled = carried or (matters if state.context and len(matters) == 1 else [])
    if settled and not GENERAL_INTENTS & set(own.intents):
        hits = [h for h in hits if h.entry.matter in settled] + [h for h in hits if h.entry.matter not in settled]
    # The newest turn decides how much of the question is known; earlier turns may have been vague.
    understanding.known_ratio = max(own.known_ratio, understanding.known_ratio)
    unanswered = model.handover_probability(index.handover_features(analyzer, understanding, hits, matters,
                                                                     model.categories, model.unanswered_words))
    confidence = round(model.confidence(unanswered), 3)

    state.context = [*state.context, text][-4:]
    state.matters, state.intents = matters, intents
    matter = matters[0] if len(matters) == 1 else None
    intent = intents[0] if intents else None

    if "progress" in intents and hits and hits[0].entry.category == "progress":
        state.last_action = "progress"
        return Reply(action="progress", hit=hits[0], confidence=confidence, suggestions=hits[1:1 + MAX_SUGGESTIONS],
                     matter=matter, intent="progress")

    may_clarify = state.last_action != "clarify"
    margin = AMBIGUITY_MARGIN_WITH_INTENT if wants_named else AMBIGUITY_MARGIN
    group = _ambiguous_group(analyzer, index.matter_evidence(understanding), matters, state, margin) \
        if may_clarify else None
    if group is not None and not (wants_named and confidence >= CLARIFY_BELOW):
        clarify = analyzer.lexicon.clarify_between[group]
        state.clarified_groups.append(group)
        return _clarify(state, hits, confidence, clarify["question_zh"], clarify["question_en"], matter, intent)
    # A matter named with no want (“树的事情”): ask which aspect rather than guess one.
    if may_clarify and matter and not wants_named and state.clarifications == 0 and len(own.groups) <= 3:
        return _clarify(state, hits, confidence, *_aspect_question(matter), matter, intent)

    # Another department's matter (户口, 公积金), no matter of the bureau named: the bureau's entries do not
    # answer it however many words they share with it, and the bureau's help desk cannot help either; 12345 can.
    out_of_scope = bool(own.other_departments) and not matters
    if hits and unanswered < model.handover_threshold and not out_of_scope:
        state.last_action = "answer"
        return Reply(action="answer", hit=hits[0], confidence=confidence,
                     suggestions=hits[1:1 + MAX_SUGGESTIONS], matter=matter, intent=intent)

    if out_of_scope:
        state.last_action = "handover"
        department = analyzer.lexicon.other_departments[own.other_departments[0]]
        return Reply(action="handover", confidence=confidence, handover_reason="out_of_scope", department=department,
                     intent=intent)

    # Not sure. A vague first question that the knowledge base knows the words of gets one question
    # back; anything else goes to a human.
    vague = not wants_named and own.known_ratio >= 0.75 and len(own.groups) <= 3
    if may_clarify and vague and state.clarifications == 0:
        if matter:
            zh, en = _aspect_question(matter)
        else:
            zh, en = _VAGUE_QUESTION
        return _clarify(state, hits, confidence, zh, en, matter, intent)

    # The question names matters the text does not tell apart (检疫证: 调运 or 产地?): ask which, once,
    # rather than make the person wait for a human.
    if may_clarify and len(matters) >= 2 and state.clarifications == 0:
        return _clarify(state, hits, confidence, *_matters_question(matters), matter, intent)

    state.last_action = "handover"
    return Reply(action="handover", confidence=confidence, suggestions=hits[:MAX_SUGGESTIONS],
                 handover_reason="no_answer" if not hits else "low_confidence", matter=matter, intent=intent)


_VAGUE_QUESTION = ("请再具体说说：您要办的是哪个事项（如迁移树木、户外招牌、建筑垃圾处置），想了解哪方面？",
                   "Could you say a little more: which matter is it (tree relocation, signboards, construction "
                   "waste…) and what would you like to know?")


def _matters_question(matters: list[str]) -> tuple[str, str]:
    named = matters[:3]
    return ("请问您要办的是哪个事项：" + "，还是".join(f"“{m}”" for m in named) + "？",
            "Which matter is it: " + " or ".join(f"“{m}”" for m in named) + "?")


def _aspect_question(matter: str) -> tuple[str, str]:
    return (f"请问您想了解“{matter}”的哪方面：申请材料、办理时限、收费、办理流程，还是有效期？",
            f"What would you like to know about “{matter}”: materials, time limit, fees, process or validity?")


def _clarify(state: DialogueState, hits: list[Hit], confidence: float, zh: str, en: str, matter: str | None,
             intent: str | None) -> Reply:
    state.last_action = "clarify"
    state.clarifications += 1
    return Reply(action="clarify", confidence=confidence, suggestions=hits[:MAX_SUGGESTIONS], clarify_zh=zh,
                 clarify_en=en, matter=matter, intent=intent)

"""Search: the published entries ranked for a question, from this process's index (``service.index``)."""
from __future__ import annotations

from kit.errors import ValidationFailed
from knowledge import messages
from knowledge.schemas import SearchItem, SearchResult
from knowledge.service.index import holder
from knowledge.service.retrieval import analyzer


def search(question: str, limit: int) -> SearchResult:
    if not question.strip():
        raise ValidationFailed(messages.QUESTION_BLANK)
    a = analyzer()
    index = holder.index
    understanding = index.understand(a, question)
    hits = index.search(a, question, limit=limit, understanding=understanding)
    return SearchResult(
        items=[SearchItem.model_validate({"id": h.entry.id, "question": h.entry.question, "answer": h.entry.answer,
                                          "score": h.score, "matter": h.entry.matter, "category": h.entry.category})
               for h in hits],
        matter=understanding.matters[0] if len(understanding.matters) == 1 else None,
        intent=understanding.intents[0] if understanding.intents else None)

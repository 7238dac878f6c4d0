"""Retrieval and the assistant's decisions, in process: the same code the API runs, on a small corpus
written here (so the assertions do not lean on the development set) and, as a regression guard, on
the shared development set."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.service.assistant import DialogueState, respond
from knowledge.service.retrieval import IndexedEntry, Lexicon, SearchIndex, analyzer, entry_tokens
from knowledge.service.seed import shipped_corpus

DATA = Path(__file__).resolve().parent / "data"  # the development set (README there)

CORPUS = [
    ("t-1", "对迁移树木的许可", "materials", "申请迁移树木需要提交哪些材料？", ["移栽树木要准备什么"], "提交申请表和树木位置图。"),
    ("t-2", "对迁移树木的许可", "time_limit", "迁移树木审批要几个工作日？", ["迁移树木办理时限"], "承诺5个工作日。"),
    ("t-3", "对迁移树木的许可", "fees", "迁移树木许可收费吗？", ["迁移树木审批费用"], "不收费。"),
    ("t-4", "城市建筑垃圾处置核准", "time_limit", "建筑垃圾处置核准要多少个工作日？", ["处置核准时限"], "承诺3个工作日。"),
    ("t-5", "对户外招牌设置的审批", "fees", "户外招牌设置审批收费吗？", ["招牌审批要交钱吗"], "不收费。"),
    ("t-6", "户外招牌设置备案", "fees", "户外招牌设置备案收费吗？", ["门头招牌备案收不收费"], "不收费，备案当场办结。"),
    ("t-7", "户外招牌设置备案", "materials", "户外招牌设置备案需要什么材料？", ["店铺招牌备案提交哪些资料"], "提交设计效果图。"),
    ("t-8", None, "progress", "怎么查询办件进度？", ["申请提交后在哪里看进度"], "登录一网通办查看“我的办件”。"),
]


def build(rows=CORPUS) -> SearchIndex:
    a = analyzer()
    return SearchIndex([IndexedEntry(i, 1, q, ans, m, c, *entry_tokens(a, q, sim, ans, m)) for i, m, c, q, sim, ans in rows],
                       generation=1)


def test_the_segmenter_and_lexicon_load_once_per_process() -> None:
    assert analyzer() is analyzer()


def test_colloquial_names_map_to_the_formal_terms() -> None:
    tokens = analyzer().tokens("家门口的树想挪走")
    assert {"迁移", "树木"} <= set(tokens)
    assert "建筑垃圾" in analyzer().tokens("渣土处置证")
    assert "招牌" in analyzer().tokens("店招")


def test_the_want_and_the_matter_are_recognised() -> None:
    a = analyzer()
    assert a.intents("移树要几天")[0] == "time_limit"
    assert a.intents("店招备案收不收钱")[0] == "fees"
    assert a.intents("开洗车店要带什么材料")[0] == "materials"
    assert a.matters(a.tokens("挪树")) == ["对迁移树木的许可"]
    # 招牌 alone is both the approval and the filing: the assistant must ask.
    assert set(a.matters(a.tokens("招牌"))) == {"对户外招牌设置的审批", "户外招牌设置备案"}


@pytest.mark.parametrize(("question", "expected"), [
    ("挪树得多久能批", "t-2"),
    ("移树要交钱不", "t-3"),
    ("渣土处置证几天能办好", "t-4"),
    ("我提交的申请到哪一步了", "t-8"),
])
def test_colloquial_questions_find_the_entry(question: str, expected: str) -> None:
    hits = build().search(analyzer(), question)
    assert hits[0].entry.id == expected
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_unknown_words_find_nothing_and_an_empty_index_answers_empty() -> None:
    assert build().search(analyzer(), "zzqx wvk") == []
    assert SearchIndex().search(analyzer(), "挪树") == []


def test_the_assistant_answers_a_clear_question() -> None:
    reply = respond(build(), analyzer(), DialogueState(), "迁移树木审批要几个工作日")
    assert reply.action == "answer" and reply.hit.entry.id == "t-2" and reply.confidence >= 0.5
    assert all(s.entry.id != "t-2" for s in reply.suggestions) and len(reply.suggestions) <= 3


def test_an_ambiguous_question_gets_one_clarifying_question_and_later_turns_narrow_it() -> None:
    state = DialogueState()
    index = build()
    first = respond(index, analyzer(), state, "招牌的事")
    assert first.action == "clarify" and "备案" in first.clarify_zh and first.hit is None
    second = respond(index, analyzer(), state, "普通小店一楼的门头，收费吗")
    assert second.action == "answer" and second.hit.entry.id == "t-6"
    # The slots carry over: a later turn naming only a want stays on the matter.
    third = respond(index, analyzer(), state, "要带什么材料")
    assert third.action == "answer" and third.hit.entry.id == "t-7"
    # The state survives being stored as JSON on the session row.
    assert DialogueState.from_json(json.loads(json.dumps(state.to_json()))) == state


def test_hand_over_when_asked_or_out_of_scope() -> None:
    assert respond(build(), analyzer(), DialogueState(), "转人工").handover_reason == "user_asked"
    reply = respond(build(), analyzer(), DialogueState(), "社保断缴了几个月怎么补缴")
    assert reply.action == "handover" and reply.hit is None
    assert reply.handover_reason in ("no_answer", "low_confidence")


def test_a_new_matter_starts_a_new_topic() -> None:
    state = DialogueState()
    index = build()
    assert respond(index, analyzer(), state, "移树收费吗").hit.entry.id == "t-3"
    reply = respond(index, analyzer(), state, "那建筑垃圾处置核准多久")
    assert reply.hit.entry.id == "t-4" and state.matters == ["城市建筑垃圾处置核准"]


def test_lexicon_synonyms_are_read_as_canonical_tokens() -> None:
    lexicon = Lexicon.load({"words": [], "synonyms": {"迁移 树木": ["挪树"]}, "stopwords": [], "intents": {},
                            "matter_signals": {}, "clarify_between": [], "handover_phrases": [], "solved_phrases": []})
    assert lexicon.synonyms["挪树"] == ("迁移", "树木")


def test_development_set_regression_guard() -> None:
    """Not a target (measured by tests/bench/bench_knowledge.py through the API): a guard that a change
    to the lexicon or the ranking does not quietly make the assistant much worse."""
    faq = [json.loads(x) for x in shipped_corpus().decode("utf-8").splitlines() if x.strip()]
    index = build([(d["id"], d["matter"], d["category"], d["question"], d["similar"], d["answer"]) for d in faq])
    questions = [json.loads(x) for x in (DATA / "dev_questions.jsonl").read_text("utf-8").splitlines() if x.strip()]
    right = handed_right = handed = 0
    for q in questions:
        reply = respond(index, analyzer(), DialogueState(), q["q"])
        right += bool(q["expected"]) and reply.hit is not None and reply.hit.entry.id == q["expected"]
        if reply.action == "handover":
            handed += 1
            handed_right += q["expected"] is None
    answerable = sum(1 for q in questions if q["expected"])
    assert right / answerable >= 0.8
    assert handed and handed_right / handed >= 0.8


def test_the_same_question_again_after_an_answer_goes_to_a_human() -> None:
    state = DialogueState()
    assert respond(build(), analyzer(), state, "移树收费吗").action == "answer"
    reply = respond(build(), analyzer(), state, "移树收费吗？")
    assert reply.action == "handover" and reply.handover_reason == "repeated_question"


# Questions written for this test, after the development set was used for tuning, in other words
# than both the corpus and the development set: the expected entry of the shared corpus, or None
# when the assistant should hand over.
OWN_QUESTIONS = [
    ("店铺招牌备案需要多长时间", "kb-0098"), ("建筑垃圾处置证怎么续期", "kb-0011"), ("洗车店备案收费吗", "kb-0087"),
    ("临时广告能放多长时间", "kb-0053"), ("占用林地要交森林植被恢复费吗", "kb-0081"), ("餐厨垃圾申报在哪里办", "kb-0094"),
    ("垃圾清运许可证有效期几年", "kb-0077"), ("随申码能当身份证用吗", "kb-0111"), ("苗圃要不要做产地检疫", "kb-0060"),
    ("植物检疫证书过期了怎么办", "kb-0005"), ("挪树要多少钱", "kb-0045"), ("门头招牌备案网上能办吗", "kb-0100"),
    ("楼顶装大招牌要审批多少天", "kb-0026"), ("小区的草坪被占了改停车场合法吗", "kb-0072"), ("出口象牙制品要审批吗", "kb-0018"),
    ("卖人工繁育的鹦鹉需要审批吗", "kb-0066"), ("建筑垃圾处置核准收费吗", "kb-0009"), ("LED广告屏许可要几天", "kb-0032"),
    ("我想养只猫怎么办证", None), ("电费怎么交", None), ("护照怎么办", None), ("户口迁移怎么办", None),
    ("公司注销流程是什么", None), ("医保卡丢了怎么补办", None), ("停车罚单怎么交", None), ("小孩打疫苗在哪预约", None),
]


def test_questions_written_apart_from_the_development_set() -> None:
    """23 of these 26 pass today (misses: 临时广告能放多长时间, 户口迁移怎么办, 小孩打疫苗在哪预约)."""
    faq = [json.loads(x) for x in shipped_corpus().decode("utf-8").splitlines() if x.strip()]
    index = build([(d["id"], d["matter"], d["category"], d["question"], d["similar"], d["answer"]) for d in faq])
    right = 0
    for question, expected in OWN_QUESTIONS:
        reply = respond(index, analyzer(), DialogueState(), question)
        right += (reply.hit is not None and reply.hit.entry.id == expected) if expected else reply.action == "handover"
    assert right >= 21


@pytest.mark.parametrize(("question", "expected"), [
    ("泔脚申报要带啥", "kb-0091"), ("渣土车处置证啥时候能下来", "kb-0008"), ("洗车房备案要不要钱", "kb-0087"),
    ("公共绿地临时借用要花多少", "kb-0039"), ("红木家具出口去哪个部门办", "kb-0022"), ("垃圾运输许可能用几年", "kb-0077"),
])
def test_local_and_colloquial_words_of_the_lexicon(question: str, expected: str) -> None:
    faq = [json.loads(x) for x in shipped_corpus().decode("utf-8").splitlines() if x.strip()]
    index = build([(d["id"], d["matter"], d["category"], d["question"], d["similar"], d["answer"]) for d in faq])
    reply = respond(index, analyzer(), DialogueState(), question)
    assert reply.action == "answer" and reply.hit.entry.id == expected

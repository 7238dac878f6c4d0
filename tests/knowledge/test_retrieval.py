"""Retrieval and the assistant's decisions, in process: the same code the API runs, on a small corpus
written here (so the assertions do not lean on the evaluation set) and, as a regression guard, on the
held evaluation set; and the shipped model is what the fitting tool makes of the held data."""
from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import pytest

from knowledge.service.assistant import DialogueState, respond
from knowledge.service.retrieval import (
    HANDOVER_FEATURES,
    RANK_FEATURES,
    IndexedEntry,
    Lexicon,
    Model,
    SearchIndex,
    analyzer,
    entry_tokens,
    model_text,
)
from knowledge.service.seed import shipped_corpus

DATA = Path(__file__).resolve().parent / "data"  # the held evaluation set (README there)

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
    return SearchIndex([IndexedEntry(i, 1, q, ans, m, c, entry_tokens(a, q, sim, ans, m)) for i, m, c, q, sim, ans in rows],
                       generation=1)


@functools.cache
def shipped_index() -> SearchIndex:
    faq = [json.loads(x) for x in shipped_corpus().decode("utf-8").splitlines() if x.strip()]
    return build([(d["id"], d["matter"], d["category"], d["question"], d["similar"], d["answer"]) for d in faq])


def read_jsonl(name: str) -> list[dict]:
    return [json.loads(x) for x in (DATA / name).read_text("utf-8").splitlines() if x.strip()]


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
    ("挪树得多久能批", "kb-0044"),
    ("移树要交钱不", "kb-0045"),
    ("渣土处置证几天能办好", "kb-0008"),
    ("我提交的申请到哪一步了", "kb-0112"),
])
def test_colloquial_questions_find_the_entry(question: str, expected: str) -> None:
    hits = shipped_index().search(analyzer(), question)
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


def test_hand_over_when_asked_and_route_another_departments_matter_to_12345() -> None:
    assert respond(build(), analyzer(), DialogueState(), "转人工").handover_reason == "user_asked"
    for question, department in [("社保断缴了几个月怎么补缴", "人力资源和社会保障"), ("公积金怎么提取出来付房租", "公积金"),
                                 ("護照過期了去哪裡換", "公安")]:
        reply = respond(shipped_index(), analyzer(), DialogueState(), question)
        assert reply.action == "handover" and reply.hit is None and reply.handover_reason == "out_of_scope", question
        assert reply.department and department in reply.department


def test_a_term_the_knowledge_base_uses_is_not_another_departments() -> None:
    index = shipped_index()
    # 营业执照 is a material the bureau's own entries name; 社保 is not.
    assert index.understand(analyzer(), "开洗车店要营业执照吗").other_departments == []
    assert index.understand(analyzer(), "社保怎么交").other_departments == ["社保"]


def test_an_in_scope_question_without_an_answer_goes_to_the_help_desk_not_to_12345() -> None:
    reply = respond(shipped_index(), analyzer(), DialogueState(), "行道树的落叶谁来扫")
    assert reply.action == "handover" and reply.handover_reason == "low_confidence" and reply.confidence < 0.5


def test_a_new_matter_starts_a_new_topic() -> None:
    state = DialogueState()
    index = build()
    assert respond(index, analyzer(), state, "移树收费吗").hit.entry.id == "t-3"
    reply = respond(index, analyzer(), state, "那建筑垃圾处置核准多久")
    assert reply.hit.entry.id == "t-4" and state.matters == ["城市建筑垃圾处置核准"]


def test_a_follow_up_about_the_platform_is_not_held_to_the_conversations_matter() -> None:
    state = DialogueState()
    index = build()
    assert respond(index, analyzer(), state, "移树收费吗").hit.entry.id == "t-3"
    reply = respond(index, analyzer(), state, "交了以后在哪里看进度")
    assert reply.action == "progress" and reply.hit.entry.id == "t-8"


def test_lexicon_synonyms_are_read_as_canonical_tokens() -> None:
    lexicon = Lexicon.load({"words": [], "synonyms": {"迁移 树木": ["挪树"]}, "stopwords": [], "intents": {},
                            "matter_signals": {}, "clarify_between": [], "handover_phrases": [], "solved_phrases": []})
    assert lexicon.synonyms["挪树"] == ("迁移", "树木")


def test_held_set_regression_guard() -> None:
    """Not a target — the shipped model was fitted on these questions, so these are in-sample figures;
    the honest ones are cross-validated by ``make eval`` (tests/bench/assistant_model.py). A guard that a
    change to the lexicon, the readings or the model does not quietly make the assistant much worse."""
    index = shipped_index()
    questions = read_jsonl("questions.jsonl")
    right = handed_right = handed = 0
    for q in questions:
        reply = respond(index, analyzer(), DialogueState(), q["q"])
        right += bool(q["expected"]) and reply.hit is not None and reply.hit.entry.id == q["expected"]
        if reply.action == "handover":
            handed += 1
            handed_right += q["expected"] is None
    answerable = sum(1 for q in questions if q["expected"])
    assert right / answerable >= 0.85
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
    """Written in an earlier round, before the grown set; none of them is in it."""
    index = shipped_index()
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
    reply = respond(shipped_index(), analyzer(), DialogueState(), question)
    assert reply.action == "answer" and reply.hit.entry.id == expected


def test_traditional_characters_read_as_simplified() -> None:
    a = analyzer()
    assert a.tokens("遷移樹木審批要幾個工作日") == a.tokens("迁移树木审批要几个工作日")
    reply = respond(build(), a, DialogueState(), "遷移樹木審批要幾個工作日")
    assert reply.action == "answer" and reply.hit.entry.id == "t-2"


def test_homophone_misspellings_are_read_as_the_word_that_sounds_alike() -> None:
    a = analyzer()
    assert a.sounds("检役证") == a.sounds("检疫证")
    index = shipped_index()
    # 流成 is nowhere in the base; 流程 sounds the same and is.
    understood = index.understand(a, "户外招牌审批的流成是什么")  # the segmenter cuts 流成 into 流 / 成
    assert "流程" in understood.chars and "流程" not in a.chars("户外招牌审批的流成是什么")
    # A misspelt word the segmenter keeps whole is read as the word it sounds like too.
    understood = index.understand(a, "找朋友代办要带身分证吗")
    assert "身份证" in understood.tokens and any({"身分证", "身份证"} <= g for g in understood.groups)
    assert "身份证" not in a.tokens("找朋友代办要带身分证吗")


def test_character_bigrams_find_an_entry_the_segmenter_splits_differently() -> None:
    a = analyzer()
    assert a.chars("CITES植物审批") == ["cites", "植物", "物审", "审批"]
    hits = build().search(a, "迁移树木审批多少个工作日")
    assert hits[0].entry.id == "t-2"


def test_what_the_person_does_not_mean_is_left_out() -> None:
    a = analyzer()
    assert a.affirmed("不是移树，是苗木要运到外地去卖") == "是苗木要运到外地去卖"
    assert a.affirmed("是长期的那种，不是临时挂几天的横幅") == "是长期的那种"
    assert a.affirmed("不是") == "不是"  # nothing else said: kept as it is
    assert a.affirmed("招牌要不要备案") == "招牌要不要备案"


def test_a_question_naming_two_matters_is_asked_back_rather_than_handed_over() -> None:
    """With a model that trusts no answer (threshold 0), a question naming two matters gets one question
    back; asked again, it goes to a human."""
    unsure = dataclasses.replace(analyzer().model, handover_threshold=0.0)
    state = DialogueState()
    reply = respond(shipped_index(), analyzer(), state, "检疫证怎么弄", unsure)
    assert reply.action == "clarify" and "调运" in reply.clarify_zh and "产地检疫" in reply.clarify_zh
    assert reply.clarify_en and state.clarifications == 1
    reply = respond(shipped_index(), analyzer(), state, "就是检疫证", unsure)
    assert reply.action == "handover" and reply.handover_reason == "low_confidence"


def test_the_want_of_a_question_comes_from_how_it_is_put_as_well_as_from_cue_words() -> None:
    """要几个工作天 names no cue word of the lexicon; the aspect classifier still reads a time limit."""
    a = analyzer()
    index = shipped_index()
    probabilities = a.model.categories.probabilities(index.understand(a, "店招备案要几个工作天").terms)
    assert max(probabilities, key=lambda c: probabilities[c]) == "time_limit"


def test_the_shipped_model_is_for_these_features_and_refuses_another() -> None:
    data = json.loads(model_text())
    assert data["ranker"]["features"] == list(RANK_FEATURES) and data["handover"]["features"] == list(HANDOVER_FEATURES)
    assert 0 < data["handover"]["threshold"] < 1
    data["ranker"]["features"] = data["ranker"]["features"][:-1]
    with pytest.raises(ValueError, match="fit it again"):
        Model.load(data)


def test_the_shipped_model_was_fitted_on_the_held_data_as_it_is() -> None:
    """model.json is what ``tests/bench/assistant_model.py --write`` makes of tests/knowledge/data: no
    number in it is set by hand, and a change of the data without a refit fails here."""
    about = analyzer().model.about
    questions = read_jsonl("questions.jsonl")
    assert about["questions"] == len(questions)
    writers: dict[str, int] = {}
    for q in questions:
        writers[q["writer"]] = writers.get(q["writer"], 0) + 1
    assert about["writers"] == writers


def test_an_entry_an_editor_adds_is_found_by_its_own_words_and_by_its_aspect() -> None:
    """New entries have no matter or category evidence of their own yet and no question was fitted on
    them: the whole of a question in an entry's own questions puts it first, and the aspect tells two
    new entries of one topic apart."""
    faq = [json.loads(x) for x in shipped_corpus().decode("utf-8").splitlines() if x.strip()]
    rows = [(d["id"], d["matter"], d["category"], d["question"], d["similar"], d["answer"]) for d in faq] + [
        ("new-materials", None, "materials", "绿化工程竣工验收要准备什么？", [], "准备竣工图和养护方案。"),
        ("new-time", None, "time_limit", "绿化工程竣工验收多久？", ["竣工验收几天"], "10个工作日。"),
        ("new-subsidy", None, "process", "古树名木养护补贴怎么申请？", ["古树养护有没有补贴"], "向所在区绿化管理部门申请。"),
    ]
    index = build(rows)
    a = analyzer()
    assert index.search(a, "古树名木养护补贴")[0].entry.id == "new-subsidy"  # its own words, whole
    assert index.search(a, "绿化工程竣工验收要多久")[0].entry.id == "new-time"
    assert index.search(a, "竣工验收要准备哪些材料")[0].entry.id == "new-materials"
    # Three bigrams are too few to claim a question whole: 迁移树木 is in many entries' questions.
    assert index.search(a, "迁移树木")[0].score < 1.0

/** 智能客服 "小申": ask in one's own words; under each answer the question "这个回答解决了您的问题吗"
 * — a yes counts the conversation resolved, a no offers a human desk (the person's own word, issue 21). */
import type { Schemas } from "@lvrong/client";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, unwrap } from "../../shared/api";
import { pick, t, useLanguage } from "../../shared/i18n";
import { ProblemView, problemOf } from "../../shared/ui";
import type { Problem } from "@lvrong/client";

type Reply = Schemas["AssistantReply"];
type Confirmation = Schemas["ConfirmationView"];

interface Turn { question: string; reply: Reply; confirmation?: Confirmation }

export function Assistant() {
  useLanguage();
  const [session, setSession] = useState<string | null>(null);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const started = useRef(false);

  useEffect(() => {
    if (started.current) return;
    started.current = true;
    unwrap(api.POST("/v1/assistant/sessions", { body: { channel: "web" } }))
      .then((s) => setSession(s.id), (error) => setProblem(problemOf(error)));
  }, []);

  async function ask(event: Event) {
    event.preventDefault();
    const question = text.trim();
    if (!session || !question) return;
    setBusy(true);
    setProblem(null);
    try {
      const reply = await unwrap(api.POST("/v1/assistant/sessions/{session_id}/messages", {
        params: { path: { session_id: session } }, body: { text: question } }));
      setTurns((all) => [...all, { question, reply }]);
      setText("");
    } catch (error) {
      setProblem(problemOf(error));
    } finally {
      setBusy(false);
    }
  }

  async function confirm(index: number, resolved: boolean, handOver = false) {
    const turn = turns[index];
    if (!session || turn.reply.answer_seq == null) return;
    setProblem(null);
    try {
      const confirmation = await unwrap(api.PUT("/v1/assistant/sessions/{session_id}/answers/{answer_seq}/confirmation", {
        params: { path: { session_id: session, answer_seq: turn.reply.answer_seq } },
        body: { resolved, hand_over: handOver } }));
      setTurns((all) => all.map((x, i) => (i === index ? { ...x, confirmation } : x)));
    } catch (error) {
      setProblem(problemOf(error));
    }
  }

  return (
    <section aria-labelledby="assistant-title">
      <h2 id="assistant-title">{t("智能客服", "Ask the assistant")}</h2>
      <ProblemView problem={problem} />
      <ol class="app-list" aria-live="polite">
        {turns.map((turn, index) => (
          <li class="card app-item" id={`turn-${index}`}>
            <p class="hint">{t("您问：", "You asked: ")}<span lang="zh-CN">{turn.question}</span></p>
            <p class="app-answer">{turn.reply.answer_en ? pick(turn.reply.answer, turn.reply.answer_en) : turn.reply.answer}</p>
            {turn.reply.confirm && <ConfirmBox turn={turn} onConfirm={(yes, handOver) => confirm(index, yes, handOver)} />}
          </li>
        ))}
      </ol>
      <form onSubmit={ask} class="card">
        <label for="assistant-question">{t("请输入您的问题", "Your question")}</label>
        <input id="assistant-question" value={text} maxLength={500} required
          onInput={(e) => setText((e.target as HTMLInputElement).value)} />
        <button type="submit" class="primary" disabled={!session || busy}>{t("提问", "Ask")}</button>
      </form>
    </section>
  );
}

function ConfirmBox(props: { turn: Turn; onConfirm: (resolved: boolean, handOver?: boolean) => void }) {
  const prompt = props.turn.reply.confirm!;
  const done = props.turn.confirmation;
  if (!done) {
    return (
      <div class="app-confirm" role="group" aria-label={pick(prompt.question_zh, prompt.question_en)}>
        <p>{pick(prompt.question_zh, prompt.question_en)}</p>
        <button type="button" onClick={() => props.onConfirm(true)}>{t("已解决", "Yes, solved")}</button>{" "}
        <button type="button" onClick={() => props.onConfirm(false)}>{t("未解决", "No")}</button>
      </div>
    );
  }
  if (done.resolved) return <p role="status">{t("感谢您的确认。", "Thank you for telling us.")}</p>;
  if (done.handed_over) {
    return <p role="status">{t("已为您转接人工帮办，工作人员会尽快联系您。", "Passed to a member of staff, who will contact you soon.")}</p>;
  }
  return (
    <div class="app-confirm" role="status">
      {done.handover_offer && <p>{pick(done.handover_offer.text_zh, done.handover_offer.text_en)}</p>}
      <button type="button" class="primary" onClick={() => props.onConfirm(false, true)}>{t("转人工帮办", "Talk to a person")}</button>
    </div>
  );
}

"""Measures of pre-fill and pre-review per matter and period, for the cockpit — computed in SQL.

All from the service's own tables: the read models fed by events (``prefill_submissions``,
``prefill_status_changes``), the verdicts it issued and the pre-fills it handed out. Periods are
calendar days in Asia/Shanghai, ``from`` and ``to`` inclusive (by default this month up to today,
``kit.kpi.period``); each rate's definition is returned beside it (``definitions``).

* **pre-review coverage** — applications first submitted in the period that got an automatic
  verdict / those applications (``decided`` counts only passed/returned, not needs_human_review);
* **first-time acceptance** (首次申请受理成功率) — applications accepted in the period with no
  ``returned`` before the acceptance / applications whose acceptance was decided in the period
  (accepted or refused, from svc-matters' status events): a refusal lowers it (issue 21);
* **pre-fill ratio** — fields pre-filled / fields in the form, over pre-fills handed out in the
  period; **kept unchanged** — pre-filled fields whose value in the applicant's next submission of that
  matter (the first one after the pre-fill) equals the pre-filled value / pre-filled fields of the
  pre-fills followed by a submission;
* **wrongly blocked** — applications the pre-review returned (verdict in the period) that were
  resubmitted with exactly the same form and materials and then accepted / applications returned.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from kit import kpi
from prequal import messages as M
from prequal.schemas import MeasuresView

MEASURES = text("""
WITH
subs AS (
  SELECT s.application_id, s.matter_code FROM prefill_submissions s
  WHERE s.attempt = 1 AND (CAST(:matter AS text) IS NULL OR s.matter_code = :matter)
    AND (CAST(:t0 AS timestamptz) IS NULL OR s.submitted_at >= :t0)
    AND (CAST(:t1 AS timestamptz) IS NULL OR s.submitted_at < :t1)),
coverage AS (
  SELECT s.matter_code, count(*) AS submitted,
         count(*) FILTER (WHERE EXISTS (SELECT 1 FROM verdicts v WHERE v.application_id = s.application_id))
           AS prereviewed,
         count(*) FILTER (WHERE EXISTS (SELECT 1 FROM verdicts v WHERE v.application_id = s.application_id
                                        AND v.verdict IN ('passed', 'returned'))) AS decided
  FROM subs s GROUP BY s.matter_code),
accepted AS (
  SELECT DISTINCT ON (a.application_id) a.application_id, a.matter_code, a.occurred_at, a.to_status
  FROM prefill_status_changes a
  WHERE a.to_status IN ('accepted', 'refused') AND (CAST(:matter AS text) IS NULL OR a.matter_code = :matter)
    AND (CAST(:t0 AS timestamptz) IS NULL OR a.occurred_at >= :t0)
    AND (CAST(:t1 AS timestamptz) IS NULL OR a.occurred_at < :t1)
  ORDER BY a.application_id, a.occurred_at),
acceptance AS (
  SELECT a.matter_code, count(*) AS acceptance_decided, count(*) FILTER (WHERE a.to_status = 'accepted') AS accepted,
         count(*) FILTER (WHERE a.to_status = 'accepted' AND NOT EXISTS (
           SELECT 1 FROM prefill_status_changes r
           WHERE r.application_id = a.application_id AND r.to_status = 'returned' AND r.occurred_at <= a.occurred_at))
           AS accepted_first_time
  FROM accepted a GROUP BY a.matter_code),
prefilled AS (
  SELECT p.matter_code, p.fields_total,
         (SELECT count(*) FROM jsonb_object_keys(p.filled)) AS filled,
         n.form IS NOT NULL AS followed,
         (SELECT count(*) FROM jsonb_each(p.filled) f
          WHERE coalesce(n.form -> f.key -> '$digest', n.form -> f.key) = coalesce(f.value -> '$digest', f.value)) AS kept
  FROM prefills p
  LEFT JOIN LATERAL (
    SELECT s.form FROM prefill_submissions s
    WHERE s.applicant_subject = p.applicant_subject AND s.matter_code = p.matter_code AND s.attempt = 1
      AND s.submitted_at >= p.created_at
    ORDER BY s.submitted_at LIMIT 1) n ON true
  WHERE (CAST(:matter AS text) IS NULL OR p.matter_code = :matter)
    AND (CAST(:t0 AS timestamptz) IS NULL OR p.created_at >= :t0)
    AND (CAST(:t1 AS timestamptz) IS NULL OR p.created_at < :t1)),
prefill AS (
  SELECT matter_code, count(*) AS prefills, sum(fields_total) AS form_fields, sum(filled) AS fields_prefilled,
         count(*) FILTER (WHERE followed) AS prefills_submitted,
         coalesce(sum(filled) FILTER (WHERE followed), 0) AS fields_prefilled_submitted,
         coalesce(sum(kept) FILTER (WHERE followed), 0) AS fields_kept
  FROM prefilled GROUP BY matter_code),
returned AS (
  SELECT DISTINCT ON (v.application_id) v.application_id, v.matter_code,
         EXISTS (
           SELECT 1 FROM verdicts rv
           JOIN prefill_submissions s1 ON s1.application_id = rv.application_id AND s1.attempt = rv.attempt
           JOIN prefill_submissions s2 ON s2.application_id = rv.application_id AND s2.attempt = rv.attempt + 1
           WHERE rv.application_id = v.application_id AND rv.verdict = 'returned'
             AND s1.materials = s2.materials
             -- the same form: personal values are compared by their keyed hash (kit.protection)
             AND NOT EXISTS (SELECT 1 FROM jsonb_each(s1.form) a FULL JOIN jsonb_each(s2.form) b USING (key)
                             WHERE coalesce(a.value -> '$digest', a.value) IS DISTINCT FROM coalesce(b.value -> '$digest', b.value))
             AND EXISTS (SELECT 1 FROM prefill_status_changes a WHERE a.application_id = rv.application_id
                         AND a.to_status = 'accepted' AND a.occurred_at >= s2.submitted_at)) AS wrongly
  FROM verdicts v
  WHERE v.verdict = 'returned' AND (CAST(:matter AS text) IS NULL OR v.matter_code = :matter)
    AND (CAST(:t0 AS timestamptz) IS NULL OR v.submitted_at >= :t0)
    AND (CAST(:t1 AS timestamptz) IS NULL OR v.submitted_at < :t1)
  ORDER BY v.application_id),
blocking AS (
  SELECT matter_code, count(*) AS returned_by_prereview, count(*) FILTER (WHERE wrongly) AS wrongly_blocked
  FROM returned GROUP BY matter_code),
codes AS (
  SELECT matter_code FROM coverage UNION SELECT matter_code FROM acceptance
  UNION SELECT matter_code FROM prefill UNION SELECT matter_code FROM blocking)
SELECT c.matter_code,
       coalesce(cv.submitted, 0) AS submitted, coalesce(cv.prereviewed, 0) AS prereviewed,
       coalesce(cv.decided, 0) AS decided,
       coalesce(ac.accepted, 0) AS accepted, coalesce(ac.accepted_first_time, 0) AS accepted_first_time,
       coalesce(ac.acceptance_decided, 0) AS acceptance_decided,
       coalesce(pf.prefills, 0) AS prefills, coalesce(pf.form_fields, 0) AS form_fields,
       coalesce(pf.fields_prefilled, 0) AS fields_prefilled, coalesce(pf.prefills_submitted, 0) AS prefills_submitted,
       coalesce(pf.fields_prefilled_submitted, 0) AS fields_prefilled_submitted,
       coalesce(pf.fields_kept, 0) AS fields_kept,
       coalesce(bl.returned_by_prereview, 0) AS returned_by_prereview,
       coalesce(bl.wrongly_blocked, 0) AS wrongly_blocked
FROM codes c
LEFT JOIN coverage cv USING (matter_code) LEFT JOIN acceptance ac USING (matter_code)
LEFT JOIN prefill pf USING (matter_code) LEFT JOIN blocking bl USING (matter_code)
ORDER BY c.matter_code
""")

COUNTS = ("submitted", "prereviewed", "decided", "accepted", "accepted_first_time", "acceptance_decided", "prefills",
          "form_fields",
          "fields_prefilled", "prefills_submitted", "fields_prefilled_submitted", "fields_kept",
          "returned_by_prereview", "wrongly_blocked")


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def with_ratios(counts: dict[str, int]) -> dict[str, Any]:
    return {**counts,
            "prereview_coverage": _ratio(counts["prereviewed"], counts["submitted"]),
            "automatic_decision_rate": _ratio(counts["decided"], counts["submitted"]),
            "first_time_acceptance_rate": _ratio(counts["accepted_first_time"], counts["acceptance_decided"]),
            "prefill_ratio": _ratio(counts["fields_prefilled"], counts["form_fields"]),
            "prefill_kept_ratio": _ratio(counts["fields_kept"], counts["fields_prefilled_submitted"]),
            "wrongly_blocked_rate": _ratio(counts["wrongly_blocked"], counts["returned_by_prereview"])}


PLAN_ITEM_1 = "2023年工作方案附件 第1项 / work plan 2023, annex item 1"
# What each rate divides, returned beside the figures (kit.kpi).
DEFINITIONS: dict[str, kpi.Definition] = {
    "prereview_coverage": kpi.rate(M.KPI_PREREVIEW_COVERAGE, M.KPI_PREREVIEWED_WHAT, M.KPI_SUBMITTED_WHAT, target=0.9,
                                   source=PLAN_ITEM_1),
    "automatic_decision_rate": kpi.rate(M.KPI_AUTOMATIC, M.KPI_DECIDED_WHAT, M.KPI_SUBMITTED_WHAT),
    "first_time_acceptance_rate": kpi.rate(M.KPI_FIRST_TIME, M.KPI_FIRST_TIME_WHAT, M.KPI_ACCEPTANCE_DECIDED_WHAT,
                                           target=0.9, source=PLAN_ITEM_1),
    "prefill_ratio": kpi.rate(M.KPI_PREFILL, M.KPI_PREFILLED_WHAT, M.KPI_FORM_FIELDS_WHAT, target=0.7,
                              source=PLAN_ITEM_1),
    "prefill_kept_ratio": kpi.rate(M.KPI_KEPT, M.KPI_KEPT_WHAT, M.KPI_PREFILLED_SUBMITTED_WHAT),
    "wrongly_blocked_rate": kpi.rate(M.KPI_WRONGLY_BLOCKED, M.KPI_WRONGLY_BLOCKED_WHAT, M.KPI_RETURNED_WHAT),
}


async def measures(session: AsyncSession, matter: str | None, start: dt.date | None,
                   end: dt.date | None) -> MeasuresView:
    period = kpi.period(start, end)
    rows = (await session.execute(MEASURES, {"matter": matter, "t0": period.start, "t1": period.end})).mappings().all()
    items = [{"matter_code": r["matter_code"], **with_ratios({k: int(r[k]) for k in COUNTS})} for r in rows]
    total = with_ratios({k: sum(i[k] for i in items) for k in COUNTS})
    return MeasuresView.model_validate({"matter": matter, "from": period.from_date, "to": period.to_date,
                                        "timezone": "Asia/Shanghai", "items": items, "total": total,
                                        "definitions": DEFINITIONS})

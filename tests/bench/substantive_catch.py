"""How many applications with a substantive mistake the pre-review returns, before (rule sets version 1, the
generated required/format checks) and after (version 2, with the substantive rules of each matter's legal
basis, ``prequal.service.substantive``) — on one generated batch, both versions evaluated on the same forms.

The batch is made as ``gen_prequal_batch.py`` makes its applications (round-robin over the 18 matters of the
catalogue; each form a valid one with the applicant's own site, names, district, quantities and dates,
``Batch.fresh_values``; every material uploaded), then:

* ``--formal`` (default 15%) carry one formal mistake, as ``gen_prequal_batch.py`` puts them in (``Batch.mistake``:
  a wrong check character in the credit code, a required material left out, dates the wrong way round, a
  district outside Shanghai);
* ``--substantive`` (default 12%, disjoint from the formal ones) carry one substantive mistake, drawn among
  ``MISTAKES`` of the matter: what applicants get wrong against the law — a period longer than the law
  allows, a material the case requires left out (the applicant did not know the case needs it), a
  commitment not given, quantities that cannot be right — and, for one draw in ten, ``unseen``: a mistake
  the form cannot show (a material that does not support the form, e.g. a lease for another address),
  which no rule over the form can catch and is there to keep the figure honest.

The proportions are assumptions, not the bureau's statistics (the platform has none yet): 15% formal as
``gen_prequal_batch.py``, 12% substantive. Only the rule sets are evaluated (in process, no service): the
comparison's checks (``compare.*``) do not depend on the version.

Usage: uv run python tests/bench/substantive_catch.py [--applications 3600] [--formal 0.15] [--substantive 0.12]
       [--seed 7]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

from gen_prequal_batch import Batch  # noqa: E402

from prequal.service.rules import compile_rules, shipped_rulesets, verdict_of  # noqa: E402

CATALOGUE = json.loads((ROOT / "svc-matters/src/matters/catalogue/matters.json").read_text("utf-8"))
Form = dict[str, Any]
Materials = dict[str, Any]
Mistake = Callable[[Form, Materials, dt.date], None]


def _set(**values: Any) -> Mistake:
    def apply(form: Form, materials: Materials, today: dt.date) -> None:
        form.update(values)
    return apply


def _drop(material: str, **values: Any) -> Mistake:
    def apply(form: Form, materials: Materials, today: dt.date) -> None:
        form.update(values)
        materials.pop(material, None)
    return apply


def _period(days: int, start_in: int = 5, **values: Any) -> Mistake:
    def apply(form: Form, materials: Materials, today: dt.date) -> None:
        form.update(values)
        start = today + dt.timedelta(days=start_in)
        form["start_date"], form["end_date"] = start.isoformat(), (start + dt.timedelta(days=days)).isoformat()
    return apply


def _same_site(form: Form, materials: Materials, today: dt.date) -> None:
    form["to_address"] = form["from_address"]


def _last_year(form: Form, materials: Materials, today: dt.date) -> None:
    form["declaration_year"] = today.year - 1


# matter → (kind, what it does to the application); each kind is a mistake applicants make against the law.
MISTAKES: dict[str, list[tuple[str, Mistake]]] = {
    "LR-XK-001": [("out-of-province without the destination's requirements", _drop("destination_requirement", destination="江苏省苏州市")),
                  ("seedlings without an origin certificate", _drop("origin_quarantine_certificate", product_category="seedlings"))],
    "LR-XK-002": [("volume beyond the vehicles' capacity", _period(20, waste_volume_m3=60000.0, vehicle_count=2)),
                  ("disposal period over a year", _period(420))],
    "LR-XK-003": [("import without the export permit", _drop("foreign_cites_permit", direction="import")),
                  ("trade without the contract", _drop("trade_contract", purpose="commercial"))],
    "LR-XK-004": [("import without the export permit", _drop("foreign_cites_permit", direction="import")),
                  ("wild-collected plants for export", _set(direction="export", source_type="wild"))],
    "LR-XK-005": [("rooftop sign without the structural safety design", _drop("structural_safety", mounting_position="rooftop")),
                  ("oversized projecting sign", _set(mounting_position="projecting", width_m=3.0, height_m=2.5))],
    "LR-XK-006": [("public site without the right to use it", _drop("public_site_right", site_type="public_site")),
                  ("LED screen without the light control plan", _drop("light_control_plan", facility_type="led_screen")),
                  ("start more than a year away", _period(300, start_in=420))],
    "LR-XK-007": [("18 months of temporary use", _period(545)),
                  ("no restoration commitment", _set(restoration_committed=False)),
                  ("trees affected without a protection plan", _drop("tree_protection_plan", affects_trees=True))],
    "LR-XK-008": [("a reason the regulation does not allow", _set(reason="other")),
                  ("a trunk that may be a heritage tree", _set(max_trunk_diameter_cm=110.0)),
                  ("transplant site the same as the present one", _same_site)],
    "LR-XK-009": [("public site without the authority's consent", _drop("public_site_consent", on_public_site=True)),
                  ("applied for five months ahead", _period(10, start_in=150))],
    "LR-XK-010": [("the area in 亩 where m² is asked", _set(seedling_quantity=1200000, nursery_area_m2=1500.0)),
                  ("sold out of town without a seed licence", _drop("seed_licence", planned_dispatch=True))],
    "LR-XK-011": [("purchase without the contract", _drop("trade_contract", activity="purchase")),
                  ("live animals without the facilities statement", _drop("facility_statement", specimen_type="live")),
                  ("an unexplained special purpose", _set(purpose="other"))],
    "LR-XK-012": [("park green space for a private project", _set(green_space_type="park", public_facility=False)),
                  ("park green space paid off instead of rebuilt", _set(green_space_type="park", compensation_mode="compensation_fee")),
                  ("trees affected without a transplant plan", _drop("tree_transplant_plan", affected_tree_count=25))],
    "LR-XK-013": [("a depot too small for the fleet", _set(vehicle_count=40, parking_area_m2=300.0)),
                  ("fewer staff than vehicles", _set(vehicle_count=30, staff_count=12, parking_area_m2=2000.0))],
    "LR-XK-014": [("30 months of temporary use", _period(900, use_type="temporary")),
                  ("an area beyond the city's authority", _set(forest_category="public_welfare", forest_area_m2=180000.0))],
    "LR-BA-001": [("no water recycling", _set(water_recycling=False)), ("no sedimentation and grease separation", _set(sewage_treatment=False))],
    "LR-BA-002": [("last year's declaration", _last_year),
                  ("more oil than kitchen waste", _set(daily_kitchen_waste_kg=8.0, daily_waste_oil_kg=20.0)),
                  ("under-declared kitchen waste", _set(business_type="restaurant", seats=300, daily_kitchen_waste_kg=4.0))],
    "LR-BA-003": [("commitment not signed", _set(commitment_signed=False)), ("a sign too large to file", _set(width_m=28.0, height_m=1.5))],
    "LR-BA-004": [("more facilities than may be filed", _set(quantity=12, area_m2=8.0))],
}
UNSEEN = "unseen: a material that does not support the form"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--applications", type=int, default=3600)
    parser.add_argument("--formal", type=float, default=0.15)
    parser.add_argument("--substantive", type=float, default=0.12)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    today = dt.date.today()
    versions = {v: {code: compile_rules(f"{code}@v{v}", doc["rules"]) for code, doc in shipped_rulesets(v).items()}
                for v in (1, 2)}
    maker = Batch(None, argparse.Namespace())  # type: ignore[arg-type]  # its form-making only, no client
    tally: Counter[tuple[str, str, str]] = Counter()  # (group, version, verdict)
    kinds: Counter[tuple[str, str, str]] = Counter()  # (matter, kind, "v1 verdict → v2 verdict")
    elapsed = {1: 0.0, 2: 0.0}
    for i in range(args.applications):
        m = CATALOGUE[i % len(CATALOGUE)]
        rng = random.Random(args.seed * 1_000_003 + i)
        form = maker.fresh_values(rng, m, 1000 + i)
        materials: Materials = {x["code"]: {"kind": "upload", "material_id": f"m{i}-{x['code']}"} for x in m["materials"]}
        draw = rng.random()
        group, kind = "clean", ""
        if draw < args.formal:
            made = maker.mistake(rng, m, form, materials)
            group, kind = ("formal", made[0]) if made else ("clean", "")
        elif draw < args.formal + args.substantive:
            group = "substantive"
            if rng.random() < 0.1:
                kind = UNSEEN
            else:
                kind, apply = rng.choice(MISTAKES[m["code"]])
                apply(form, materials, today)
        verdicts = {}
        for v in (1, 2):
            t0 = time.process_time()
            verdicts[v] = verdict_of(versions[v][m["code"]].evaluate(form, materials, today))
            elapsed[v] += time.process_time() - t0
            tally[group, f"v{v}", verdicts[v]] += 1
        if group == "substantive":
            kinds[m["code"], kind, f"{verdicts[1]} → {verdicts[2]}"] += 1

    print(f"{args.applications} applications over {len(CATALOGUE)} matters (seed {args.seed}, formal mistakes "
          f"{args.formal:.0%}, substantive {args.substantive:.0%}), evaluated on {today}\n")
    print(f"{'group':<12} {'n':>5} | {'v1 returned':>11} {'v1 review':>9} {'v1 passed':>9} | "
          f"{'v2 returned':>11} {'v2 review':>9} {'v2 passed':>9}")
    for group in ("clean", "formal", "substantive"):
        n = sum(c for (g, v, _), c in tally.items() if g == group and v == "v1")
        cells = [tally[group, v, verdict] for v in ("v1", "v2") for verdict in ("returned", "needs_human_review", "passed")]
        print(f"{group:<12} {n:>5} | {cells[0]:>11} {cells[1]:>9} {cells[2]:>9} | {cells[3]:>11} {cells[4]:>9} {cells[5]:>9}")
    print("\nsubstantive mistakes by kind (v1 verdict → v2 verdict):")
    for (code, kind, change), count in sorted(kinds.items()):
        print(f"  {code}  {kind:<52} {change:<34} {count:>4}")
    per = {v: elapsed[v] / args.applications * 1000 for v in (1, 2)}
    print(f"\nrule evaluation per application: v1 {per[1]:.3f} ms, v2 {per[2]:.3f} ms (mean CPU time of this process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

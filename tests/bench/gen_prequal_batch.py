"""A realistic batch of applications through the gateway, then the pre-review coverage and the pre-fill
ratio as ``GET /v1/prequal/measures`` reports them.

Starts the whole suite on free ports (against DATABASE_URL / NATS_URL, or local servers started like
`make run` does), with its own databases (prefix ``lvrong_prefill_batch``), then generates
``--applications`` applications (default 300) round-robin over the 18 matters of the catalogue, each
filed by one of the two demo applicants (the company and the person, at random):

1. the applicant asks for a pre-fill (``POST /v1/prequal/prefill``); the first application of a matter
   gets 404 (the service has not seen that matter's form yet) and starts from an empty form;
2. the applicant keeps what was pre-filled that identifies them (type, credit code / ID number, contact)
   and their usual choices (enums, yes/no, district), and types in what describes this application: the
   site address and free-text names (unique per application, so no two are "the same object"), the
   quantities and the dates — as a real applicant re-using the platform would;
3. about ``--mistakes`` (default 15%) carry one typical mistake, chosen among those the matter allows:
   a wrong check character in the unified social credit code, a required material left out, an end date
   before the start date, a district outside Shanghai;
4. the verdict is awaited; a returned application is corrected by the applicant (补正, only the mistaken
   field or material) and resubmitted; the window officer accepts every pre-reviewed one.

Then prints the measures of the day for the batch: per matter and in total.
Usage: python tests/bench/gen_prequal_batch.py [--applications 300] [--mistakes 0.15] [--seed 7]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from kit.identifiers import SHANGHAI_DISTRICTS, USCC_CHARSET  # noqa: E402
from support import all_materials, fresh_suite, valid_form  # noqa: E402

PREFIX = "lvrong_prefill_batch"
APPLICANTS = ("applicant-company", "applicant-person")
KEPT_KEYS = {"applicant_type", "applicant_uscc", "applicant_id_number", "contact_name", "contact_mobile"}
ROADS = ("世纪大道", "漕溪北路", "南京西路", "淮海中路", "四川北路", "张杨路", "沪太路", "虹桥路", "共和新路", "龙华中路")
SHOPS = ("绿源", "青松", "沪林", "申花", "锦绣", "长青", "浦江", "百合", "银杏", "香樟")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Batch:
    def __init__(self, client: httpx.AsyncClient, args: argparse.Namespace) -> None:
        self.client = client
        self.args = args
        self.tokens: dict[str, str] = {}
        self.matters: list[dict[str, Any]] = []
        self.uploads: dict[tuple[str, str], dict[str, str]] = {}
        self.stats: Counter[str] = Counter()
        self.serial = 0

    async def token(self, user: str) -> str:
        if user not in self.tokens:
            r = await self.client.post("/auth/token", data={"grant_type": "password", "username": user, "password": "demo"})
            r.raise_for_status()
            self.tokens[user] = r.json()["access_token"]
        return self.tokens[user]

    async def setup(self) -> None:
        tok = await self.token(APPLICANTS[0])
        codes = [f"LR-XK-{n:03d}" for n in range(1, 15)] + [f"LR-BA-{n:03d}" for n in range(1, 5)]  # the 18 matters
        for code in codes:
            self.matters.append((await self.client.get(f"/v1/matters/{code}", headers=bearer(tok))).json())
        for user in APPLICANTS:
            for m in self.matters:
                self.uploads[(user, m["code"])] = await all_materials(self.client, await self.token(user), m)

    def fresh_values(self, rng: random.Random, m: dict[str, Any], seed: int) -> dict[str, Any]:
        """What the applicant types for this application: unique site and names, quantities, dates."""
        self.serial += 1
        n = self.serial
        form = valid_form(m, seed)
        addresses = 0
        for f in m["fields"]:
            key, typ = f["key"], f["type"]
            if typ == "address":  # two addresses of one application (a tree's site and where it goes) differ
                form[key] = f"{rng.choice(ROADS)}{n}号" if not addresses else f"{rng.choice(ROADS)}{n}弄{addresses + 1}号"
                addresses += 1
            elif typ == "district":
                form[key] = rng.choice(SHANGHAI_DISTRICTS)
            elif typ in ("string", "text") and key not in KEPT_KEYS:
                form[key] = f"{rng.choice(SHOPS)}{f['label'][:6]}{n}"[: f.get("max_length") or 60]
            elif typ == "integer" and f.get("max") is None:
                form[key] = int(max(f.get("min") or 1, 1)) + rng.randrange(3)
        return form

    def mistake(self, rng: random.Random, m: dict[str, Any], form: dict[str, Any],
                materials: dict[str, str]) -> tuple[str, dict[str, Any]] | None:
        """Put one typical mistake in; returns its kind and the supplement (补正) that fixes it."""
        keys = {f["key"]: f for f in m["fields"]}
        options = []
        if "applicant_uscc" in form and form.get("applicant_type", "organisation") == "organisation":
            options.append("uscc")
        if any(x["required"] and not x.get("substitutes") for x in m["materials"]):
            options.append("material")
        if "start_date" in keys and "end_date" in keys:
            options.append("dates")
        if any(f["type"] == "district" for f in m["fields"]):
            options.append("district")
        if not options:
            return None
        kind = rng.choice(options)
        if kind == "uscc":
            good = form["applicant_uscc"]
            form["applicant_uscc"] = good[:-1] + next(c for c in USCC_CHARSET if c != good[-1])
            return kind, {"form": {"applicant_uscc": good}}
        if kind == "material":
            code = rng.choice([x["code"] for x in m["materials"] if x["required"] and not x.get("substitutes")])
            fix = {code: materials.pop(code)}
            return kind, {"materials": fix}
        if kind == "dates":
            fix = {"start_date": form["start_date"], "end_date": form["end_date"]}
            form["start_date"], form["end_date"] = form["end_date"], form["start_date"]
            return kind, {"form": fix}
        key = rng.choice([f["key"] for f in m["fields"] if f["type"] == "district"])
        fix = {key: form[key]}
        form[key] = rng.choice(("苏州市", "杭州市西湖区", "昆山市"))
        return kind, {"form": fix}

    async def wait(self, tok: str, app_id: str) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = (await self.client.get(f"/v1/applications/{app_id}", headers=bearer(tok))).json()["status"]
            if status not in ("submitted", "draft"):
                return status
            await asyncio.sleep(0.05)
        raise RuntimeError(f"no verdict for {app_id}")

    async def one(self, i: int) -> None:
        m = self.matters[i % len(self.matters)]
        rng = random.Random(self.args.seed * 1_000_003 + i)  # each application's own draws: reproducible
        user = rng.choice(APPLICANTS)
        tok = await self.token(user)
        r = await self.client.post("/v1/prequal/prefill", json={"matter_code": m["code"]}, headers=bearer(tok))
        prefilled: dict[str, Any] = {}
        if r.status_code == 200:
            prefilled = {k: v["value"] for k, v in r.json()["fields"].items()}
            self.stats["prefilled"] += 1
        elif r.status_code == 404:
            self.stats["prefill_cold_start"] += 1
        else:
            raise RuntimeError(f"prefill: HTTP {r.status_code} {r.text[:200]}")
        fresh = self.fresh_values(rng, m, 1000 + i)
        kept_types = ("enum", "boolean", "district")
        types = {f["key"]: f["type"] for f in m["fields"]}
        form = {**fresh, **{k: v for k, v in prefilled.items() if k in KEPT_KEYS or types.get(k) in kept_types}}
        materials = dict(self.uploads[(user, m["code"])])
        fix = self.mistake(rng, m, form, materials) if rng.random() < self.args.mistakes else None
        if fix:
            self.stats[f"mistake_{fix[0]}"] += 1
        r = await self.client.post("/v1/applications", json={"matter_code": m["code"], "form": form, "materials": materials},
                                   headers=bearer(tok))
        if r.status_code != 201:
            raise RuntimeError(f"submission: HTTP {r.status_code} {r.text[:300]}")
        app_id = r.json()["id"]
        self.stats["submitted"] += 1
        status = await self.wait(tok, app_id)
        self.stats[f"first_verdict_{status}"] += 1
        if fix and status != "returned":
            self.stats[f"mistake_not_returned:{m['code']}:{fix[0]}"] += 1
        if status == "returned":
            body = fix[1] if fix else {}
            if not fix:
                self.stats["returned_without_mistake"] += 1
                review = (await self.client.get(f"/v1/prequal/reviews/{app_id}", headers=bearer(tok))).json()
                for finding in review.get("findings", []):
                    self.stats[f"unexpected:{m['code']}:{finding['rule_id']}"] += 1
            r = await self.client.post(f"/v1/applications/{app_id}/actions/supplement", json=body, headers=bearer(tok))
            r.raise_for_status()
            status = await self.wait(tok, app_id)
            self.stats[f"after_correction_{status}"] += 1
        if status == "prereviewed":
            r = await self.client.post(f"/v1/applications/{app_id}/actions/accept", json={"reason": "材料齐全"},
                                       headers=bearer(await self.token("officer")))
            r.raise_for_status()
            self.stats["accepted"] += 1


async def run(args: argparse.Namespace, gateway: str) -> None:
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
        batch = Batch(client, args)
        await batch.setup()
        t0 = time.perf_counter()
        semaphore = asyncio.Semaphore(args.concurrency)
        # One matter's applications are filed in order (the first one teaches the service its form).
        first_round = len(batch.matters)
        for i in range(min(first_round, args.applications)):
            await batch.one(i)

        async def guarded(i: int) -> None:
            async with semaphore:
                await batch.one(i)

        await asyncio.gather(*(guarded(i) for i in range(first_round, args.applications)))
        wall = time.perf_counter() - t0
        today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        ops = await batch.token("ops")
        deadline = time.monotonic() + 60
        while True:  # the measures' read models are fed by events: wait until every acceptance is in
            r = await client.get("/v1/prequal/measures", params={"from": today, "to": today}, headers=bearer(ops))
            r.raise_for_status()
            measures = r.json()
            if measures["total"]["accepted"] >= batch.stats["accepted"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)

    print(f"\n{args.applications} applications over {len(batch.matters)} matters in {wall:.1f} s "
          f"(seed {args.seed}, mistakes {args.mistakes:.0%})")
    print("generated:", ", ".join(f"{k} {v}" for k, v in sorted(batch.stats.items())))
    print(f"\nGET /v1/prequal/measures?from={today}&to={today}")
    header = (f"{'matter':<10} {'apps':>5} {'coverage':>9} {'auto':>6} {'1st-acc':>8} {'prefill':>8} "
              f"{'kept':>6} {'wrongly':>8}")
    print(header)

    def pct(x: float | None) -> str:
        return "   -" if x is None else f"{x:.1%}"

    for row in [*measures["items"], {"matter_code": "TOTAL", **measures["total"]}]:
        print(f"{row['matter_code']:<10} {row['submitted']:>5} {pct(row['prereview_coverage']):>9} "
              f"{pct(row['automatic_decision_rate']):>6} {pct(row['first_time_acceptance_rate']):>8} "
              f"{pct(row['prefill_ratio']):>8} {pct(row['prefill_kept_ratio']):>6} {pct(row['wrongly_blocked_rate']):>8}")
    t = measures["total"]
    print(f"\npre-review coverage {t['prereviewed']}/{t['submitted']} = {pct(t['prereview_coverage'])}; "
          f"pre-fill ratio {t['fields_prefilled']}/{t['form_fields']} fields = {pct(t['prefill_ratio'])} over "
          f"{t['prefills']} pre-fills; kept unchanged {t['fields_kept']}/{t['fields_prefilled_submitted']} = "
          f"{pct(t['prefill_kept_ratio'])}; first-time acceptance {t['accepted_first_time']}/{t['accepted']} = "
          f"{pct(t['first_time_acceptance_rate'])}; wrongly blocked {t['wrongly_blocked']}/{t['returned_by_prereview']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--applications", type=int, default=300)
    parser.add_argument("--mistakes", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with fresh_suite(PREFIX, ROOT / "var" / "bench", "lvrong-prefill-batch-") as (env, ports):
        asyncio.run(run(args, f"http://127.0.0.1:{ports['gateway']}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

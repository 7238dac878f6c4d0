"""The web front end's typed client (web/client) is generated at every build from the merged OpenAPI
document built in process (``lvrong-openapi``): it is the document the running gateway serves, so
the client cannot drift from the API the pages and front-end teams call."""
from __future__ import annotations

import json

import httpx

from support import WEB_ROOT

CLIENT = WEB_ROOT.parent / "client"


async def test_the_client_is_generated_from_the_document_the_gateway_serves(client: httpx.AsyncClient) -> None:
    served = (await client.get("/openapi.json")).json()
    assert "x-lvrong-unavailable" not in served
    built = json.loads((CLIENT / "openapi.json").read_text(encoding="utf-8"))
    assert differences(built, served) == []
    # Generated from it (make web runs openapi-typescript after lvrong-openapi): every path is typed.
    typed = (CLIENT / "src" / "schema.d.ts").read_text(encoding="utf-8")
    assert (CLIENT / "src" / "schema.d.ts").stat().st_mtime >= (CLIENT / "openapi.json").stat().st_mtime
    missing = [path for path in served["paths"] if f'"{path}": {{' not in typed]
    assert not missing, missing


def differences(built: object, served: object, where: str = "") -> list[str]:
    """Where two JSON documents differ (tag order aside, a list is compared in order)."""
    if isinstance(built, dict) and isinstance(served, dict):
        return [d for key in sorted(set(built) | set(served))
                for d in (differences(built.get(key), served.get(key), f"{where}/{key}")
                          if key in built and key in served else [f"{where}/{key}: only in {'built' if key in built else 'served'}"])]
    if isinstance(built, list) and isinstance(served, list) and len(built) == len(served):
        return [d for i, (a, b) in enumerate(zip(built, served, strict=True)) for d in differences(a, b, f"{where}[{i}]")]
    return [] if built == served else [f"{where}: {json.dumps(built, ensure_ascii=False)[:120]} != {json.dumps(served, ensure_ascii=False)[:120]}"]

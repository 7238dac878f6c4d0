"""What anyone may fetch without a token: the issuer metadata, its keys and the status lists."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response

from kit.auth import PUBLIC_ROUTE
from kit.db import SessionDep
from kit.errors import PROBLEM_RESPONSES
from licences.api.deps import IssuerDep
from licences.service import status
from licences.service.issuer import SM2_KEYS_PATH

router = APIRouter(tags=["verification"])


@router.get("/.well-known/jwt-vc-issuer", dependencies=[PUBLIC_ROUTE],
            summary="SD-JWT VC issuer metadata: the issuer and its keys")
async def issuer_metadata(issuer: IssuerDep) -> JSONResponse:
    body: dict[str, Any] = {**issuer.metadata(), "jwks": issuer.keys.jwks()}
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=300"})


@router.get("/v1/licences/issuer/jwks.json", dependencies=[PUBLIC_ROUTE],
            summary="The issuer's public keys (JWKS), the next key included ahead of use")
async def jwks(issuer: IssuerDep) -> JSONResponse:
    return JSONResponse(issuer.keys.jwks(), headers={"Cache-Control": "public, max-age=300"})


@router.get(SM2_KEYS_PATH, dependencies=[PUBLIC_ROUTE],
            summary="The issuer's SM2 public keys (SM2-with-SM3) with their kids, the next key included ahead of use",
            description="`keys`: `kid`, `alg` `SM2`, `curve` `sm2p256v1`, `hash` `SM3`, `signer_id`, `activates_at`, "
                        "`public_key` (04‖x‖y, hex) and `public_key_pem` (SubjectPublicKeyInfo). The licences' SM2 "
                        "documents and SM2 亮证 presentations name their key by `kid`.")
async def sm2_keys(issuer: IssuerDep) -> JSONResponse:
    return JSONResponse(issuer.sm2_keys(), headers={"Cache-Control": "public, max-age=300"})


@router.get("/v1/licences/status-lists/{list_id}", dependencies=[PUBLIC_ROUTE], response_class=Response,
            summary="A signed Token Status List (application/statuslist+jwt): 2 bits per licence",
            description="0 valid, 1 invalid (revoked), 2 suspended. Expiry is read from the credential's `exp`. "
                        "Cache it for its `ttl`.",
            responses={200: {"content": {"application/statuslist+jwt": {}}}, 404: PROBLEM_RESPONSES[404]})
async def status_list(session: SessionDep, issuer: IssuerDep,
                      list_id: Annotated[int, Path(ge=1, le=1_000_000)]) -> Response:
    token = await status.signed_status_list(session, issuer, list_id)
    return Response(token, media_type="application/statuslist+jwt",
                    headers={"Cache-Control": f"public, max-age={issuer.settings.status_list_ttl_seconds}"})

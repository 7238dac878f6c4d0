"""A 长三角 partner province as the tests see it: a real HTTP server on a free local port publishing the
partner's JWK Set (with a Cache-Control of its choosing) and its Token Status Lists, with the keys it rotates,
and the partner's own SD-JWT VCs signed with them (the sd-jwt reference library)."""
from __future__ import annotations

import base64
import json
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto.jwk import JWK


@dataclass
class PartnerKey:
    kid: str
    private: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def public_jwk(self) -> dict[str, Any]:
        jwk = json.loads(JWK.from_pyca(self.private.public_key()).export_public())
        return {**jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}

    def pem(self) -> bytes:
        return self.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())


class PartnerServer:
    """The partner's web server: ``/jwks.json`` (the published keys), ``/sm2-keys.json`` (its SM2 keys), ``/status/<n>`` (status list tokens, 2 bits
    an entry, signed by ``status_key``). ``fail`` answers 503 to everything; ``hits`` counts requests by path."""

    def __init__(self, issuer_path: str = "/ly") -> None:
        self.published: list[PartnerKey] = []
        self.sm2_keys: list[dict[str, Any]] = []  # {kid, public_key, signer_id}, at /sm2-keys.json
        self.cache_control: str | None = "max-age=600"
        self.fail = False
        self.hits: dict[str, int] = {}
        self.statuses: dict[int, dict[int, int]] = {}  # list number -> {index: value}
        self.status_key: PartnerKey | None = None
        self.ttl = 300  # the status list tokens' ttl: how long a relying party may cache them
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                if server.fail:
                    self._answer(503, b"down", "text/plain")
                elif self.path == "/jwks.json":
                    body = json.dumps({"keys": [k.public_jwk() for k in server.published]}).encode()
                    self._answer(200, body, "application/jwk-set+json", server.cache_control)
                elif self.path == "/sm2-keys.json":
                    body = json.dumps({"issuer": server.issuer, "keys": server.sm2_keys}).encode()
                    self._answer(200, body, "application/json", server.cache_control)
                elif self.path.startswith("/status/") or "/status-lists/" in self.path:  # ours, or our layout
                    token = server.status_token(int(self.path.rsplit("/", 1)[1]), uri=f"{server.url}{self.path}")
                    self._answer(200, token.encode(), "application/statuslist+jwt")
                else:
                    self._answer(404, b"", "text/plain")

            def _answer(self, status: int, body: bytes, content_type: str, cache_control: str | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                if cache_control:
                    self.send_header("Cache-Control", cache_control)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.issuer = f"{self.url}{issuer_path}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> PartnerServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def status_uri(self, number: int) -> str:
        return f"{self.url}/status/{number}"

    def status_token(self, number: int, *, uri: str | None = None, size: int = 1024) -> str:
        bits = bytearray(size // 4)
        for index, value in self.statuses.get(number, {}).items():
            bits[index // 4] |= value << ((index % 4) * 2)
        key = self.status_key or self.published[0]
        now = int(time.time())
        payload = {"sub": uri or self.status_uri(number), "iss": self.issuer, "iat": now, "exp": now + 86_400, "ttl": self.ttl,
                   "status_list": {"bits": 2,
                                   "lst": base64.urlsafe_b64encode(zlib.compress(bytes(bits))).rstrip(b"=").decode()}}
        return jwt.encode(payload, key.pem(), algorithm="ES256", headers={"kid": key.kid, "typ": "statuslist+jwt"})

    def credential(self, key: PartnerKey, type_code: str = "1132YD001", *, status: tuple[int, int] | None = None,
                   status_uri: str | None = None, exp_days: int = 365, holder_code: str | None = None,
                   licence_type: str | None = None) -> str:
        """The partner's SD-JWT VC (holder name selectively disclosed), with ``status`` (list, index) if given, and
        the holder company's credit code (disclosed too) if given."""
        from sd_jwt.common import SDObj
        from sd_jwt.issuer import SDJWTIssuer

        now = int(time.time())
        claims: dict[Any, Any] = {
            "iss": self.issuer, "iat": now, "nbf": now - 60, "exp": now + exp_days * 86400,
            "vct": f"{self.issuer}/vct/{type_code}",
            "licence_identifier": f"1.2.156.3005.2.{type_code}.X.{uuid.uuid4().int % 10**8:08d}.001.0",
            "licence_type_code": type_code, SDObj("holder_name"): "江苏某苗木公司"}
        if licence_type is not None:
            claims["licence_type"] = licence_type
        if holder_code is not None:
            claims[SDObj("holder_code")], claims[SDObj("holder_code_type")] = holder_code, "uscc"
        if status is not None:
            claims["status"] = {"status_list": {"idx": status[1], "uri": status_uri or self.status_uri(status[0])}}
        return SDJWTIssuer(claims, JWK.from_pem(key.pem()), sign_alg="ES256",
                           extra_header_parameters={"typ": "dc+sd-jwt", "kid": key.kid}).sd_jwt_issuance

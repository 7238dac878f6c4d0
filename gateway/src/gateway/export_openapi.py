"""``lvrong-openapi [FILE]``: the platform's merged OpenAPI document, built in process.

The same document the gateway answers at ``/openapi.json`` (``merge_documents`` over each service's
own), without starting anything: the web front end's typed client (``web/client``) is generated
from it at every build, so the client cannot drift from the API (a test compares it with the
running gateway's). Each service is imported by name, as ``lvrong-run`` starts it.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from gateway.openapi import merge_documents
from gateway.routes import UPSTREAM_DEFAULT_PORTS, RoutingTable
from gateway.settings import Settings


def platform_document() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lvrong-openapi-") as scratch:
        # Building an app may create development keys; they go to a scratch folder, not the checkout.
        os.environ.setdefault("LICENCES_KEY_DIR", str(Path(scratch) / "licence-keys"))
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        settings = Settings(dev_issuer_enabled=True, dev_issuer_key_dir=Path(scratch) / "dev-issuer",
                            web_root=Path(scratch))
        from gateway.app import create_parts

        _, own = create_parts(settings)
        services = {name: importlib.import_module(f"{name}.app").create_app().openapi()
                    for name in UPSTREAM_DEFAULT_PORTS}
        return merge_documents(own.openapi(), services, RoutingTable(), unavailable=[])


def main() -> None:
    text = json.dumps(platform_document(), ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)

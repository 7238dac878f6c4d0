"""How the gateway serves the pages: the login they are told to use, and what production refuses."""
from __future__ import annotations

from pathlib import Path

from gateway.settings import Settings
from gateway.web import content_security_policy, login_configuration

OIDC = {"web_login": "oidc", "web_oidc_authorization_endpoint": "https://id.example.gov.cn/auth",
        "web_oidc_token_endpoint": "https://id.example.gov.cn/token", "web_oidc_client_id": "lvrong-web"}


def web_problems(settings: Settings) -> list[str]:
    return [p for p in settings.production_problems() if "GATEWAY_WEB" in p]


def test_the_pages_log_in_at_the_identity_platform_when_configured() -> None:
    settings = Settings(web_root=Path("/app/web"), **OIDC)
    assert login_configuration(settings) == {
        "login": "oidc", "authorization_endpoint": "https://id.example.gov.cn/auth",
        "token_endpoint": "https://id.example.gov.cn/token", "client_id": "lvrong-web", "scope": "openid"}
    assert web_problems(settings) == []
    # The code is exchanged from the page: its policy lets it reach that one origin, and no other.
    assert "connect-src 'self' https://id.example.gov.cn;" in content_security_policy(settings)
    assert "connect-src 'self';" in content_security_policy(Settings())


def test_the_development_password_login_is_the_workstation_default() -> None:
    assert login_configuration(Settings()) == {"login": "password", "token_endpoint": "/auth/token"}


def test_production_refuses_pages_with_the_password_login_or_an_incomplete_oidc_client() -> None:
    assert web_problems(Settings(web_root=Path("/app/web"))) != []
    for missing in ("web_oidc_authorization_endpoint", "web_oidc_token_endpoint", "web_oidc_client_id"):
        assert web_problems(Settings(web_root=Path("/app/web"), **{**OIDC, missing: ""})) != [], missing
    # A gateway without pages has nothing to say about their login.
    assert web_problems(Settings()) == []

"""The gateway's catalogue of user-facing texts (kit.i18n)."""
from __future__ import annotations

from kit.i18n import Text

BODY_TOO_LARGE = Text("请求体不能超过 {limit} 字节", "The body exceeds {limit} bytes")
UPSTREAM_UNAVAILABLE = Text("{upstream} 暂不可用", "{upstream} is unavailable")
UPSTREAM_TIMED_OUT = Text("{upstream} 未在时限内响应", "{upstream} timed out")
UPSTREAM_FAILED = Text("{upstream} 响应异常", "{upstream} failed")
SERVICES_NOT_READY = Text("部分服务未就绪", "Some services are not ready")
RETRY_LATER = Text("请求过于频繁，请 {seconds} 秒后再试", "Too many requests, retry in {seconds} s")

# OAuth 2.0 token endpoint (RFC 6749 §5.2): ``error_description`` is the English side (ASCII only).
SCOPE_NOT_ALLOWED = Text("不允许的权限范围：{scopes}", "Scope not allowed: {scopes}")
WRONG_PASSWORD = Text("用户名或密码错误", "Wrong username or password")
CLIENT_AUTHENTICATION_FAILED = Text("客户端认证失败", "Client authentication failed")
GRANT_TYPE_UNSUPPORTED = Text("仅支持 password 与 client_credentials", "Only password and client_credentials")

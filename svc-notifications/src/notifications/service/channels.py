"""The outside channels behind one interface (``Channel``): e-mail over SMTP (aiosmtplib), SMS and
随申办 push over HTTP to the platform's gateways (the contract is in the README, "Notifications").

A channel either sends, or raises ``RetryLater`` (the server is away or busy: try again after a wait)
or ``Refused`` (the server will never take this message: give it up). Nothing here logs an address."""
from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

import aiosmtplib
import httpx

from notifications import messages
from notifications.models import Recipient
from notifications.settings import Settings


@dataclass(frozen=True)
class Outgoing:
    """What a channel sends: the notification's texts and a key unique to (event, channel)."""

    key: str
    kind: str
    title_zh: str
    title_en: str
    body_zh: str
    body_en: str
    ref_type: str | None
    ref_id: str | None


class RetryLater(Exception):
    """The channel could not send now; the same message may succeed later."""


class Refused(Exception):
    """The channel's server refused the message for good (a bad address, a malformed request)."""


class Channel(Protocol):
    name: str

    async def send(self, address: str, message: Outgoing) -> None: ...


class EmailChannel:
    name = "email"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def compose(self, address: str, message: Outgoing) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.settings.mail_from
        mail["To"] = address
        mail["Subject"] = f"{message.title_zh} / {message.title_en}"
        # Lets a mail system spot a copy; the delivery table already keeps it from being sent twice.
        mail["Message-ID"] = f"<{message.key}@lvrong.notifications>"
        mail.set_content(f"{message.body_zh}\n\n{message.body_en}\n\n-- \n{messages.EMAIL_FOOTER.zh}\n"
                         f"{messages.EMAIL_FOOTER.en}\n")
        return mail

    async def send(self, address: str, message: Outgoing) -> None:
        s = self.settings
        try:
            await aiosmtplib.send(
                self.compose(address, message), hostname=s.smtp_host, port=s.smtp_port,
                username=s.smtp_username or None, password=s.smtp_password.get_secret_value() or None,
                start_tls=s.smtp_starttls, use_tls=s.smtp_tls, timeout=s.channel_timeout_seconds)
        except aiosmtplib.SMTPRecipientsRefused as e:
            raise Refused("recipient refused") from e
        except aiosmtplib.SMTPResponseException as e:
            if 500 <= e.code < 600:
                raise Refused(f"smtp {e.code}") from e
            raise RetryLater(f"smtp {e.code}") from e
        except (aiosmtplib.SMTPException, OSError) as e:
            raise RetryLater(type(e).__name__) from e


class HttpChannel:
    """SMS or 随申办 push: ``POST <url>`` with the message as JSON (README, "Notifications")."""

    def __init__(self, name: str, url: str, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.name = name
        self.url = url
        self.settings = settings
        self.client = client

    def payload(self, address: str, message: Outgoing) -> dict[str, Any]:
        return {"id": message.key, "to": address, "kind": message.kind, "title_zh": message.title_zh,
                "title_en": message.title_en, "text_zh": message.body_zh, "text_en": message.body_en,
                "ref": {"type": message.ref_type, "id": message.ref_id} if message.ref_type else None}

    async def send(self, address: str, message: Outgoing) -> None:
        headers = {"Idempotency-Key": message.key}
        if token := self.settings.channel_token.get_secret_value():
            headers["Authorization"] = f"Bearer {token}"
        try:
            if self.client is not None:
                response = await self.client.post(self.url, json=self.payload(address, message), headers=headers)
            else:
                async with httpx.AsyncClient(timeout=self.settings.channel_timeout_seconds) as client:
                    response = await client.post(self.url, json=self.payload(address, message), headers=headers)
        except httpx.HTTPError as e:
            raise RetryLater(type(e).__name__) from e
        if response.is_success:
            return
        if response.status_code in (408, 425, 429) or response.status_code >= 500:
            raise RetryLater(f"http {response.status_code}")
        raise Refused(f"http {response.status_code}")


def configured_channels(settings: Settings) -> dict[str, Channel]:
    """The channels this deployment has a server for."""
    found: dict[str, Channel] = {}
    if settings.smtp_host:
        found["email"] = EmailChannel(settings)
    if settings.sms_url:
        found["sms"] = HttpChannel("sms", settings.sms_url, settings)
    if settings.push_url:
        found["push"] = HttpChannel("push", settings.push_url, settings)
    return found


_configured: set[str] = set()


def configure(settings: Settings) -> None:
    """Called once at start (``notifications.app``): which channels new notifications are queued on."""
    _configured.clear()
    _configured.update(configured_channels(settings))


def address_of(recipient: Recipient | None, channel: str, key: str) -> str | None:
    """Where ``channel`` sends to: the e-mail address, the mobile number, or (push) the 随申办 account,
    which is the recipient itself ("subject:…" or "org:…")."""
    if channel == "push":
        return key
    if recipient is None:
        return None
    return recipient.email if channel == "email" else recipient.phone if channel == "sms" else None


def wants(recipient: Recipient | None, kind: str, channel: str) -> bool:
    """The recipient's preference: every channel is on for every kind until they switch it off."""
    chosen = (recipient.channels if recipient is not None else {}).get(kind) or {}
    return bool(chosen.get(channel, True))


def wanted_channels(recipient: Recipient | None, kind: str, key: str | None = None) -> list[str]:
    """The configured channels the recipient wants for ``kind`` and has an address for."""
    key = key or (recipient.recipient if recipient is not None else "")
    return [c for c in ("email", "sms", "push") if c in _configured and wants(recipient, kind, c)
            and address_of(recipient, c, key) is not None]

"""E-mail notifications over SMTP (aiosmtplib).

What mail servers and mail clients require, and why:

- A well-formed message, or spam filters drop it: ``From``, ``To``, ``Subject``,
  ``Date`` and ``Message-ID`` headers; ``multipart/alternative`` with plain text first
  and a minimal HTML part. Chinese is UTF-8, in RFC 2047 encoded headers and base64
  bodies, so no server needs SMTPUTF8 or 8BITMIME. ``Auto-Submitted: auto-generated``
  (RFC 3834) keeps out-of-office replies away.
- TLS as configured: implicit TLS (``use_tls``, port 465) or STARTTLS (``start_tls``,
  587). AUTH only when a username is configured (a relay inside the network may need
  none). The password is never logged.
- The customer's address is personal data, stored encrypted: it is decrypted right
  before sending, logged only masked, and masked in error texts too (servers like to
  quote it back, and errors end up in ``Delivery.last_error``).

SMTP replies say what to do next::

    2xx after DATA               sent; the Message-ID is returned
    4xx at any step              TransientDeliveryError (greylisting, busy, try later)
    5xx at any step              PermanentDeliveryError (no such mailbox, AUTH 535, refused)
    refused, timeout, dropped    TransientDeliveryError
    no e-mail on file            PermanentDeliveryError
"""

from __future__ import annotations

import html
import logging
import uuid
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr
from zoneinfo import ZoneInfo

import aiosmtplib

from models.customers import Customer
from models.pii import PiiCipher, mask_email
from push.base import PermanentDeliveryError, PushMessage, TransientDeliveryError

log = logging.getLogger("anxin.push.email")

SHANGHAI = ZoneInfo("Asia/Shanghai")
TARGET_PREFIX = "customer:"
FOOTER = "此邮件由系统自动发送，请勿直接回复。"


def parse_sender(sender: str) -> Address:
    """``安心保险 <service@anxin.example.cn>`` → an Address (display name kept)."""
    display_name, addr_spec = parseaddr(sender)
    if "@" not in addr_spec:
        raise ValueError(f"not a sender address: {sender!r}")
    return Address(display_name=display_name, addr_spec=addr_spec)


def plain_text(message: PushMessage) -> str:
    return f"{message.body}\n\n查看详情：{message.deep_link}\n\n{FOOTER}\n"


def html_text(message: PushMessage) -> str:
    title, body = html.escape(message.title), html.escape(message.body)
    link = html.escape(message.deep_link, quote=True)
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{title}</title></head>\n<body>\n<p>{body}</p>\n"
        f'<p><a href="{link}">查看详情</a></p>\n'
        f'<p style="color:#888;font-size:12px">{FOOTER}</p>\n</body></html>\n'
    )


def build_email(
    message: PushMessage, *, sender: Address, recipient: Address, now: datetime
) -> EmailMessage:
    email = EmailMessage(policy=SMTP)
    email["From"] = sender
    email["To"] = recipient
    email["Subject"] = message.title
    email["Date"] = format_datetime(now.astimezone(SHANGHAI))
    email["Message-ID"] = make_msgid(domain=sender.domain)
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(plain_text(message), cte="base64")
    email.add_alternative(html_text(message), subtype="html", cte="base64")
    return email


def customer_id_of(target: str) -> uuid.UUID:
    if not target.startswith(TARGET_PREFIX):
        raise PermanentDeliveryError(f"not an e-mail target: {target!r}")
    try:
        return uuid.UUID(target.removeprefix(TARGET_PREFIX))
    except ValueError:
        raise PermanentDeliveryError(f"not an e-mail target: {target!r}") from None


def classify(
    exc: aiosmtplib.SMTPException, address: str
) -> PermanentDeliveryError | TransientDeliveryError:
    """The SMTP failure as one of our errors, with the address masked in its text."""
    code = smtp_code(exc)
    text = str(exc).replace(address, mask_email(address))[:200]
    reason = f"smtp {code or type(exc).__name__}: {text}"
    if code is None:
        if isinstance(exc, aiosmtplib.SMTPNotSupported):  # e.g. no AUTH or STARTTLS offered
            return PermanentDeliveryError(reason)
        return TransientDeliveryError(reason)  # refused, timed out, disconnected
    return PermanentDeliveryError(reason) if code >= 500 else TransientDeliveryError(reason)


def smtp_code(exc: aiosmtplib.SMTPException) -> int | None:
    """The server's reply code; for refused recipients the mildest one (a 4xx among
    them means "try again later")."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in exc.recipients]
        return min(codes) if codes else None
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code
    return None


class EmailChannel:
    """A ``PushChannel`` whose target is ``customer:<uuid>``: the customer's e-mail."""

    def __init__(
        self,
        *,
        pii: PiiCipher,
        host: str,
        port: int,
        username: str,
        password: str,
        sender: str,
        use_tls: bool,
        start_tls: bool,
        timeout: float = 10.0,
    ) -> None:
        self._pii = pii
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._sender = parse_sender(sender)
        self._use_tls = use_tls
        self._start_tls = start_tls
        self._timeout = timeout

    async def send(self, target: str, message: PushMessage) -> str | None:
        customer = await Customer.get_or_none(id=customer_id_of(target))
        if customer is None:
            raise PermanentDeliveryError(f"no customer {target}")
        if not customer.email_encrypted:
            raise PermanentDeliveryError("no e-mail address on file")
        address = self._pii.decrypt(customer.email_encrypted, "email")
        try:
            recipient = Address(display_name=customer.name, addr_spec=address)
        except (ValueError, IndexError) as exc:
            raise PermanentDeliveryError(f"invalid e-mail address on file: {exc}") from None
        email = build_email(
            message, sender=self._sender, recipient=recipient, now=datetime.now(SHANGHAI)
        )
        await self._submit(email, address, message.kind)
        return str(email["Message-ID"])

    async def _submit(self, email: EmailMessage, address: str, kind: str) -> None:
        try:
            await aiosmtplib.send(
                email,
                sender=self._sender.addr_spec,
                recipients=[address],
                hostname=self._host,
                port=self._port,
                username=self._username or None,
                password=self._password if self._username else None,
                use_tls=self._use_tls,
                start_tls=self._start_tls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPException as exc:
            error = classify(exc, address)
            log.warning("e-mail %s to %s failed: %s", kind, mask_email(address), error)
            raise error from None
        except OSError as exc:  # TLS handshake and socket errors aiosmtplib lets through
            log.warning("e-mail %s to %s failed: %s", kind, mask_email(address), exc)
            raise TransientDeliveryError(f"smtp {type(exc).__name__}") from None
        log.info("e-mail %s sent to %s", kind, mask_email(address))

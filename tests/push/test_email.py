"""The e-mail channel against a real SMTP server (aiosmtpd) on 127.0.0.1, with the
customer and their encrypted address in the test database: what arrives (envelope,
headers, decoded Chinese subject and bodies), AUTH, how each SMTP failure is
classified, and that neither the password nor the full address reaches the logs."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from api.services import Services
from models.customers import Customer
from push.base import DeliveryError, PermanentDeliveryError, PushMessage, TransientDeliveryError
from push.email import EmailChannel
from tests.factories import make_customer
from tests.fakes.server import refused_url

# AUTH over plain text is what these tests need, on 127.0.0.1 only.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

USERNAME = "anxin-mailer"
PASSWORD = "smtp-pass-Zq8!xR2#mailer"
SENDER = "安心保险 <service@anxin.example.cn>"
ADDRESS = "zhang@example.cn"
TITLE = "理赔款已支付"
BODY = "理赔CL2025000042的赔款1,280.00元已支付，请注意查收。<到账以银行为准>"
LINK = "anxin://claims/4f1c2b7e?from=mail&x=1"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    login: str | None  # who authenticated, None: no AUTH


@dataclass
class RecordingHandler:
    """An SMTP server's handler that keeps what it accepts and refuses on request."""

    received: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> refusal
    data_reply: str | None = None  # a refusal of DATA

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply:
            return self.data_reply
        assert isinstance(envelope.content, bytes)
        login = session.auth_data if session.authenticated else None
        self.received.append(
            Received(str(envelope.mail_from), list(envelope.rcpt_tos), envelope.content, login)
        )
        return "250 2.0.0 Ok: queued"


def authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USERNAME.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False, auth_data=USERNAME if ok else None)


class LocalController(Controller):
    """aiosmtpd's threaded Controller on a socket bound first to 127.0.0.1:0, so the
    port is free and ours before the server starts (Controller itself wants a port)."""

    def __init__(self, handler: RecordingHandler, **smtp_parameters: Any) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        port = self._sock.getsockname()[1]
        super().__init__(handler, hostname="127.0.0.1", port=port, **smtp_parameters)

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


@dataclass
class SmtpServer:
    handler: RecordingHandler
    port: int


async def _running(auth: bool) -> AsyncIterator[SmtpServer]:
    handler = RecordingHandler()
    options: dict[str, Any] = {"auth_require_tls": False}  # plain AUTH: localhost only
    if auth:
        options.update(authenticator=authenticator, auth_required=True)
    controller = LocalController(handler, **options)
    await asyncio.to_thread(controller.start)
    try:
        yield SmtpServer(handler, controller.port)
    finally:
        await asyncio.to_thread(controller.stop)


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    """A submission server that requires AUTH."""
    async for server in _running(auth=True):
        yield server


@pytest.fixture
async def relay() -> AsyncIterator[SmtpServer]:
    """An internal relay that takes mail without AUTH."""
    async for server in _running(auth=False):
        yield server


def make_channel(
    services: Services,
    port: int,
    *,
    username: str = USERNAME,
    password: str = PASSWORD,
    timeout: float = 5.0,
) -> EmailChannel:
    return EmailChannel(
        pii=services.pii,
        host="127.0.0.1",
        port=port,
        username=username,
        password=password,
        sender=SENDER,
        use_tls=False,
        start_tls=False,
        timeout=timeout,
    )


async def customer_with_email(services: Services, address: str | None = ADDRESS) -> Customer:
    customer = await make_customer(services, name="张三")
    if address is not None:
        sealed = services.pii.seal_email(address)
        customer.email_encrypted = sealed.encrypted
        customer.email_masked = sealed.masked
        await customer.save(update_fields=["email_encrypted", "email_masked"])
    return customer


def paid(**overrides: Any) -> PushMessage:
    values: dict[str, Any] = {
        "kind": "claim.paid",
        "title": TITLE,
        "body": BODY,
        "deep_link": LINK,
        "mini_program_page": "pages/claim/detail?id=4f1c2b7e",
        "urgent": False,
        "collapse_id": "evt-42",
    }
    values.update(overrides)
    return PushMessage(**values)


def target(customer: Customer) -> str:
    return f"customer:{customer.id}"


def parse(content: bytes) -> EmailMessage:
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


# ------------------------------------------------------------------ delivery


async def test_delivers_to_the_customer_in_readable_chinese(
    services: Services, smtp: SmtpServer
) -> None:
    """Logged in, one message to the decrypted address; headers and both bodies decode
    to the Chinese that was sent; the wire form is 7-bit (RFC 2047 + base64)."""
    customer = await customer_with_email(services)
    message_id = await make_channel(services, smtp.port).send(target(customer), paid())

    [received] = smtp.handler.received
    assert received.login == USERNAME
    assert received.mail_from == "service@anxin.example.cn"
    assert received.rcpt_tos == [ADDRESS]
    assert received.content.isascii()
    assert b"=?utf-8?" in received.content.lower()

    mail = parse(received.content)
    assert mail["Subject"] == TITLE
    assert mail["Message-ID"] == message_id
    assert message_id is not None and message_id.endswith("@anxin.example.cn>")
    [recipient] = mail["To"].addresses
    assert (recipient.display_name, recipient.addr_spec) == ("张三", ADDRESS)
    [sender] = mail["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("安心保险", "service@anxin.example.cn")
    assert parsedate_to_datetime(mail["Date"]).utcoffset() is not None
    assert mail["Auto-Submitted"] == "auto-generated"

    assert mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(preferencelist=("plain",))
    rich = mail.get_body(preferencelist=("html",))
    assert plain is not None and rich is not None
    text = plain.get_content()
    assert BODY in text and LINK in text
    markup = rich.get_content()
    assert "&lt;到账以银行为准&gt;" in markup  # escaped, not markup
    assert 'href="anxin://claims/4f1c2b7e?from=mail&amp;x=1"' in markup


async def test_relay_without_username_gets_no_login(services: Services, relay: SmtpServer) -> None:
    customer = await customer_with_email(services)
    channel = make_channel(services, relay.port, username="", password="")
    assert await channel.send(target(customer), paid())
    [received] = relay.handler.received
    assert received.login is None
    assert received.rcpt_tos == [ADDRESS]


# ------------------------------------------------------------------ refusals


async def test_wrong_password_is_permanent(services: Services, smtp: SmtpServer) -> None:
    """AUTH refused with 535: retrying with the same credentials cannot help."""
    customer = await customer_with_email(services)
    channel = make_channel(services, smtp.port, password="not-the-password")
    with pytest.raises(PermanentDeliveryError, match="535"):
        await channel.send(target(customer), paid())
    assert smtp.handler.received == []


async def test_missing_credentials_at_a_server_that_requires_them_is_permanent(
    services: Services, smtp: SmtpServer
) -> None:
    customer = await customer_with_email(services)
    with pytest.raises(PermanentDeliveryError, match="530"):
        await make_channel(services, smtp.port, username="").send(target(customer), paid())


async def test_refused_recipient_is_permanent_and_masked(
    services: Services, smtp: SmtpServer
) -> None:
    smtp.handler.rcpt_replies[ADDRESS] = (
        f"550 5.1.1 <{ADDRESS}>: Recipient address rejected: User unknown"
    )
    customer = await customer_with_email(services)
    with pytest.raises(PermanentDeliveryError, match="550") as refused:
        await make_channel(services, smtp.port).send(target(customer), paid())
    assert ADDRESS not in str(refused.value)  # it goes to Delivery.last_error
    assert "z***@example.cn" in str(refused.value)


async def test_greylisted_recipient_is_transient(services: Services, smtp: SmtpServer) -> None:
    smtp.handler.rcpt_replies[ADDRESS] = "450 4.2.0 Recipient address rejected: Greylisted"
    customer = await customer_with_email(services)
    with pytest.raises(TransientDeliveryError, match="450"):
        await make_channel(services, smtp.port).send(target(customer), paid())


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("451 4.3.0 Temporary local problem, try again later", TransientDeliveryError),
        ("554 5.7.1 Message rejected as spam", PermanentDeliveryError),
    ],
)
async def test_refused_data_follows_the_reply_class(
    services: Services, smtp: SmtpServer, reply: str, error: type[DeliveryError]
) -> None:
    smtp.handler.data_reply = reply
    customer = await customer_with_email(services)
    with pytest.raises(error, match=reply[:3]):
        await make_channel(services, smtp.port).send(target(customer), paid())


async def test_server_down_is_transient(services: Services) -> None:
    customer = await customer_with_email(services)
    with refused_url() as url:
        port = urlsplit(url).port
        assert port is not None
        with pytest.raises(TransientDeliveryError):
            await make_channel(services, port).send(target(customer), paid())


async def test_silent_server_times_out_transient(services: Services) -> None:
    """A server that accepts the connection and never greets."""
    customer = await customer_with_email(services)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        channel = make_channel(services, port, timeout=0.3)
        with pytest.raises(TransientDeliveryError):
            await channel.send(target(customer), paid())
    finally:
        server.close()
        await server.wait_closed()


async def test_customer_without_email_is_permanent(services: Services, smtp: SmtpServer) -> None:
    customer = await customer_with_email(services, address=None)
    with pytest.raises(PermanentDeliveryError, match="no e-mail"):
        await make_channel(services, smtp.port).send(target(customer), paid())
    assert smtp.handler.received == []


@pytest.mark.parametrize(
    "bad_target",
    [f"customer:{uuid.uuid4()}", "customer:42", "o-openid"],
    ids=["unknown-customer", "not-a-uuid", "an-openid"],  # the same in every xdist worker
)
async def test_unknown_target_is_permanent(
    services: Services, smtp: SmtpServer, bad_target: str
) -> None:
    with pytest.raises(PermanentDeliveryError):
        await make_channel(services, smtp.port).send(bad_target, paid())


# ------------------------------------------------------------------ logs


async def test_password_and_address_never_reach_the_logs(
    caplog: pytest.LogCaptureFixture, services: Services, smtp: SmtpServer
) -> None:
    """Sent, refused AUTH, refused recipient and server down, logged at DEBUG: no record
    holds the password; ours hold neither the AUTH blob nor the full address."""
    caplog.set_level(logging.DEBUG)
    customer = await customer_with_email(services)
    errors: list[DeliveryError] = []

    async def attempt(send: Callable[[], Awaitable[str | None]]) -> None:
        try:
            await send()
        except DeliveryError as exc:
            errors.append(exc)

    good = make_channel(services, smtp.port)
    await attempt(lambda: good.send(target(customer), paid()))
    wrong = make_channel(services, smtp.port, password=PASSWORD + "-old")
    await attempt(lambda: wrong.send(target(customer), paid()))
    smtp.handler.rcpt_replies[ADDRESS] = f"550 5.1.1 <{ADDRESS}>: User unknown"
    await attempt(lambda: good.send(target(customer), paid()))
    with refused_url() as url:
        down = make_channel(services, urlsplit(url).port or 1)
        await attempt(lambda: down.send(target(customer), paid()))

    assert len(errors) == 3
    auth_blob = base64.b64encode(f"\0{USERNAME}\0{PASSWORD}".encode()).decode()
    ours = [r for r in caplog.records if r.name.startswith("anxin")]
    assert any(r.name == "anxin.push.email" for r in ours)
    for record in caplog.records:  # the SMTP server's own log included
        assert PASSWORD not in caplog.handler.format(record), record.name
    for record in ours:
        text = caplog.handler.format(record)
        assert auth_blob not in text and ADDRESS not in text, record.name
    for error in errors:
        assert PASSWORD not in f"{error!s} {error!r} {error.__cause__!r}"

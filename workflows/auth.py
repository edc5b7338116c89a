"""Logging in and staying logged in.

Customers: phone + 6-digit SMS code (5 minutes, 5 tries, resend throttled), or the
mini-program's ``wx.login`` code exchanged through ``code2session`` (a first-time
openid is bound to a customer by phone + SMS code). Staff: username + argon2 password,
locked for a while after repeated failures from one client.

Everything an anonymous caller can make us pay for (an SMS, a password hash, a call to
WeChat) is rate-limited per client IP and app installation before any work is done
(``THROTTLED`` with the seconds to wait), on top of the per-phone and per-account limits.

Every login opens a session = one refresh-token family. Access tokens are short JWTs
naming the session; refresh tokens are random, stored hashed, and rotate on use.
Presenting a rotated refresh token again means it leaked: the whole family is revoked.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import SecretStr
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from models import raw
from models.auth import AuthSession, OtpChallenge, RefreshToken, SubjectKind
from models.clock import local_today
from models.customers import Customer, WechatIdentity
from models.pii import PHONE_PATTERN, PiiCipher, mask_phone, normalize_phone
from models.staff import StaffRole, StaffUser
from push.sessions import announce_session_revoked
from push.sms import SmsError, SmsSender
from push.wechat_login import WechatError, WechatMiniProgram
from workflows.access import ANONYMOUS, Actor, Permission
from workflows.errors import DomainError
from workflows.jobs import MINUTE, Job
from workflows.limits import Client, Rate, RateLimiter, wait_text
from workflows.team.certificates import WITHHELD_JOIN, known_permissions, withheld_permissions

log = logging.getLogger("anxin.auth")
security_log = logging.getLogger("anxin.security")
# argon2id at argon2-cffi's default cost unless the composition root sets the settings'
# (``configure_password_hashing``; tests use the lowest cost, production refuses less
# than OWASP's minimum). A missing user is "checked" against a hash of the same cost,
# made on first use (not at import: every process and CLI call paid ~0.1 s for it).
password_hasher = PasswordHasher()
_dummy_hashes: dict[tuple[int, int, int], str] = {}


def configure_password_hashing(time_cost: int, memory_kib: int, parallelism: int) -> None:
    """Hash new passwords at this cost; hashes of another cost still verify and are
    rehashed at the next successful login."""
    global password_hasher
    current = password_hasher
    if (current.time_cost, current.memory_cost, current.parallelism) != (
        time_cost,
        memory_kib,
        parallelism,
    ):
        password_hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )


def _dummy_hash() -> str:
    hasher = password_hasher
    cost = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if cost not in _dummy_hashes:
        _dummy_hashes[cost] = hasher.hash("timing-equaliser")
    return _dummy_hashes[cost]


JWT_ALGORITHM = "HS256"
JWT_ISSUER = "anxin"
BINDING_TICKET_SECONDS = 600
REFRESH_GRACE = timedelta(seconds=10)
KEEP_ENDED_SESSIONS_DAYS = 30
# A staff session's last use is written at most this often (not one write per request);
# the idle timeout is therefore exact to within this much.
LAST_USED_RESOLUTION = timedelta(seconds=60)
STAFF_SESSION_IDLE = "STAFF_SESSION_IDLE"


class AuthErrorCode(StrEnum):
    INVALID_PHONE = "INVALID_PHONE"
    THROTTLED = "THROTTLED"
    SMS_UNAVAILABLE = "SMS_UNAVAILABLE"
    CODE_REQUIRED = "CODE_REQUIRED"
    INVALID_CODE = "INVALID_CODE"
    CODE_EXPIRED = "CODE_EXPIRED"
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    ACCOUNT_LOCKED = "ACCOUNT_LOCKED"
    WECHAT_NOT_CONFIGURED = "WECHAT_NOT_CONFIGURED"
    WECHAT_CODE_INVALID = "WECHAT_CODE_INVALID"
    WECHAT_UNAVAILABLE = "WECHAT_UNAVAILABLE"
    INVALID_BINDING_TICKET = "INVALID_BINDING_TICKET"
    WECHAT_ALREADY_BOUND = "WECHAT_ALREADY_BOUND"
    INVALID_REFRESH_TOKEN = "INVALID_REFRESH_TOKEN"
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"


class AuthError(DomainError):
    codes = AuthErrorCode


class Channel(StrEnum):
    APP = "app"
    MINI_PROGRAM = "mini_program"
    STAFF_CONSOLE = "staff_console"
    CLI = "cli"


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    actor: Actor


@dataclass(frozen=True)
class LoginCodeSent:
    phone_masked: str
    expires_in_seconds: int
    resend_after_seconds: int


@dataclass(frozen=True)
class WechatBindingRequired:
    """A first-time openid: the mini-program must bind a phone with an SMS code."""

    binding_ticket: str
    expires_in_seconds: int


class AuthSettings(Protocol):
    """The settings login and sessions follow (``api.settings.Settings`` has them)."""

    secret_key: SecretStr
    access_token_ttl_seconds: int
    refresh_token_ttl_seconds: int
    otp_ttl_seconds: int
    otp_resend_seconds: int
    otp_max_per_hour: int
    otp_max_attempts: int
    staff_max_failed_logins: int
    staff_max_failed_logins_per_account: int
    staff_lockout_seconds: int
    staff_idle_timeout_seconds: int
    limit_login_per_ip: Rate
    limit_login_per_installation: Rate
    limit_sms_per_ip: Rate
    limit_sms_per_installation: Rate
    lockout_storm: Rate


class AuthDeps(Protocol):
    """What login and sessions use; the app's services are one (``api.services``)."""

    @property
    def settings(self) -> AuthSettings: ...
    @property
    def pii(self) -> PiiCipher: ...
    @property
    def sms(self) -> SmsSender: ...
    @property
    def wechat(self) -> WechatMiniProgram: ...
    @property
    def limiter(self) -> RateLimiter: ...


def _now() -> datetime:
    return datetime.now(UTC)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _secret(services: AuthDeps) -> str:
    return services.settings.secret_key.get_secret_value()


async def _limit_client(
    services: AuthDeps,
    action: str,
    client: Client,
    per_ip: Rate,
    per_installation: Rate,
    field: str | None = None,
) -> None:
    """Refuse with THROTTLED once this IP or app installation did ``action`` too often."""
    limiter = services.limiter
    decision = await limiter.hit(f"{action}:ip", client.ip_key, per_ip)
    if decision.allowed and client.installation is not None:
        decision = await limiter.hit(
            f"{action}:installation", client.installation, per_installation
        )
    if not decision.allowed:
        wait = decision.retry_after
        raise AuthError(
            AuthErrorCode.THROTTLED,
            f"操作过于频繁，请{wait_text(wait)}后再试",
            field,
            retry_after=wait,
        )


async def _limit_logins(services: AuthDeps, client: Client) -> None:
    settings = services.settings
    await _limit_client(
        services,
        "login",
        client,
        settings.limit_login_per_ip,
        settings.limit_login_per_installation,
    )


# ---------------------------------------------------------------- tokens and sessions


def _encode(services: AuthDeps, claims: dict[str, Any], lifetime: timedelta) -> str:
    now = _now()
    payload = {"iss": JWT_ISSUER, "iat": now, "exp": now + lifetime, **claims}
    return jwt.encode(payload, _secret(services), algorithm=JWT_ALGORITHM)


# Tokens whose signature and claims were verified, by (secret, token): verifying an
# HS256 token costs more than the rest of a small request's authentication (PyJWT:
# base64, JSON, HMAC, claim checks; ~0.3 ms). What verification decided cannot change
# for the same secret and token, except expiry, which is checked again on every use
# exactly as PyJWT checks it. Sessions (revocation, logout) are still read each time.
_VERIFIED: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
VERIFIED_TOKENS = 4096


def _verified(secret: str, token: str) -> dict[str, Any] | None:
    """The token's claims, verified (signature, issuer, required claims), or None."""
    key = (secret, token)
    claims = _VERIFIED.get(key)
    if claims is None:
        try:
            claims = jwt.decode(
                token,
                secret,
                algorithms=[JWT_ALGORITHM],
                issuer=JWT_ISSUER,
                options={"require": ["exp", "iat", "sub", "typ"]},
            )
        except jwt.PyJWTError:
            return None
        _VERIFIED[key] = claims
        if len(_VERIFIED) > VERIFIED_TOKENS:
            _VERIFIED.popitem(last=False)
    elif int(claims["exp"]) <= datetime.now(tz=UTC).timestamp():  # PyJWT's own test
        del _VERIFIED[key]
        return None
    return dict(claims)


def _decode(services: AuthDeps, token: str, token_type: str) -> dict[str, Any] | None:
    claims = _verified(_secret(services), token)
    return claims if claims is not None and claims.get("typ") == token_type else None


def _access_token(services: AuthDeps, actor: Actor) -> tuple[str, datetime]:
    lifetime = timedelta(seconds=services.settings.access_token_ttl_seconds)
    claims: dict[str, Any] = {
        "typ": "access",
        "sub": str(actor.subject_id),
        "knd": str(actor.kind),
        "sid": str(actor.session_id),
    }
    if actor.role is not None:
        claims["role"] = str(actor.role)
    return _encode(services, claims, lifetime), _now() + lifetime


async def _issue_refresh_token(session: AuthSession) -> str:
    token = secrets.token_urlsafe(32)
    await RefreshToken.create(session=session, token_hash=_sha256(token))
    return token


async def start_session(
    services: AuthDeps,
    kind: SubjectKind,
    subject_id: uuid.UUID,
    channel: Channel,
    role: StaffRole | None = None,
    *,
    wechat_identity: WechatIdentity | None = None,
) -> IssuedTokens:
    """A new session; a mini-program login names the WeChat identity it logged in with
    (see ``wechat_identity_for``)."""
    refresh_expires = _now() + timedelta(seconds=services.settings.refresh_token_ttl_seconds)
    async with in_transaction():
        session = await AuthSession.create(
            subject_kind=kind,
            subject_id=subject_id,
            channel=channel,
            expires_at=refresh_expires,
            wechat_identity=wechat_identity,
        )
        refresh = await _issue_refresh_token(session)
    withheld = await withheld_permissions(subject_id) if kind is SubjectKind.STAFF else frozenset()
    actor = Actor(
        kind=kind, subject_id=subject_id, session_id=session.id, role=role, withheld=withheld
    )
    access, access_expires = _access_token(services, actor)
    return IssuedTokens(access, access_expires, refresh, refresh_expires, actor)


@dataclass(frozen=True)
class SessionFacts:
    """What one statement says about a live session: who it is for and, for staff, the
    staff member's role (None when gone or disabled) and withheld permissions."""

    id: uuid.UUID
    subject_kind: SubjectKind
    subject_id: uuid.UUID
    created_at: datetime
    last_used_at: datetime | None
    staff_role: StaffRole | None
    customer_exists: bool
    withheld: frozenset[Permission]


# Session, staff row and missing certificates in one indexed read (issue 19: a request's
# authentication cost 1 statement for customers, 3 for staff). The staff join is empty
# for a customer session and for a staff member disabled since. Constants only.
_SESSION_AND_STAFF = """
SELECT s.subject_kind, s.subject_id, s.created_at, s.last_used_at,
       staff.role AS staff_role,
       EXISTS (SELECT 1 FROM customer WHERE customer.id = s.subject_id) AS customer_exists,
       withheld.permission AS withheld
FROM auth_session s
LEFT JOIN staff_user staff
       ON s.subject_kind = :staff_kind AND staff.id = s.subject_id AND staff.is_active = :active
"""
_LIVE_SESSION = "WHERE s.id = :session AND s.revoked_at IS NULL AND s.expires_at > :now"
SESSION_FACTS_SQL = "\n".join((_SESSION_AND_STAFF, WITHHELD_JOIN, _LIVE_SESSION))


async def session_facts(session_id: uuid.UUID, now: datetime) -> SessionFacts | None:
    """The session if it is neither revoked nor expired at ``now``; None otherwise."""
    rows = await raw.fetch(
        AuthSession,
        SESSION_FACTS_SQL,
        session=session_id,
        now=now,
        staff_kind=SubjectKind.STAFF.value,
        active=True,
        today=local_today(),
    )
    if not rows:
        return None
    first = rows[0]
    role = first["staff_role"]
    return SessionFacts(
        id=session_id,
        subject_kind=raw.column(AuthSession, "subject_kind", first["subject_kind"]),
        subject_id=raw.column(AuthSession, "subject_id", first["subject_id"]),
        created_at=raw.column(AuthSession, "created_at", first["created_at"]),
        last_used_at=raw.column(AuthSession, "last_used_at", first["last_used_at"]),
        staff_role=raw.column(StaffUser, "role", role) if role is not None else None,
        customer_exists=bool(first["customer_exists"]),
        withheld=known_permissions([row["withheld"] for row in rows if row["withheld"]]),
    )


async def authenticate(services: AuthDeps, access_token: str) -> Actor:
    """The actor an access token stands for, or anonymous if it is invalid, expired or
    its session was revoked (logout, refresh-token reuse).

    Who the caller is comes from the session row and, for staff, from the staff table
    (role and active flag as of now) and their certificates: the token only points at
    the session. One statement (``session_facts``), plus a write of a staff session's
    last use at most once a minute.
    """
    claims = _decode(services, access_token, "access")
    if claims is None:
        return ANONYMOUS
    try:
        session_id = uuid.UUID(claims["sid"])
    except (KeyError, ValueError):
        return ANONYMOUS
    session = await session_facts(session_id, _now())
    if (
        session is None
        or str(session.subject_id) != claims["sub"]
        or str(session.subject_kind) != claims.get("knd")
    ):
        return ANONYMOUS
    role = None
    withheld: frozenset[Permission] = frozenset()
    if session.subject_kind is SubjectKind.STAFF:
        if session.staff_role is None:
            return ANONYMOUS
        if not await _staff_session_in_use(services, session):
            return Actor(refusal=STAFF_SESSION_IDLE)
        role = session.staff_role
        withheld = session.withheld
    expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    return Actor(
        session.subject_kind, session.subject_id, session.id, role, expires_at, withheld=withheld
    )


def staff_session_idle(
    services: AuthDeps, session: AuthSession | SessionFacts, now: datetime
) -> bool:
    """A staff session unused for longer than ``staff_idle_timeout_seconds``."""
    if session.subject_kind is not SubjectKind.STAFF:
        return False
    last = session.last_used_at or session.created_at
    return now - last > timedelta(seconds=services.settings.staff_idle_timeout_seconds)


async def _staff_session_in_use(services: AuthDeps, session: SessionFacts) -> bool:
    """False when the staff session was not used for longer than the idle timeout (its
    tokens are refused from then on, and its refresh token ends it: the staff member
    logs in again); otherwise its use is recorded."""
    now = _now()
    if staff_session_idle(services, session, now):
        return False
    if now - (session.last_used_at or session.created_at) >= LAST_USED_RESOLUTION:
        await AuthSession.filter(id=session.id).update(last_used_at=now)
    return True


async def still_valid(actor: Actor) -> Actor:
    """The same actor if its token has not expired and its session and account are still
    alive (for long-lived WebSocket connections), anonymous otherwise."""
    if actor.session_id is None:
        return actor
    now = _now()
    if actor.expires_at is not None and actor.expires_at <= now:
        return ANONYMOUS
    session = await session_facts(actor.session_id, now)
    current = _current_actor(session) if session else None
    return replace(current, expires_at=actor.expires_at) if current else ANONYMOUS


async def revoke_session(session_id: uuid.UUID, reason: str) -> None:
    """End a session; its live WebSockets are closed on every API process."""
    async with in_transaction():
        revoked = await AuthSession.filter(id=session_id, revoked_at=None).update(
            revoked_at=_now(), revoked_reason=reason
        )
        if revoked:
            await announce_session_revoked(session_id, reason)


async def refresh_session(services: AuthDeps, refresh_token: str) -> IssuedTokens:
    invalid = AuthError(
        AuthErrorCode.INVALID_REFRESH_TOKEN, "登录已失效，请重新登录", "refreshToken"
    )
    token = await RefreshToken.get_or_none(token_hash=_sha256(refresh_token)).select_related(
        "session"
    )
    if token is None:
        raise invalid
    session = token.session
    now = _now()
    if session.revoked_at is not None or session.expires_at <= now:
        raise invalid
    facts = await session_facts(session.id, now)
    actor = _current_actor(facts) if facts else None
    if actor is None:
        await revoke_session(session.id, "subject_disabled")
        raise invalid
    if staff_session_idle(services, session, now):
        await revoke_session(session.id, "idle")
        raise AuthError(
            AuthErrorCode.INVALID_REFRESH_TOKEN,
            "长时间未操作，登录已失效，请重新登录",
            "refreshToken",
        )
    refresh_expires = now + timedelta(seconds=services.settings.refresh_token_ttl_seconds)
    async with in_transaction():
        # Exactly one caller may rotate a token.
        rotated = await RefreshToken.filter(id=token.id, rotated_at=None).update(rotated_at=now)
        if rotated:
            await AuthSession.filter(id=session.id).update(expires_at=refresh_expires)
            new_refresh = await _issue_refresh_token(session)
    if not rotated:
        await _refuse_rotated_token(token.id, session.id, now)
    access, access_expires = _access_token(services, actor)
    return IssuedTokens(access, access_expires, new_refresh, refresh_expires, actor)


async def _refuse_rotated_token(token_id: uuid.UUID, session_id: uuid.UUID, now: datetime) -> None:
    """A token rotated moments ago is a client's own duplicate request (two tabs, a
    retry): refuse it and keep the session. Later, the token must have leaked: end the
    whole session."""
    token = await RefreshToken.get(id=token_id)
    if token.rotated_at is not None and now - token.rotated_at < REFRESH_GRACE:
        raise AuthError(
            AuthErrorCode.INVALID_REFRESH_TOKEN,
            "登录凭证已更新，请使用最新的凭证",
            "refreshToken",
        )
    await revoke_session(session_id, "refresh_token_reuse")
    log.warning("refresh token reuse: session %s revoked", session_id)
    raise AuthError(
        AuthErrorCode.REFRESH_TOKEN_REUSED,
        "检测到登录凭证被重复使用，为了您的安全请重新登录",
        "refreshToken",
    )


def _current_actor(session: SessionFacts) -> Actor | None:
    """The session's actor as of now (a staff role may have changed); None if the
    account is gone or disabled."""
    if session.subject_kind is SubjectKind.CUSTOMER:
        if not session.customer_exists:
            return None
        return Actor(session.subject_kind, session.subject_id, session.id)
    if session.staff_role is None:
        return None
    return Actor(
        session.subject_kind,
        session.subject_id,
        session.id,
        session.staff_role,
        withheld=session.withheld,
    )


async def logout(actor: Actor) -> None:
    if actor.session_id is None:
        raise AuthError(AuthErrorCode.NOT_AUTHENTICATED, "您尚未登录")
    await revoke_session(actor.session_id, "logout")


# ---------------------------------------------------------------- SMS codes


def _valid_phone(raw: str) -> str:
    phone = normalize_phone(raw)
    if not PHONE_PATTERN.match(phone):
        raise AuthError(AuthErrorCode.INVALID_PHONE, "请输入正确的11位手机号码", "phone")
    return phone


def _code_hash(services: AuthDeps, phone_hash: str, code: str) -> str:
    return services.pii.lookup_hash(f"{phone_hash}:{code}", "otp")


async def request_login_code(
    services: AuthDeps, raw_phone: str, *, client: Client
) -> LoginCodeSent:
    settings = services.settings
    phone = _valid_phone(raw_phone)
    # Per client before per phone: one client spraying codes over many numbers (SMS
    # pumping, guessing spread over accounts) stops here.
    await _limit_client(
        services,
        "sms",
        client,
        settings.limit_sms_per_ip,
        settings.limit_sms_per_installation,
        "phone",
    )
    phone_hash = services.pii.phone_hash(phone)
    now = _now()
    recent = await OtpChallenge.filter(
        phone_hash=phone_hash, created_at__gte=now - timedelta(hours=1)
    ).order_by("-created_at")
    if recent:
        wait = settings.otp_resend_seconds - int((now - recent[0].created_at).total_seconds())
        if wait > 0:
            raise AuthError(
                AuthErrorCode.THROTTLED,
                f"验证码已发送，请{wait}秒后再试",
                "phone",
                retry_after=wait,
            )
    if len(recent) >= settings.otp_max_per_hour:
        oldest = recent[settings.otp_max_per_hour - 1].created_at
        wait = max(1, int((oldest + timedelta(hours=1) - now).total_seconds()) + 1)
        raise AuthError(
            AuthErrorCode.THROTTLED,
            "验证码请求过于频繁，请一小时后再试",
            "phone",
            retry_after=wait,
        )
    code = f"{secrets.randbelow(1_000_000):06d}"
    # The slot makes two simultaneous requests (a double tap) collide on a unique key.
    slot = int(now.timestamp()) // settings.otp_resend_seconds
    try:
        challenge = await OtpChallenge.create(
            phone_hash=phone_hash,
            send_slot=slot,
            code_hash=_code_hash(services, phone_hash, code),
            expires_at=now + timedelta(seconds=settings.otp_ttl_seconds),
        )
    except IntegrityError:
        raise AuthError(
            AuthErrorCode.THROTTLED,
            "验证码已发送，请稍后再试",
            "phone",
            retry_after=settings.otp_resend_seconds,
        ) from None
    try:
        await services.sms.send_login_code(phone, code)
    except SmsError:
        await challenge.delete()
        raise AuthError(
            AuthErrorCode.SMS_UNAVAILABLE, "短信发送失败，请稍后重试", "phone"
        ) from None
    return LoginCodeSent(
        phone_masked=mask_phone(phone),
        expires_in_seconds=settings.otp_ttl_seconds,
        resend_after_seconds=settings.otp_resend_seconds,
    )


async def verify_login_code(services: AuthDeps, raw_phone: str, code: str) -> str:
    """Consume a valid code for the phone and return the normalised phone number."""
    phone = _valid_phone(raw_phone)
    code = code.strip()
    if not (len(code) == 6 and code.isdigit()):
        raise AuthError(AuthErrorCode.INVALID_CODE, "请输入6位数字验证码", "code")
    phone_hash = services.pii.phone_hash(phone)
    challenge = (
        await OtpChallenge.filter(phone_hash=phone_hash, consumed_at=None)
        .order_by("-created_at")
        .first()
    )
    if challenge is None:
        raise AuthError(AuthErrorCode.CODE_REQUIRED, "请先获取验证码", "code")
    if challenge.expires_at <= _now():
        raise AuthError(AuthErrorCode.CODE_EXPIRED, "验证码已过期，请重新获取", "code")
    max_attempts = services.settings.otp_max_attempts
    counted = await OtpChallenge.filter(
        id=challenge.id, consumed_at=None, attempts__lt=max_attempts
    ).update(attempts=F("attempts") + 1)
    if not counted:
        raise AuthError(AuthErrorCode.TOO_MANY_ATTEMPTS, "验证码错误次数过多，请重新获取", "code")
    if not hmac.compare_digest(_code_hash(services, phone_hash, code), challenge.code_hash):
        left = max_attempts - challenge.attempts - 1
        if left <= 0:
            raise AuthError(
                AuthErrorCode.TOO_MANY_ATTEMPTS, "验证码错误次数过多，请重新获取", "code"
            )
        raise AuthError(AuthErrorCode.INVALID_CODE, f"验证码错误，还可尝试{left}次", "code")
    consumed = await OtpChallenge.filter(id=challenge.id, consumed_at=None).update(
        consumed_at=_now()
    )
    if not consumed:
        raise AuthError(AuthErrorCode.CODE_EXPIRED, "验证码已使用，请重新获取", "code")
    return phone


async def customer_for_phone(services: AuthDeps, phone: str) -> Customer:
    """The customer with this phone; a first login creates the account (no enumeration:
    every phone gets the same answer)."""
    sealed = services.pii.seal_phone(phone)
    customer = await Customer.get_or_none(phone_hash=sealed.lookup_hash)
    if customer is not None:
        return customer
    try:
        return await Customer.create(
            phone_encrypted=sealed.encrypted,
            phone_hash=sealed.lookup_hash,
            phone_masked=sealed.masked,
        )
    except IntegrityError:
        return await Customer.get(phone_hash=sealed.lookup_hash)


async def login_with_code(
    services: AuthDeps,
    raw_phone: str,
    code: str,
    channel: Channel = Channel.APP,
    *,
    client: Client,
) -> IssuedTokens:
    await _limit_logins(services, client)
    phone = await verify_login_code(services, raw_phone, code)
    customer = await customer_for_phone(services, phone)
    return await start_session(services, SubjectKind.CUSTOMER, customer.id, channel)


# ---------------------------------------------------------------- WeChat mini-program


async def wechat_login(
    services: AuthDeps, js_code: str, *, client: Client
) -> IssuedTokens | WechatBindingRequired:
    wechat = services.wechat
    if not wechat.app_id:
        raise AuthError(AuthErrorCode.WECHAT_NOT_CONFIGURED, "暂不支持微信登录")
    if not js_code.strip():
        raise AuthError(AuthErrorCode.WECHAT_CODE_INVALID, "微信登录凭证无效", "code")
    await _limit_logins(services, client)  # each login costs a call to WeChat
    try:
        session = await wechat.code2session(js_code.strip())
    except WechatError as exc:
        if exc.errcode in (40029, 40163, 40226):  # invalid, used, or blocked as risky
            raise AuthError(
                AuthErrorCode.WECHAT_CODE_INVALID, "微信登录凭证无效，请重试", "code"
            ) from None
        raise AuthError(
            AuthErrorCode.WECHAT_UNAVAILABLE, "微信登录暂时不可用，请稍后重试"
        ) from None
    identity = await WechatIdentity.get_or_none(app_id=wechat.app_id, openid=session.openid)
    if identity is None and session.unionid:
        # Known through another app of the same WeChat open platform account.
        sibling = await WechatIdentity.filter(unionid=session.unionid).first()
        if sibling is not None:
            identity = await _bind_identity(
                sibling.customer_id, wechat.app_id, session.openid, session.unionid
            )
    if identity is None:
        ticket = _encode(
            services,
            {
                "typ": "wechat_binding",
                "sub": session.openid,
                "uid": session.unionid,
                "app": wechat.app_id,
            },
            timedelta(seconds=BINDING_TICKET_SECONDS),
        )
        return WechatBindingRequired(ticket, BINDING_TICKET_SECONDS)
    if session.unionid and identity.unionid != session.unionid:
        await WechatIdentity.filter(id=identity.id).update(unionid=session.unionid)
    return await start_session(
        services,
        SubjectKind.CUSTOMER,
        identity.customer_id,
        Channel.MINI_PROGRAM,
        wechat_identity=identity,
    )


async def _bind_identity(
    customer_id: uuid.UUID, app_id: str, openid: str, unionid: str | None
) -> WechatIdentity:
    try:
        return await WechatIdentity.create(
            customer_id=customer_id, app_id=app_id, openid=openid, unionid=unionid
        )
    except IntegrityError:
        existing = await WechatIdentity.get(app_id=app_id, openid=openid)
        if existing.customer_id != customer_id:
            raise AuthError(AuthErrorCode.WECHAT_ALREADY_BOUND, "该微信已绑定其他手机号") from None
        return existing


async def bind_wechat_phone(
    services: AuthDeps, binding_ticket: str, raw_phone: str, code: str, *, client: Client
) -> IssuedTokens:
    await _limit_logins(services, client)
    claims = _decode(services, binding_ticket, "wechat_binding")
    if claims is None or claims.get("app") != services.wechat.app_id:
        raise AuthError(
            AuthErrorCode.INVALID_BINDING_TICKET,
            "绑定已超时，请重新进行微信登录",
            "bindingTicket",
        )
    phone = _valid_phone(raw_phone)
    bound = await WechatIdentity.get_or_none(app_id=claims["app"], openid=claims["sub"])
    if bound is not None:
        owner = await Customer.get_or_none(id=bound.customer_id)
        if owner is None or owner.phone_hash != services.pii.phone_hash(phone):
            raise AuthError(AuthErrorCode.WECHAT_ALREADY_BOUND, "该微信已绑定其他手机号")
    await verify_login_code(services, phone, code)
    customer = await customer_for_phone(services, phone)
    identity = await _bind_identity(customer.id, claims["app"], claims["sub"], claims.get("uid"))
    return await start_session(
        services,
        SubjectKind.CUSTOMER,
        customer.id,
        Channel.MINI_PROGRAM,
        wechat_identity=identity,
    )


class WechatIdentityUnavailable(Exception):
    """No WeChat identity may act for this request; the message says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def wechat_identity_for(actor: Actor, app_id: str) -> WechatIdentity:
    """The rule for which of a customer's WeChat identities acts for a request under
    ``app_id`` (the payer of a JSAPI order, the receiver of a WeChat payout): the one
    this session logged in with in the mini-program, since WeChat lets only the user
    in front of the mini-program pay, and only an openid of the paying app id be paid.

    A session that logged in with an identity of another app id is refused (that
    openid does not exist under ``app_id``). A session not opened by a mini-program
    login (the app's SMS login, or one older than this record) uses the customer's
    only identity under ``app_id``; with several (two WeChat users bound to one
    phone), none is guessed: the customer acts from the mini-program."""
    session = None
    if actor.session_id is not None:
        session = await AuthSession.get_or_none(id=actor.session_id, subject_id=actor.subject_id)
    if session is not None and session.wechat_identity_id is not None:
        identity = await WechatIdentity.get_or_none(
            id=session.wechat_identity_id, customer_id=actor.subject_id
        )
        if identity is None or identity.app_id != app_id:
            raise WechatIdentityUnavailable("请在本小程序中重新登录后操作")
        return identity
    identities = await WechatIdentity.filter(customer_id=actor.subject_id, app_id=app_id).limit(2)
    if not identities:
        raise WechatIdentityUnavailable("请先在小程序中登录以绑定微信")
    if len(identities) > 1:
        raise WechatIdentityUnavailable("您绑定了多个微信，请在要使用的微信中打开小程序操作")
    return identities[0]


# ---------------------------------------------------------------- staff


async def staff_login(
    services: AuthDeps, username: str, password: str, *, client: Client
) -> IssuedTokens:
    """Check a staff password, at a price an attacker cannot scale.

    Before any hash: the client's login rate (THROTTLED). Then failures are counted per
    username *and* client IP: five from one client lock that pair for 15 minutes, so a
    stranger cannot lock a colleague out from elsewhere. A higher ceiling per username,
    counted over the repeated tries of all clients together, slows guessing spread over
    many addresses (each address's first try is not counted, so nobody's first try from
    a clean address is ever refused). Unknown
    usernames are counted, locked and hashed (against a dummy) exactly like real ones:
    no answer and no timing tells whether an account exists.

    Each try is reserved in the counter before the password is checked (an atomic
    increment, in Redis or in this process), so guesses sent all at once cannot exceed
    the limit. A correct password clears its client's failures.
    """
    bad = AuthError(AuthErrorCode.INVALID_CREDENTIALS, "用户名或密码错误", "password")
    settings = services.settings
    limiter = services.limiter
    name = username.strip().lower()
    await _limit_logins(services, client)
    lockout = Rate(settings.staff_max_failed_logins, settings.staff_lockout_seconds)
    pair = f"{name}\n{client.ip_key}"
    attempt = await limiter.hit("staff_failures", pair, lockout)
    if not attempt.allowed:
        raise _locked(attempt.retry_after)
    if attempt.count > 1:
        # Only clients that already failed here count toward (and meet) the ceiling per
        # username: a colleague with a clean record on their own address always gets
        # to try, so failures from elsewhere cannot lock them out.
        ceiling = Rate(settings.staff_max_failed_logins_per_account, settings.staff_lockout_seconds)
        account = await limiter.hit("staff_account", name, ceiling)
        if not account.allowed:
            if account.count == ceiling.count + 1:
                await _lockout_started(services, "account")
            raise _locked(account.retry_after)
    user = await StaffUser.get_or_none(username=name)
    checked = await asyncio.to_thread(
        _verify_password, user.password_hash if user else _dummy_hash(), password
    )
    if user is None or not checked or not user.is_active:
        if attempt.count == lockout.count:  # this failure locks the pair, from now
            await limiter.restart("staff_failures", pair, lockout)
            await _lockout_started(services, "client")
        if user is not None:
            log.warning("failed staff login for account %s", user.id)
        raise bad
    await limiter.reset("staff_failures", pair)
    if password_hasher.check_needs_rehash(user.password_hash):
        new_hash = await asyncio.to_thread(password_hasher.hash, password)
        await StaffUser.filter(id=user.id).update(password_hash=new_hash)
    return await start_session(
        services, SubjectKind.STAFF, user.id, Channel.STAFF_CONSOLE, role=user.role
    )


def _locked(wait: int) -> AuthError:
    return AuthError(
        AuthErrorCode.ACCOUNT_LOCKED,
        f"登录失败次数过多，请{wait_text(wait)}后再试",
        retry_after=wait,
    )


async def _lockout_started(services: AuthDeps, scope: str) -> None:
    """Count lockouts; many in a short time is an attack on the staff (guessing or
    locking everyone out): warn once per window, on whichever process sees it first."""
    storm = services.settings.lockout_storm
    decision = await services.limiter.hit("lockout_storm", "all", storm)
    log.info("staff login locked (%s)", scope)
    if decision.count == storm.count + 1:
        security_log.warning(
            "staff lockout storm: more than %d lockouts within %d s (latest: per %s)",
            storm.count,
            storm.window_seconds,
            scope,
        )


def _verify_password(password_hash: str, password: str) -> bool:
    try:
        return password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_password(password: str) -> str:
    return password_hasher.hash(password)


async def purge_login_records(now: datetime | None = None) -> tuple[int, int]:
    """Delete SMS codes past use and sessions that ended over 30 days ago (kept that
    long for security investigations)."""
    now = now or datetime.now(UTC)
    codes = await OtpChallenge.filter(created_at__lt=now - timedelta(hours=2)).delete()
    cutoff = now - timedelta(days=KEEP_ENDED_SESSIONS_DAYS)
    sessions = await AuthSession.filter(
        Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff)
    ).delete()
    return codes, sessions


JOBS = (Job("login-records", 5 * MINUTE, lambda deps: purge_login_records()),)

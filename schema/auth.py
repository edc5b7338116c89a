"""Login, token refresh and logout; and ``me``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from models.clock import local_time
from models.customers import Customer as CustomerModel
from models.staff import StaffUser
from schema.errors import CODE, Error, ErrorCodes, answers_with, payload_errors
from schema.people import Viewer
from workflows import auth
from workflows.access import Actor

AUTH_CODES = ErrorCodes("AuthErrorCode", "Why a login, refresh or logout failed.", auth.AuthError)


@answers_with(AUTH_CODES)
@strawberry.type(description="A failed login, refresh or logout.")
class AuthError(Error):
    code: str = strawberry.field(graphql_type=AUTH_CODES.enum, description=CODE)


async def viewer_for(actor: Actor) -> Viewer | None:
    if actor.is_customer:
        customer = await CustomerModel.get_or_none(id=actor.subject_id)
        return Viewer.for_customer(customer) if customer else None
    if actor.is_staff:
        staff = await StaffUser.get_or_none(id=actor.subject_id)
        return Viewer.for_staff(staff, actor.withheld) if staff else None
    return None


@strawberry.type(description="Tokens of a logged-in session.")
class AuthSession:
    access_token: str = strawberry.field(
        description="Send as `Authorization: Bearer <token>` (or in `connection_init` as "
        "`{authorization: 'Bearer <token>'}` on WebSocket)."
    )
    access_token_expires_at: datetime = strawberry.field(description="When to refresh.")
    refresh_token: str = strawberry.field(
        description="Single-use: exchange it with `refreshToken` for new tokens. Using a "
        "rotated one again ends the session."
    )
    refresh_token_expires_at: datetime = strawberry.field(
        description="When the session ends without activity."
    )
    viewer: Viewer | None = strawberry.field(description="Who is now logged in.")


async def session_of(tokens: auth.IssuedTokens) -> AuthSession:
    return AuthSession(
        access_token=tokens.access_token,
        access_token_expires_at=local_time(tokens.access_expires_at),
        refresh_token=tokens.refresh_token,
        refresh_token_expires_at=local_time(tokens.refresh_expires_at),
        viewer=await viewer_for(tokens.actor),
    )


@strawberry.type(description="The result of logging in or refreshing.")
class AuthPayload:
    session: AuthSession | None = strawberry.field(description="Set on success.")
    errors: list[AuthError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="The result of asking for an SMS login code.")
class RequestLoginCodePayload:
    phone: str | None = strawberry.field(description="Where the code went, masked.")
    expires_in_seconds: int | None = strawberry.field(description="How long the code is valid.")
    resend_after_seconds: int | None = strawberry.field(
        description="When another code may be asked for."
    )
    errors: list[AuthError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(
    description="The result of a mini-program login: a session, or a binding ticket when "
    "this WeChat user has not bound a phone yet (then call `bindWechatPhone`)."
)
class WechatLoginPayload:
    session: AuthSession | None = strawberry.field(description="Set when already bound.")
    binding_ticket: str | None = strawberry.field(
        description="Set for a first-time WeChat user: pass to `bindWechatPhone`."
    )
    binding_ticket_expires_in_seconds: int | None = strawberry.field(
        description="How long the binding ticket is valid."
    )
    errors: list[AuthError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.type(description="The result of logging out.")
class LogoutPayload:
    logged_out: bool = strawberry.field(description="True when the session was ended.")
    errors: list[AuthError] = strawberry.field(description="Why it failed; empty on success.")


@strawberry.input(description="Ask for a 6-digit login code by SMS.")
class RequestLoginCodeInput:
    phone: str = strawberry.field(description="Mainland mobile number, e.g. `13800000001`.")


@strawberry.input(description="Log in with the SMS code.")
class LoginWithCodeInput:
    phone: str = strawberry.field(description="The same mobile number.")
    code: str = strawberry.field(description="The 6-digit code from the SMS.")


@strawberry.input(description="Log in from the mini-program with the code of `wx.login()`.")
class WechatLoginInput:
    code: str = strawberry.field(description="The `code` that `wx.login()` returned.")


@strawberry.input(description="Bind a first-time WeChat user to a phone, proven by SMS code.")
class BindWechatPhoneInput:
    binding_ticket: str = strawberry.field(description="From `wechatLogin`.")
    phone: str = strawberry.field(description="Mainland mobile number.")
    code: str = strawberry.field(description="The 6-digit code sent to that phone.")


@strawberry.input(description="Staff login.")
class StaffLoginInput:
    username: str = strawberry.field(description="Login name.")
    password: str = strawberry.field(description="Password.")


@strawberry.input(description="Exchange a refresh token for new tokens.")
class RefreshTokenInput:
    refresh_token: str = strawberry.field(description="The latest refresh token.")


@strawberry.type
class AuthQueries:
    @strawberry.field(description="Who is logged in; null when no valid token was sent.")
    async def me(self, info: Info) -> Viewer | None:
        return await viewer_for(info.context.actor)


@strawberry.type
class AuthMutations:
    @strawberry.mutation(
        description="Send a login code by SMS (valid 5 minutes). Limited per phone, per "
        "client IP and per app installation (the app sends a random id it keeps, made at "
        "first start, in the `X-Anxin-Installation` header): THROTTLED with "
        "`retryAfterSeconds`. Like every login mutation, at most one per request."
    )
    async def request_login_code(
        self,
        info: Info,
        input: Annotated[
            RequestLoginCodeInput,
            strawberry.argument(description="The mobile number to send a login code to."),
        ],
    ) -> RequestLoginCodePayload:
        try:
            sent = await auth.request_login_code(
                info.context.services, input.phone, client=info.context.client
            )
        except auth.AuthError as error:
            return RequestLoginCodePayload(
                phone=None,
                expires_in_seconds=None,
                resend_after_seconds=None,
                errors=payload_errors(error, AuthError),
            )
        return RequestLoginCodePayload(
            phone=sent.phone_masked,
            expires_in_seconds=sent.expires_in_seconds,
            resend_after_seconds=sent.resend_after_seconds,
            errors=[],
        )

    @strawberry.mutation(description="Customer login with phone and SMS code (the app).")
    async def login_with_code(
        self,
        info: Info,
        input: Annotated[
            LoginWithCodeInput,
            strawberry.argument(description="The mobile number and the code the SMS brought."),
        ],
    ) -> AuthPayload:
        try:
            tokens = await auth.login_with_code(
                info.context.services, input.phone, input.code, client=info.context.client
            )
        except auth.AuthError as error:
            return AuthPayload(session=None, errors=payload_errors(error, AuthError))
        return AuthPayload(session=await session_of(tokens), errors=[])

    @strawberry.mutation(description="Customer login in the WeChat mini-program.")
    async def wechat_login(
        self,
        info: Info,
        input: Annotated[
            WechatLoginInput,
            strawberry.argument(description="The code `wx.login()` returned in the mini-program."),
        ],
    ) -> WechatLoginPayload:
        try:
            result = await auth.wechat_login(
                info.context.services, input.code, client=info.context.client
            )
        except auth.AuthError as error:
            return WechatLoginPayload(
                session=None,
                binding_ticket=None,
                binding_ticket_expires_in_seconds=None,
                errors=payload_errors(error, AuthError),
            )
        if isinstance(result, auth.WechatBindingRequired):
            return WechatLoginPayload(
                session=None,
                binding_ticket=result.binding_ticket,
                binding_ticket_expires_in_seconds=result.expires_in_seconds,
                errors=[],
            )
        return WechatLoginPayload(
            session=await session_of(result),
            binding_ticket=None,
            binding_ticket_expires_in_seconds=None,
            errors=[],
        )

    @strawberry.mutation(description="Bind a first-time WeChat user to their phone and log in.")
    async def bind_wechat_phone(
        self,
        info: Info,
        input: Annotated[
            BindWechatPhoneInput,
            strawberry.argument(
                description="The binding ticket from `wechatLogin`, the phone and its SMS code."
            ),
        ],
    ) -> AuthPayload:
        try:
            tokens = await auth.bind_wechat_phone(
                info.context.services,
                input.binding_ticket,
                input.phone,
                input.code,
                client=info.context.client,
            )
        except auth.AuthError as error:
            return AuthPayload(session=None, errors=payload_errors(error, AuthError))
        return AuthPayload(session=await session_of(tokens), errors=[])

    @strawberry.mutation(
        description="Staff login with username and password. Limited per client IP "
        "(THROTTLED); five failures from one client lock that username there for a while "
        "(ACCOUNT_LOCKED, unknown usernames alike), both with `retryAfterSeconds`."
    )
    async def staff_login(
        self,
        info: Info,
        input: Annotated[
            StaffLoginInput,
            strawberry.argument(description="The staff member's username and password."),
        ],
    ) -> AuthPayload:
        try:
            tokens = await auth.staff_login(
                info.context.services, input.username, input.password, client=info.context.client
            )
        except auth.AuthError as error:
            return AuthPayload(session=None, errors=payload_errors(error, AuthError))
        return AuthPayload(session=await session_of(tokens), errors=[])

    @strawberry.mutation(description="New tokens for a refresh token (which is then used up).")
    async def refresh_token(
        self,
        info: Info,
        input: Annotated[
            RefreshTokenInput,
            strawberry.argument(
                description="The latest refresh token (used once: the answer carries the next)."
            ),
        ],
    ) -> AuthPayload:
        try:
            tokens = await auth.refresh_session(info.context.services, input.refresh_token)
        except auth.AuthError as error:
            return AuthPayload(session=None, errors=payload_errors(error, AuthError))
        return AuthPayload(session=await session_of(tokens), errors=[])

    @strawberry.mutation(
        description="End this session: its refresh and access tokens stop working."
    )
    async def logout(self, info: Info) -> LogoutPayload:
        try:
            await auth.logout(info.context.actor)
        except auth.AuthError as error:
            return LogoutPayload(logged_out=False, errors=payload_errors(error, AuthError))
        return LogoutPayload(logged_out=True, errors=[])

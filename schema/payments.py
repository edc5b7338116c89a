"""Premium payments: create an order, open the provider's cashier, follow it live."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from models import payments as m
from models.clock import local_time
from models.policies import Policy as PolicyRow
from payments.base import PaymentMethod
from payments.sandbox import SandboxProvider
from push.bus import current_then_changes
from schema.common import (
    CheckoutParam,
    Connection,
    CursorArg,
    Money,
    PageArg,
    cny,
    node_uuid,
    paginate,
)
from schema.errors import CODE, Error, ErrorCodes, UserInputError, answers_with, payload_errors
from schema.permissions import CUSTOMER_ONLY, IsAuthenticated, staff_only
from schema.policies.types import Policy, PremiumInstallment
from schema.scalars import Amount
from workflows.access import Actor, Permission, visible_orders
from workflows.errors import DomainError
from workflows.idempotency import IdempotencyError
from workflows.payments.orders import (
    PAYMENT_ALERTS,
    PaymentError,
    PaymentErrorCode,
    create_premium_payment,
    handle_callback,
)
from workflows.payments.refunds import request_refund
from workflows.policies import PolicyError, cancel_in_cooling_off

strawberry.enum(PaymentMethod, description="How a premium is paid.")
strawberry.enum(m.OrderStatus, description="Where a payment order stands.")
PAYMENT_CODES = ErrorCodes(
    "PaymentErrorCode", "Why a payment action failed.", PaymentError, IdempotencyError
)


@answers_with(PAYMENT_CODES)
@strawberry.type(name="PaymentError", description="A failed payment action.")
class PaymentFailure(Error):
    code: str = strawberry.field(graphql_type=PAYMENT_CODES.enum, description=CODE)


POLICY_CODES = ErrorCodes(
    "PolicyErrorCode",
    "Why a policy change failed.",
    PolicyError,
    PaymentError,
    IdempotencyError,
)


@answers_with(POLICY_CODES)
@strawberry.type(description="A failed policy change (and the refunds it starts).")
class PolicyChangeError(Error):
    code: str = strawberry.field(graphql_type=POLICY_CODES.enum, description=CODE)


strawberry.enum(m.RefundStatus, description="Where a refund stands.")
strawberry.enum(m.RefundReason, description="Why money is refunded.")


@strawberry.type(description="A refund of a payment order.")
class PaymentRefund(relay.Node):
    """An entity (a row) whose status moves as the provider answers."""

    id: relay.NodeID[str]
    refund_number: str = strawberry.field(description="Our refund number.")
    amount: Money = strawberry.field(description="The amount refunded.")
    reason: m.RefundReason = strawberry.field(description="Why.")
    status: m.RefundStatus = strawberry.field(description="Current status.")
    created_at: datetime = strawberry.field(description="When it was requested.")

    @classmethod
    def from_model(cls, refund: m.Refund) -> PaymentRefund:
        return cls(
            id=str(refund.id),
            refund_number=refund.refund_number,
            amount=cny(refund.amount),
            reason=refund.reason,
            status=refund.status,
            created_at=local_time(refund.created_at),
        )


@strawberry.type(description="A premium payment order.")
class PaymentOrder(relay.Node):
    model: strawberry.Private[m.PaymentOrder]
    id: relay.NodeID[str]
    order_number: str = strawberry.field(description="Our order number, e.g. `PO2026...`.")
    status: m.OrderStatus = strawberry.field(description="Current status.")
    method: PaymentMethod = strawberry.field(description="How it is paid.")
    amount: Money = strawberry.field(description="The amount, from the installment.")
    created_at: datetime = strawberry.field(description="When the order was made.")
    expires_at: datetime = strawberry.field(description="Pay before this.")
    paid_at: datetime | None = strawberry.field(description="When it was paid.")
    checkout: list[CheckoutParam] = strawberry.field(
        description="What the client passes to the provider's SDK (`wx.requestPayment`, "
        "the Alipay SDK's order string, or the sandbox order)."
    )

    @classmethod
    def from_model(cls, order: m.PaymentOrder) -> PaymentOrder:
        return cls(
            model=order,
            id=str(order.id),
            order_number=order.order_number,
            status=order.status,
            method=PaymentMethod(order.method),
            amount=cny(order.amount),
            created_at=local_time(order.created_at),
            expires_at=local_time(order.expires_at),
            paid_at=local_time(order.paid_at) if order.paid_at else None,
            checkout=[CheckoutParam(key=k, value=v) for k, v in order.checkout.items()],
        )

    @strawberry.field(description="Refunds of this order, oldest first.")
    async def refunds(self, info: Info) -> list[PaymentRefund]:
        rows = await info.context.loaders.refunds.load(self.model.id)
        return [PaymentRefund.from_model(r) for r in rows]

    @strawberry.field(description="The policy the premium is for.")
    async def policy_number(self, info: Info) -> str:
        return (await info.context.loaders.policies.load(self.model.policy_id)).number

    @strawberry.field(
        description="The installment this order pays: PAID once the order is (a payment "
        "answer carries it, so a client's cache updates without a refetch)."
    )
    async def installment(self, info: Info) -> PremiumInstallment:
        loaders = info.context.loaders
        row = await loaders.installment.load(self.model.installment_id)
        policy = await loaders.policies.load(self.model.policy_id)
        return PremiumInstallment.from_model(row, policy.status)

    @strawberry.field(
        description="The policy the premium is for (its `nextPremiumDue` and `installments` "
        "change when the order is paid)."
    )
    async def policy(self, info: Info) -> Policy:
        return Policy.from_model(
            await info.context.loaders.policies.load(self.model.policy_id), info.context
        )


@strawberry.type(
    description="The result of a payment action: the order as it is now (with its "
    "`installment`, `policy` and `refunds`)."
)
class PaymentPayload:
    order: PaymentOrder | None = strawberry.field(description="The order, as it is now.")
    replaced_order: PaymentOrder | None = strawberry.field(
        default=None,
        description="`createPremiumPayment`: the installment's open order this one replaced "
        "(another method, or about to expire), now CLOSED; null otherwise.",
    )
    errors: list[PaymentFailure] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Pay one premium installment.")
class CreatePremiumPaymentInput:
    installment_id: relay.GlobalID = strawberry.field(description="The installment.")
    method: PaymentMethod = strawberry.field(description="How to pay.")
    idempotency_key: str = strawberry.field(
        description="A client-made unique key (8-128 characters): retries with it return "
        "the same order."
    )


@strawberry.input(description="Staff: refund a paid order in full or in part.")
class RefundPaymentInput:
    order_id: relay.GlobalID = strawberry.field(description="The paid order.")
    amount: Amount = strawberry.field(description="At most what is still refundable.")
    reason: m.RefundReason = strawberry.field(description="Why.")
    note: str = strawberry.field(default="", description="Internal note.")
    idempotency_key: str = strawberry.field(
        description="A unique key (8-128 characters): retries return the same refund."
    )


@strawberry.input(description="Staff: cancel a policy in its cooling-off period (犹豫期退保).")
class CancelPolicyInCoolingOffInput:
    policy_id: relay.GlobalID = strawberry.field(description="The policy.")
    idempotency_key: str = strawberry.field(
        description="A unique key (8-128 characters): a retry does not refund twice."
    )


@strawberry.type(description="The result of a cooling-off cancellation.")
class CancelPolicyPayload:
    cancelled: bool = strawberry.field(description="True when the policy was cancelled.")
    policy: Policy | None = strawberry.field(
        default=None,
        description="The policy, now CANCELLED (its installments no longer owed); null on failure.",
    )
    orders: list[PaymentOrder] = strawberry.field(
        default_factory=list,
        description="The policy's paid orders that were refunded, each with its `refunds`.",
    )
    refunds: list[PaymentRefund] = strawberry.field(
        description="The refunds of the policy's orders, oldest first."
    )
    errors: list[PolicyChangeError] = strawberry.field(description="Empty on success.")


@strawberry.input(description="Development only: pay a sandbox order.")
class CompleteSandboxPaymentInput:
    order_id: relay.GlobalID = strawberry.field(description="The order.")


def _failed(error: DomainError) -> PaymentPayload:
    return PaymentPayload(order=None, errors=payload_errors(error, PaymentFailure))


async def order_visible_to(actor: Actor, order_id: uuid.UUID) -> m.PaymentOrder | None:
    return await visible_orders(actor).filter(id=order_id).first()


async def refund_node(actor: Actor, object_id: uuid.UUID) -> PaymentRefund | None:
    """As `PaymentOrder.refunds`: whoever may see the order sees its refunds."""
    row = await m.Refund.get_or_none(id=object_id)
    if row is None or await order_visible_to(actor, row.order_id) is None:
        return None
    return PaymentRefund.from_model(row)


@strawberry.type
class PaymentQueries:
    @strawberry.field(
        description="My payment orders, newest first.", permission_classes=CUSTOMER_ONLY
    )
    async def my_payments(
        self, info: Info, first: PageArg = None, after: CursorArg = None
    ) -> Connection[PaymentOrder]:
        queryset = m.PaymentOrder.filter(customer_id=info.context.actor.subject_id)
        return await paginate(
            queryset.order_by("-created_at", "-id"),
            PaymentOrder.from_model,
            first=first,
            after=after,
            last=None,
            before=None,
        )

    @strawberry.field(
        description="One payment order; null if missing or not yours.",
        permission_classes=[IsAuthenticated],
    )
    async def payment_order(
        self,
        info: Info,
        id: Annotated[relay.GlobalID, strawberry.argument(description="The order's ID.")],
    ) -> PaymentOrder | None:
        row = await order_visible_to(info.context.actor, node_uuid(id, "PaymentOrder"))
        return PaymentOrder.from_model(row) if row else None


@strawberry.type
class PaymentMutations:
    @strawberry.mutation(
        description="Start paying a premium installment.", permission_classes=CUSTOMER_ONLY
    )
    async def create_premium_payment(
        self,
        info: Info,
        input: Annotated[
            CreatePremiumPaymentInput,
            strawberry.argument(
                description="The installment to pay and how; the idempotency key makes a "
                "retry return the same order."
            ),
        ],
    ) -> PaymentPayload:
        services = info.context.services
        actor = info.context.actor
        try:
            answer = await create_premium_payment(
                services.payment_providers,
                actor,
                node_uuid(input.installment_id, "PremiumInstallment"),
                input.method,
                input.idempotency_key,
                notify_base_url=services.settings.public_base_url,
            )
        except (PaymentError, IdempotencyError) as error:
            return _failed(error)
        order = await m.PaymentOrder.get(id=answer["order_id"])
        replaced_id = answer.get("replaced_order_id")
        replaced = await order_visible_to(actor, uuid.UUID(replaced_id)) if replaced_id else None
        return PaymentPayload(
            order=PaymentOrder.from_model(order),
            replaced_order=PaymentOrder.from_model(replaced) if replaced else None,
            errors=[],
        )

    @strawberry.mutation(
        description="Staff (PAYMENT_REFUND): refund a premium paid in error or a policy "
        "cancelled in its cooling-off period.",
        permission_classes=staff_only(Permission.PAYMENT_REFUND),
    )
    async def refund_payment(
        self,
        info: Info,
        input: Annotated[
            RefundPaymentInput,
            strawberry.argument(
                description="The paid order, the amount to give back and why; the "
                "idempotency key makes a retry refund once."
            ),
        ],
    ) -> PaymentPayload:
        services = info.context.services
        order_id = node_uuid(input.order_id, "PaymentOrder")
        try:
            await request_refund(
                services.payment_providers,
                info.context.actor,
                order_id,
                input.amount,
                input.reason,
                input.note,
                input.idempotency_key,
                notify_base_url=services.settings.public_base_url,
            )
        except (PaymentError, IdempotencyError) as error:
            return _failed(error)
        order = await m.PaymentOrder.get(id=order_id)
        return PaymentPayload(order=PaymentOrder.from_model(order), errors=[])

    @strawberry.mutation(
        description="Staff (PAYMENT_REFUND): cancel a policy within its cooling-off period; "
        "every premium paid for it is refunded in full.",
        permission_classes=staff_only(Permission.PAYMENT_REFUND),
    )
    async def cancel_policy_in_cooling_off(
        self,
        info: Info,
        input: Annotated[
            CancelPolicyInCoolingOffInput,
            strawberry.argument(
                description="The policy to cancel; the idempotency key makes a retry "
                "cancel and refund once."
            ),
        ],
    ) -> CancelPolicyPayload:
        services = info.context.services
        policy_id = node_uuid(input.policy_id, "Policy")
        try:
            await cancel_in_cooling_off(
                services.payment_providers,
                info.context.actor,
                policy_id,
                input.idempotency_key,
                notify_base_url=services.settings.public_base_url,
            )
        except (PolicyError, PaymentError, IdempotencyError) as error:
            errors = payload_errors(error, PolicyChangeError)
            return CancelPolicyPayload(cancelled=False, refunds=[], errors=errors)
        policy = await PolicyRow.get(id=policy_id).select_related("product")
        rows = await m.Refund.filter(order__policy_id=policy_id).order_by("created_at", "id")
        refunded = {row.order_id for row in rows}
        orders = await m.PaymentOrder.filter(id__in=refunded).order_by("created_at", "id")
        return CancelPolicyPayload(
            cancelled=True,
            policy=Policy.from_model(policy, info.context),
            orders=[PaymentOrder.from_model(order) for order in orders],
            refunds=[PaymentRefund.from_model(r) for r in rows],
            errors=[],
        )

    @strawberry.mutation(
        description="Development only: the sandbox provider reports the order paid, "
        "through the same callback path as real providers.",
        permission_classes=CUSTOMER_ONLY,
    )
    async def complete_sandbox_payment(
        self,
        info: Info,
        input: Annotated[
            CompleteSandboxPaymentInput,
            strawberry.argument(description="The sandbox order to report paid."),
        ],
    ) -> PaymentPayload:
        sandbox = info.context.services.payment_providers.get("sandbox")
        order = await order_visible_to(
            info.context.actor, node_uuid(input.order_id, "PaymentOrder")
        )
        if not isinstance(sandbox, SandboxProvider) or order is None or order.provider != "sandbox":
            return _failed(
                PaymentError(PaymentErrorCode.ORDER_NOT_FOUND, "未找到该支付订单", "orderId")
            )
        headers, body = sandbox.paid_notification(order.order_number, order.amount)
        reply = await handle_callback(sandbox, headers, body)
        if reply.status_code != 200:
            return _failed(
                PaymentError(PaymentErrorCode.ORDER_NOT_FOUND, "支付未能完成", "orderId")
            )
        await order.refresh_from_db()
        return PaymentPayload(order=PaymentOrder.from_model(order), errors=[])


@strawberry.type(description="A payment that needs a person.")
class PaymentAlert:
    event_type: str = strawberry.field(
        description="`payment.duplicate` (paid twice, refund queued) or "
        "`payment.duplicate_refund_failed`."
    )
    order: PaymentOrder | None = strawberry.field(description="The order concerned.")


@strawberry.type
class PaymentSubscriptions:
    @strawberry.subscription(
        description="One payment order live: its current status at once (so a client that "
        "reconnects catches up), then again after each change; refused like a missing order "
        "if not yours.",
        permission_classes=[IsAuthenticated],
    )
    async def payment_updated(
        self,
        info: Info,
        order_id: Annotated[relay.GlobalID, strawberry.argument(description="The order.")],
    ) -> AsyncGenerator[PaymentOrder, None]:
        actor = info.context.actor
        order = await order_visible_to(actor, node_uuid(order_id, "PaymentOrder"))
        if order is None:
            raise UserInputError("未找到该支付订单")

        async def current() -> PaymentOrder:
            await order.refresh_from_db()
            return PaymentOrder.from_model(order)

        async for state in current_then_changes(
            info.context.services.bus, f"payment:{order.id}", current
        ):
            yield state

    @strawberry.subscription(
        description="Staff (PAYMENT_REFUND): money that needs a person — a payment for an "
        "installment already paid (refunded automatically) or such a refund that failed.",
        permission_classes=staff_only(Permission.PAYMENT_REFUND),
    )
    async def payment_alerts(self, info: Info) -> AsyncGenerator[PaymentAlert, None]:
        async for event in info.context.services.bus.subscribe(PAYMENT_ALERTS):
            row = await m.PaymentOrder.get_or_none(id=event["entityId"])
            yield PaymentAlert(
                event_type=event["type"], order=PaymentOrder.from_model(row) if row else None
            )

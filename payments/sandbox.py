"""The sandbox providers of the embedded default: a payment taken end to end, and a
claim paid to a bank card, with no outside service. Their "callbacks" are notifications
signed with keys derived from the secret key and delivered through the same callback
path as the real providers'."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

from payments import bank
from payments.base import (
    CallbackReply,
    Checkout,
    InvalidNotification,
    PaymentNotification,
    PayRequest,
    ProviderRejected,
    RefundRequest,
    RefundResult,
    RefundState,
    TradeState,
    TradeStatus,
    TransferRequest,
    TransferResult,
    TransferState,
)

SIGNATURE_HEADER = "x-sandbox-signature"


class SandboxProvider:
    name = "sandbox"
    app_id = "sandbox-app"
    merchant_id = "sandbox-merchant"

    def __init__(self, signing_key: bytes) -> None:
        self._key = signing_key
        self._trades: dict[str, TradeStatus] = {}

    def _sign(self, body: bytes) -> str:
        return hmac.new(self._key, body, hashlib.sha256).hexdigest()

    async def checkout(self, request: PayRequest) -> Checkout:
        self._trades[request.order_number] = TradeStatus(
            request.order_number, TradeState.WAITING, request.amount
        )
        return Checkout(request.method, {"sandboxOrder": request.order_number})

    def paid_notification(self, order_number: str, amount: Decimal) -> tuple[dict[str, str], bytes]:
        """What the sandbox "provider" posts when the customer pays (development only)."""
        body = json.dumps(
            {
                "order_number": order_number,
                "amount": f"{amount:.2f}",
                "trade_no": f"SBX{uuid.uuid4().hex[:20].upper()}",
                "app_id": self.app_id,
                "merchant_id": self.merchant_id,
                "paid_at": datetime.now(UTC).isoformat(),
            }
        ).encode()
        return {SIGNATURE_HEADER: self._sign(body)}, body

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentNotification:
        signature = headers.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(signature, self._sign(body)):
            raise InvalidNotification("bad sandbox signature")
        try:
            data = json.loads(body)
            return PaymentNotification(
                kind="payment",
                order_number=data["order_number"],
                state=TradeState.PAID,
                amount=Decimal(data["amount"]),
                provider_trade_no=data["trade_no"],
                app_id=data["app_id"],
                merchant_id=data["merchant_id"],
                occurred_at=datetime.fromisoformat(data["paid_at"]),
                raw=data,
            )
        except (ValueError, KeyError) as exc:
            raise InvalidNotification("malformed sandbox notification") from exc

    def reply(self, accepted: bool) -> CallbackReply:
        return CallbackReply(
            200 if accepted else 400, b"success" if accepted else b"fail", "text/plain"
        )

    async def query(self, order_number: str) -> TradeStatus:
        return self._trades.get(order_number, TradeStatus(order_number, TradeState.NOT_FOUND))

    async def close(self, order_number: str) -> None:
        self._trades.pop(order_number, None)

    async def refund(self, request: RefundRequest) -> RefundResult:
        return RefundResult(
            request.refund_number, RefundState.SUCCESS, f"SBXR{request.refund_number}"
        )

    async def query_refund(self, order_number: str, refund_number: str) -> RefundResult:
        return RefundResult(refund_number, RefundState.SUCCESS, f"SBXR{refund_number}")

    async def transfer(self, request: TransferRequest) -> TransferResult:
        if request.amount <= 0:
            raise ProviderRejected("INVALID_AMOUNT", "amount must be positive")
        return TransferResult(
            request.transfer_number, TransferState.SUCCESS, f"SBXT{request.transfer_number}"
        )

    async def query_transfer(self, transfer_number: str) -> TransferResult:
        return TransferResult(transfer_number, TransferState.SUCCESS, f"SBXT{transfer_number}")


class BankSandbox:
    """Development's bank-card payouts ("bank" when no payment platform is configured): a
    transfer succeeds at once; the refusals (amount, card number, holder's name) and the
    signed callbacks are the platform adapter's own, under a derived key."""

    name = "bank"
    app_id = "sandbox-bank"
    merchant_id = "sandbox-bank"

    def __init__(self, signing_key: bytes, clock: Callable[[], float] = time.time) -> None:
        self._key = signing_key
        self._clock = clock
        self._transfers: dict[str, tuple[TransferResult, int]] = {}  # number: (result, fen)

    async def transfer(self, request: TransferRequest) -> TransferResult:
        number, fen, _card, _name = bank.checked_payee(request)
        result = TransferResult(number, TransferState.SUCCESS, f"SBXB{number}")
        return self._transfers.setdefault(number, (result, fen))[0]  # a resend: the first

    async def query_transfer(self, transfer_number: str) -> TransferResult:
        missing = TransferResult(transfer_number, TransferState.NOT_FOUND)
        return self._transfers.get(transfer_number, (missing, 0))[0]

    def finished_notification(self, transfer_number: str) -> tuple[dict[str, str], bytes]:
        """What the sandbox "platform" posts when a transfer ends (development only)."""
        result, fen = self._transfers[transfer_number]
        body = json.dumps(
            {
                "app_id": self.app_id,
                "out_transfer_no": transfer_number,
                "transfer_id": result.provider_transfer_id,
                "status": result.state.value,
                "amount_fen": fen,
                "finished_at": datetime.now(UTC).isoformat(),
            }
        ).encode()
        headers = bank.signed_headers(
            self._key, self.app_id, "POST", bank.NOTIFY_PATH, body, self._clock()
        )
        return headers, body

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> PaymentNotification:
        return bank.read_notification(self._key, self.app_id, bank.NOTIFY_PATH, headers, body, now)

    def reply(self, accepted: bool) -> CallbackReply:
        return bank.reply(accepted)

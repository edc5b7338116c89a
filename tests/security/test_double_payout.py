"""A claim is paid once: concurrent staff clicks with distinct idempotency keys, the
worker racing staff, and another account proposed while a payout is live all end with
one live payout and one transfer; the database enforces it (a unique live key), not a
check in Python. A stray second success is recorded and raised, never a crash."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
from strawberry import relay

from api.services import Services
from models.claims import Claim, ClaimEvent, ClaimStatus
from models.notifications import OutboxEvent
from models.payments import LedgerEntry, Payout, PayoutStatus
from models.payout_accounts import PayoutAccount
from models.staff import StaffRole
from payments.base import TransferRequest, TransferResult, TransferState
from payments.sandbox import SandboxProvider
from tests.conftest import postgres_only
from tests.factories import make_staff, staff_token
from tests.graphql import gql
from tests.workflows.payments.test_payouts import PAYOUT, PayingClaim, paying_claim
from workflows.payments.payouts import follow_up_payouts, start_chosen_payouts

URL = "http://127.0.0.1"

APPROVE = """mutation($input: ClaimPayoutDecisionInput!) { approveClaimPayout(input: $input) {
  claim { status payouts { status payee reason } timeline { action note } }
  errors { code field } } }"""
CANCEL = APPROVE.replace("approveClaimPayout", "cancelClaimPayout")


class SlowProvider(SandboxProvider):
    """The sandbox with a provider's latency, so racing requests really overlap."""

    def __init__(self) -> None:
        super().__init__(b"s" * 32)
        self.transfers: list[TransferRequest] = []

    async def transfer(self, request: TransferRequest) -> TransferResult:
        self.transfers.append(request)
        await asyncio.sleep(0.05)
        return TransferResult(request.transfer_number, TransferState.SUCCESS, "T-slow")

    async def query_transfer(self, transfer_number: str) -> TransferResult:
        return TransferResult(transfer_number, TransferState.NOT_FOUND)


def claim_uuid(setup: PayingClaim) -> str:
    return relay.GlobalID.from_id(setup.claim_id).node_id


async def pay(
    client: httpx.AsyncClient,
    setup: PayingClaim,
    key: str,
    token: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = await gql(
        client,
        PAYOUT,
        {"input": {"claimId": setup.claim_id, "idempotencyKey": key, **extra}},
        token=setup.staff,
    )
    return body["data"]["startClaimPayout"]


@postgres_only
async def test_six_concurrent_payouts_pay_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    setup = await paying_claim(client, services)
    provider = SlowProvider()
    services.payment_providers["sandbox"] = provider
    others = [
        {"provider": "SANDBOX", "payeeId": f"20880000000001{n}", "reason": "客户来电更换账户"}
        for n in range(3)
    ]
    answers = await asyncio.gather(
        *[pay(client, setup, f"payout-race-{n:02d}") for n in range(3)],
        *[pay(client, setup, f"payout-other-{n:02d}", **extra) for n, extra in enumerate(others)],
        start_chosen_payouts(services.transfer_providers, services.pii, notify_base_url=URL),
    )
    live = await Payout.filter(claim_id=claim_uuid(setup), live_key__not_isnull=True)
    assert len(live) == 1
    assert await Payout.filter(claim_id=claim_uuid(setup)).count() == 1
    # The winner is either a payout to the chosen account (sent once) or a proposal to
    # another account (waiting for a second person, nothing sent).
    expected = 0 if live[0].status is PayoutStatus.AWAITING_APPROVAL else 1
    assert len(provider.transfers) == expected
    codes = [e["code"] for a in answers if isinstance(a, dict) for e in a["errors"]]
    assert codes.count("PAYOUT_IN_PROGRESS") >= 5
    assert await LedgerEntry.filter(kind="PAYOUT").count() == len(provider.transfers)


async def test_sequential_payouts_after_success_are_refused(
    client: httpx.AsyncClient, services: Services
) -> None:
    setup = await paying_claim(client, services)
    services.payment_providers["sandbox"] = SlowProvider()
    first = await pay(client, setup, "payout-first-1")
    assert first["errors"] == [] and first["claim"]["status"] == "PAID"
    again = await pay(client, setup, "payout-again-1")
    assert again["errors"][0]["code"] == "ILLEGAL_TRANSITION"
    assert await Payout.filter(claim_id=claim_uuid(setup)).count() == 1


async def test_staff_pay_the_claimants_account_and_another_needs_a_second_person(
    client: httpx.AsyncClient, services: Services
) -> None:
    setup = await paying_claim(client, services)
    provider = SlowProvider()
    services.payment_providers["sandbox"] = provider
    # Another account without a reason: refused, nothing recorded.
    bare = await pay(client, setup, "payout-bare-1", provider="SANDBOX", payeeId="2088999")
    assert [e["code"] for e in bare["errors"]] == ["REQUIRED"]
    assert await Payout.filter(claim_id=claim_uuid(setup)).count() == 0
    proposed = await pay(
        client, setup, "payout-prop-1", provider="SANDBOX", payeeId="2088999000", reason="客户来电"
    )
    assert proposed["errors"] == []
    assert proposed["claim"]["status"] == "PAYING"
    assert proposed["claim"]["payouts"][0]["status"] == "AWAITING_APPROVAL"
    assert provider.transfers == []
    assert "propose_payout" in [t["action"] for t in proposed["claim"]["timeline"]]
    # The proposer cannot approve their own proposal.
    own = await gql(client, APPROVE, {"input": {"claimId": setup.claim_id}}, token=setup.staff)
    assert own["data"]["approveClaimPayout"]["errors"][0]["code"] == "SECOND_PERSON_REQUIRED"
    assert provider.transfers == []
    # A second supervisor approves: paid to that account, the claimant is told.
    second = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    approved = await gql(client, APPROVE, {"input": {"claimId": setup.claim_id}}, token=second)
    answer = approved["data"]["approveClaimPayout"]
    assert answer["errors"] == []
    assert answer["claim"]["status"] == "PAID"
    assert [t.payee_id for t in provider.transfers] == ["2088999000"]
    notice = await OutboxEvent.filter(event_type="claim.payout_account_changed").first()
    claim = await Claim.get(id=claim_uuid(setup))
    assert notice is not None and notice.customer_id == claim.customer_id
    assert await ClaimEvent.filter(claim_id=claim.id, action="approve_payout").exists()


async def test_a_turned_down_proposal_frees_the_claim_for_the_chosen_account(
    client: httpx.AsyncClient, services: Services
) -> None:
    setup = await paying_claim(client, services)
    provider = SlowProvider()
    services.payment_providers["sandbox"] = provider
    await pay(client, setup, "payout-prop-2", provider="SANDBOX", payeeId="2088777000", reason="?")
    second = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    no_reason = await gql(client, CANCEL, {"input": {"claimId": setup.claim_id}}, token=second)
    assert no_reason["data"]["cancelClaimPayout"]["errors"][0]["code"] == "REQUIRED"
    cancelled = await gql(
        client,
        CANCEL,
        {"input": {"claimId": setup.claim_id, "reason": "无法核实"}},
        token=second,
    )
    assert cancelled["data"]["cancelClaimPayout"]["errors"] == []
    paid = await pay(client, setup, "payout-chosen-2")
    assert paid["claim"]["status"] == "PAID"
    assert [t.payee_id for t in provider.transfers] == ["2088000000000001"]
    # The payee's name on file goes with it, for the provider's real-name check (WeChat
    # refuses 2,000 yuan and more without it; before, no name was ever sent).
    assert [t.payee_name for t in provider.transfers] == ["张伟"]


async def test_a_stray_second_success_is_recorded_and_raised_not_a_crash(
    client: httpx.AsyncClient, services: Services
) -> None:
    setup = await paying_claim(client, services)
    services.payment_providers["sandbox"] = SlowProvider()
    paid = await pay(client, setup, "payout-first-3")
    assert paid["claim"]["status"] == "PAID"
    # A payout left over from before the live key (or a manual fix) that then succeeds.
    stray = await Payout.create(
        claim_id=claim_uuid(setup),
        transfer_number="TF-STRAY-0001",
        provider="sandbox",
        payee_encrypted=PayoutAccount("sandbox", "2088000000000001").seal(services.pii),
        payee_masked="测试账户 208****0001",
        amount=paid["claim"]["paidAmount"]["amount"],
        status=PayoutStatus.PROCESSING,
    )

    class Succeeds(SlowProvider):
        async def query_transfer(self, transfer_number: str) -> TransferResult:
            return TransferResult(transfer_number, TransferState.SUCCESS, "T-stray")

    services.payment_providers["sandbox"] = Succeeds()
    assert (
        await follow_up_payouts(services.transfer_providers, services.pii, notify_base_url=URL) == 1
    )
    assert (await Payout.get(id=stray.id)).status is PayoutStatus.SUCCESS
    assert (await Claim.get(id=claim_uuid(setup))).status is ClaimStatus.PAID
    assert (
        await LedgerEntry.filter(kind="PAYOUT").count() == 2
    )  # the money left twice: on the books
    assert await OutboxEvent.filter(event_type="claim.payout_duplicate").exists()


RECORD = """mutation($input: RecordClaimPaymentInput!) { recordClaimPayment(input: $input) {
  claim { status } errors { code } } }"""


async def claim_version(setup: PayingClaim) -> int:
    return (await Claim.get(id=claim_uuid(setup))).version


async def test_a_payment_recorded_by_hand_is_refused_while_a_transfer_is_live(
    client: httpx.AsyncClient, services: Services
) -> None:
    setup = await paying_claim(client, services)
    services.payment_providers["sandbox"] = SlowProvider()
    await pay(client, setup, "payout-live-4", provider="SANDBOX", payeeId="2088111", reason="来电")
    record = {"claimId": setup.claim_id, "payoutReference": "BANK-1", "expectedVersion": 0}
    record["expectedVersion"] = await claim_version(setup)
    body = await gql(client, RECORD, {"input": record}, token=setup.staff)
    assert [e["code"] for e in body["data"]["recordClaimPayment"]["errors"]] == [
        "PAYOUT_IN_PROGRESS"
    ]
    assert (await Claim.get(id=claim_uuid(setup))).status is ClaimStatus.PAYING


@postgres_only
async def test_a_transfer_racing_a_payment_recorded_by_hand_pays_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    for round_number in range(4):
        setup = await paying_claim(client, services)
        provider = SlowProvider()
        services.payment_providers["sandbox"] = provider
        record = {
            "claimId": setup.claim_id,
            "payoutReference": f"BANK-{round_number}",
            "expectedVersion": await claim_version(setup),
        }
        recorded, _ = await asyncio.gather(
            gql(client, RECORD, {"input": record}, token=setup.staff),
            pay(client, setup, f"payout-vs-record-{round_number}"),
        )
        by_hand = not recorded["data"]["recordClaimPayment"]["errors"]
        assert by_hand + len(provider.transfers) == 1
        assert (await Claim.get(id=claim_uuid(setup))).status is ClaimStatus.PAID


async def test_the_long_running_worker_pays_chosen_accounts_and_sends_queued_refunds(
    client: httpx.AsyncClient, services: Services
) -> None:
    """The long-running mode, not only ``--once``: a claimant's chosen account is paid
    without anyone calling a job by hand (before, only ``run_jobs_once`` paid out)."""
    from api.jobs import run_jobs

    setup = await paying_claim(client, services)  # the claimant chose a sandbox account
    provider = SlowProvider()
    services.payment_providers["sandbox"] = provider
    jobs = asyncio.create_task(run_jobs(services))
    try:
        for _ in range(200):
            if (await Claim.get(id=claim_uuid(setup))).status is ClaimStatus.PAID:
                break
            await asyncio.sleep(0.05)
        running = set(services.loops.loops)
    finally:
        jobs.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await jobs
    assert (await Claim.get(id=claim_uuid(setup))).status is ClaimStatus.PAID
    assert [t.payee_id for t in provider.transfers] == ["2088000000000001"]
    assert {"payouts", "refunds"} <= running


async def test_a_payout_recorded_but_never_sent_is_sent_once_later(
    client: httpx.AsyncClient, services: Services
) -> None:
    """The process died between recording a payout and sending it: the claim holds its
    live key, so nobody can start another; the follow-up sends the same transfer number
    once the provider has not heard of it for a while (before, it waited for ever)."""
    from datetime import UTC, datetime, timedelta

    setup = await paying_claim(client, services)
    provider = SlowProvider()  # answers NOT_FOUND to queries until it gets the transfer
    services.payment_providers["sandbox"] = provider
    claim = await Claim.get(id=claim_uuid(setup))
    stranded = await Payout.create(
        claim_id=claim.id,
        transfer_number="TF-STRANDED-01",
        provider="sandbox",
        payee_encrypted=PayoutAccount("sandbox", "2088000000000001").seal(services.pii),
        payee_masked="测试账户 208****0001",
        amount=claim.approved_amount,
        live_key=f"claim:{claim.id}",
    )
    blocked = await pay(client, setup, "payout-after-crash")
    assert [e["code"] for e in blocked["errors"]] == ["PAYOUT_IN_PROGRESS"]
    base = "http://127.0.0.1"
    assert (
        await follow_up_payouts(services.transfer_providers, services.pii, notify_base_url=base)
        == 0
    )
    assert provider.transfers == []  # just recorded: perhaps still being sent
    later = datetime.now(UTC) + timedelta(minutes=3)
    assert (
        await follow_up_payouts(
            services.transfer_providers, services.pii, notify_base_url=base, now=later
        )
        == 1
    )
    assert [t.transfer_number for t in provider.transfers] == ["TF-STRANDED-01"]
    assert (await Payout.get(id=stranded.id)).status is PayoutStatus.SUCCESS
    assert (await Claim.get(id=claim.id)).status is ClaimStatus.PAID

"""Policy documents and e-invoices through GraphQL and HTTP: the list with signed
download links, who gets what, logged staff reads, the public verification (query and
QR page), and an invoice request through the job to its PDF."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from strawberry import relay

from api.services import Services
from models.claims import ClaimStatus
from models.customers import Customer
from models.payments import OrderStatus, PaymentOrder
from models.policies import Policy, PremiumInstallment
from models.staff import StaffRole
from tests.factories import (
    customer_token,
    make_claim,
    make_customer,
    make_policy,
    make_staff,
    staff_token,
)
from tests.graphql import gql
from workflows.policy_service.invoices import process_invoices

DOCUMENTS = """
query($id: ID!) {
  policyDocuments(policyId: $id) {
    documents {
      id kind title number version fileName sha256 verificationCode downloadUrl verifyUrl
    }
    errors { code field message }
  }
}
"""
VERIFY = """
query($hash: String!) {
  verifyDocument(hash: $hash) {
    verification { issued kind number holderNameMasked superseded }
    errors { code }
  }
}
"""
REQUEST_INVOICE = """
mutation($input: RequestInvoiceInput!) {
  requestInvoice(input: $input) {
    invoiceRequest { id number status title taxNumber amount { amount } }
    errors { code field message }
  }
}
"""
INVOICE_NODE = """
query($id: ID!) {
  node(id: $id) {
    ... on InvoiceRequest { status invoiceNumber document { kind downloadUrl } }
  }
}
"""
NODE = "query($id: ID!) { node(id: $id) { id __typename } }"


def gid(type_name: str, object_id: object) -> str:
    return str(relay.GlobalID(type_name, str(object_id)))


async def paid_order(holder: Customer, policy: Policy) -> PaymentOrder:
    installment = await PremiumInstallment.get(policy_id=policy.id, sequence=1)
    now = datetime.now(UTC)
    return await PaymentOrder.create(
        order_number=f"PO20261202{secrets.randbelow(10**6):06d}",
        customer=holder,
        policy=policy,
        installment=installment,
        provider="sandbox",
        method="SANDBOX",
        amount=installment.amount,
        status=OrderStatus.PAID,
        paid_at=now,
        expires_at=now + timedelta(minutes=30),
    )


async def test_the_holder_downloads_the_documents_by_their_signed_links(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    policy = await make_policy(services, holder)
    await paid_order(holder, policy)
    token = await customer_token(services, holder)

    body = await gql(client, DOCUMENTS, {"id": gid("Policy", policy.id)}, token=token)

    answer = body["data"]["policyDocuments"]
    assert answer["errors"] == []
    kinds = [d["kind"] for d in answer["documents"]]
    assert kinds == ["POLICY", "PREMIUM_RECEIPT"]
    for document in answer["documents"]:
        response = await client.get(document["downloadUrl"])
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
        assert hashlib.sha256(response.content).hexdigest() == document["sha256"]
        assert document["verifyUrl"].endswith(f"/verify/{document['verificationCode']}")
    again = await gql(client, DOCUMENTS, {"id": gid("Policy", policy.id)}, token=token)
    assert [d["id"] for d in again["data"]["policyDocuments"]["documents"]] == [
        d["id"] for d in answer["documents"]
    ]


async def test_who_gets_which_document(client: httpx.AsyncClient, services: Services) -> None:
    """Holder: all; insured: the e-policy; beneficiary and strangers: nothing, as for a
    policy that does not exist."""
    holder = await make_customer(services, "张伟")
    insured = await make_customer(services, "李娜")
    beneficiary = await make_customer(services, "王芳")
    stranger = await make_customer(services, "赵强")
    policy = await make_policy(
        services, holder, insured=[holder, insured], beneficiaries=[beneficiary]
    )
    await paid_order(holder, policy)
    tokens = {
        c.name: await customer_token(services, c) for c in (holder, insured, beneficiary, stranger)
    }
    policy_id = gid("Policy", policy.id)
    everything = (await gql(client, DOCUMENTS, {"id": policy_id}, token=tokens["张伟"]))["data"]
    e_policy, receipt = everything["policyDocuments"]["documents"]

    insured_view = await gql(client, DOCUMENTS, {"id": policy_id}, token=tokens["李娜"])
    assert [d["kind"] for d in insured_view["data"]["policyDocuments"]["documents"]] == ["POLICY"]
    node = await gql(client, NODE, {"id": receipt["id"]}, token=tokens["李娜"])
    assert node["data"]["node"] is None
    missing = await gql(client, DOCUMENTS, {"id": gid("Policy", stranger.id)}, token=tokens["赵强"])
    for who in ("王芳", "赵强"):
        refused = await gql(client, DOCUMENTS, {"id": policy_id}, token=tokens[who])
        assert refused["data"]["policyDocuments"] == missing["data"]["policyDocuments"]
        assert refused["data"]["policyDocuments"]["errors"][0]["code"] == "DOCUMENT_NOT_FOUND"
        for document in (e_policy, receipt):
            node = await gql(client, NODE, {"id": document["id"]}, token=tokens[who])
            assert node["data"]["node"] is None


async def test_staff_reads_are_logged(
    client: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    holder = await make_customer(services)
    policy = await make_policy(services, holder)
    agent = await make_staff(StaffRole.AGENT)
    token = await staff_token(services, agent)

    with caplog.at_level(logging.INFO, logger="anxin.security"):
        body = await gql(client, DOCUMENTS, {"id": gid("Policy", policy.id)}, token=token)
        document = body["data"]["policyDocuments"]["documents"][0]
        node = await gql(client, NODE, {"id": document["id"]}, token=token)

    assert node["data"]["node"]["__typename"] == "PolicyDocument"
    reads = [r.getMessage() for r in caplog.records if "read document" in r.getMessage()]
    assert len(reads) == 2
    assert all(document["number"] in line and str(agent.id) in line for line in reads)


async def test_anyone_can_verify_a_document_and_learns_only_the_masked_name(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    policy = await make_policy(services, holder)
    token = await customer_token(services, holder)
    body = await gql(client, DOCUMENTS, {"id": gid("Policy", policy.id)}, token=token)
    document = body["data"]["policyDocuments"]["documents"][0]

    ours = await gql(client, VERIFY, {"hash": document["sha256"]})  # no token: public
    forged = await gql(client, VERIFY, {"hash": secrets.token_hex(32)})
    malformed = await gql(client, VERIFY, {"hash": "12345"})
    page = await client.get(f"/verify/{document['verificationCode']}")
    unknown_page = await client.get(f"/verify/{secrets.token_hex(32)}")

    assert ours["data"]["verifyDocument"]["verification"] == {
        "issued": True,
        "kind": "POLICY",
        "number": document["number"],
        "holderNameMasked": "张*",
        "superseded": False,
    }
    assert forged["data"]["verifyDocument"]["verification"]["issued"] is False
    assert forged["data"]["verifyDocument"]["verification"]["number"] is None
    assert malformed["data"]["verifyDocument"]["errors"] == [{"code": "INVALID_DOCUMENT_HASH"}]
    assert page.status_code == 200
    assert document["number"] in page.text and "张*" in page.text
    assert "张伟" not in page.text and policy.number not in page.text
    assert unknown_page.status_code == 404


async def test_a_settlement_notice_and_a_yearly_statement(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services)
    other = await make_customer(services)
    policy = await make_policy(services, holder)
    claim = await make_claim(holder, policy, ClaimStatus.REJECTED, decided_at=datetime.now(UTC))
    query = """query($id: ID!) { claimSettlementNotice(claimId: $id) {
      document { kind title } errors { code } } }"""
    statement = """query($year: Int!) { myYearlyStatement(year: $year) {
      document { kind title } errors { code } } }"""

    mine = await gql(
        client, query, {"id": gid("Claim", claim.id)}, token=await customer_token(services, holder)
    )
    theirs = await gql(
        client, query, {"id": gid("Claim", claim.id)}, token=await customer_token(services, other)
    )
    year = datetime.now(UTC).year
    yearly = await gql(
        client, statement, {"year": year}, token=await customer_token(services, holder)
    )

    assert mine["data"]["claimSettlementNotice"]["document"]["kind"] == "CLAIM_NOTICE"
    assert theirs["data"]["claimSettlementNotice"] == {
        "document": None,
        "errors": [{"code": "DOCUMENT_NOT_FOUND"}],
    }
    assert yearly["data"]["myYearlyStatement"]["document"]["title"] == f"{year}年度对账单"


async def test_an_invoice_request_through_the_job_to_its_pdf(
    client: httpx.AsyncClient, services: Services
) -> None:
    holder = await make_customer(services, "张伟")
    other = await make_customer(services, "赵强")
    policy = await make_policy(services, holder)
    order = await paid_order(holder, policy)
    token = await customer_token(services, holder)
    variables = {
        "input": {
            "orderId": gid("PaymentOrder", order.id),
            "titleKind": "PERSONAL",
            "title": "张伟",
            "idempotencyKey": "gql-invoice-0001",
        }
    }

    stranger = await gql(
        client, REQUEST_INVOICE, variables, token=await customer_token(services, other)
    )
    body = await gql(client, REQUEST_INVOICE, variables, token=token)
    assert services.invoice_provider is not None
    await process_invoices(services.invoice_provider, services.documents, services.pii)

    assert stranger["data"]["requestInvoice"]["errors"][0]["code"] == "ORDER_NOT_FOUND"
    created = body["data"]["requestInvoice"]["invoiceRequest"]
    assert created["status"] == "REQUESTED" and created["amount"] == {"amount": "600.00"}
    issued = await gql(client, INVOICE_NODE, {"id": created["id"]}, token=token)
    node = issued["data"]["node"]
    assert node["status"] == "ISSUED" and node["document"]["kind"] == "INVOICE"
    pdf = await client.get(node["document"]["downloadUrl"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    hidden = await gql(
        client, INVOICE_NODE, {"id": created["id"]}, token=await customer_token(services, other)
    )
    assert hidden["data"]["node"] is None
    listed = await gql(client, DOCUMENTS, {"id": gid("Policy", policy.id)}, token=token)
    kinds = [d["kind"] for d in listed["data"]["policyDocuments"]["documents"]]
    assert kinds == ["POLICY", "PREMIUM_RECEIPT", "INVOICE"]

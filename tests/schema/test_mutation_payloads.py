"""A mutation answers every object it changed (and the owner of a list it changed), so a
normalized client cache (Apollo's, urql's) updates itself without a refetch: after each
mutation, the objects in its payload equal what a fresh query returns for them.

Also the typed inputs the same clients rely on: enums where the set of values is known,
list filters alike, and an input description per mutation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import graphql
import httpx
import pytest
from strawberry import relay
from tortoise.transactions import in_transaction

from api.services import Services
from models.payments import PaymentOrder
from models.payout_accounts import PROVIDER_NAMES
from models.policies import Policy, PremiumInstallment, Product
from models.staff import StaffRole
from models.surveys import RecoveryTask
from models.visits import FollowUpVisit, VisitChannel, VisitTrigger
from push.outbox import OutboxRelay
from schema import build_schema
from tests.factories import customer_token, make_customer, make_policy, make_staff, staff_token
from tests.graphql import gql
from tests.schema.test_notifications import announce
from workflows import surveys


def gid(type_name: str, object_id: Any) -> str:
    return str(relay.GlobalID(type_name, str(object_id)))


async def fresh_node(
    client: httpx.AsyncClient, token: str, node_id: str, type_name: str, fields: str
) -> dict[str, Any]:
    """What a fresh ``node(id:)`` query answers for the object (a new request: no cache)."""
    query = f"query($id: ID!) {{ node(id: $id) {{ ... on {type_name} {{ {fields} }} }} }}"
    node: dict[str, Any] = (await gql(client, query, {"id": node_id}, token=token))["data"]["node"]
    assert node, f"{type_name} {node_id} not found"
    return node


# ---------------------------------------------------------------- payments

INSTALLMENT = "id status paidAt"
POLICY = f"""id status nextPremiumDue {{ {INSTALLMENT} }} installments {{ {INSTALLMENT} }}"""
ORDER = f"""id status paidAt method
  refunds {{ refundNumber status reason amount {{ amount }} }}
  installment {{ {INSTALLMENT} }} policy {{ {POLICY} }}"""
CREATE = f"""mutation($input: CreatePremiumPaymentInput!) {{ createPremiumPayment(input: $input) {{
  order {{ {ORDER} }} replacedOrder {{ {ORDER} }} errors {{ code }} }} }}"""
COMPLETE = f"""mutation($id: ID!) {{ completeSandboxPayment(input: {{orderId: $id}}) {{
  order {{ {ORDER} }} errors {{ code }} }} }}"""
CANCEL = f"""mutation($input: CancelPolicyInCoolingOffInput!) {{
  cancelPolicyInCoolingOff(input: $input) {{
    cancelled policy {{ {POLICY} }} orders {{ {ORDER} }}
    refunds {{ refundNumber status reason amount {{ amount }} }} errors {{ code }} }} }}"""


async def _holder_with_an_unpaid_installment(services: Services) -> tuple[str, Policy, str]:
    holder = await make_customer(services)
    policy = await make_policy(services, holder)  # installment 2 is unpaid
    installment = await PremiumInstallment.get(policy_id=policy.id, sequence=2)
    return await customer_token(services, holder), policy, gid("PremiumInstallment", installment.id)


async def _start(
    client: httpx.AsyncClient, token: str, installment_id: str, key: str
) -> dict[str, Any]:
    variables = {
        "input": {"installmentId": installment_id, "method": "SANDBOX", "idempotencyKey": key}
    }
    answer: dict[str, Any] = (await gql(client, CREATE, variables, token=token))["data"][
        "createPremiumPayment"
    ]
    assert answer["errors"] == []
    return answer


async def test_a_paid_order_answers_its_installment_and_policy(
    client: httpx.AsyncClient, services: Services
) -> None:
    token, policy, installment_id = await _holder_with_an_unpaid_installment(services)
    order = (await _start(client, token, installment_id, "payload-key-0001"))["order"]
    assert order["installment"] == {"id": installment_id, "status": "UNPAID", "paidAt": None}
    paid = (await gql(client, COMPLETE, {"id": order["id"]}, token=token))["data"][
        "completeSandboxPayment"
    ]
    assert paid["errors"] == []
    answered = paid["order"]
    assert answered["status"] == "PAID" and answered["method"] == "SANDBOX"
    assert answered["installment"]["status"] == "PAID" and answered["installment"]["paidAt"]
    assert answered["policy"]["id"] == gid("Policy", policy.id)
    assert answered["policy"]["nextPremiumDue"] is None  # both installments paid now
    # The cache's copies of the order, the installment and the policy are the fresh ones.
    assert answered == await fresh_node(client, token, order["id"], "PaymentOrder", ORDER)
    assert answered["installment"] == await fresh_node(
        client, token, installment_id, "PremiumInstallment", INSTALLMENT
    )
    assert answered["policy"] == await fresh_node(
        client, token, answered["policy"]["id"], "Policy", POLICY
    )


async def test_a_new_order_answers_the_open_order_it_replaced(
    client: httpx.AsyncClient, services: Services
) -> None:
    token, _, installment_id = await _holder_with_an_unpaid_installment(services)
    first = (await _start(client, token, installment_id, "payload-key-0002"))["order"]
    assert (await _start(client, token, installment_id, "payload-key-0003"))[
        "replacedOrder"
    ] is None
    # About to expire: the next tap replaces it (closed at the provider first).
    order_id = relay.GlobalID.from_id(first["id"]).node_id
    soon = datetime.now(UTC) + timedelta(minutes=1)
    await PaymentOrder.filter(id=order_id).update(expires_at=soon)
    second = await _start(client, token, installment_id, "payload-key-0004")
    assert second["order"]["id"] != first["id"] and second["order"]["status"] == "CREATED"
    replaced = second["replacedOrder"]
    assert replaced["id"] == first["id"] and replaced["status"] == "CLOSED"
    assert replaced == await fresh_node(client, token, first["id"], "PaymentOrder", ORDER)


async def test_a_cooling_off_cancellation_answers_the_policy_and_the_refunded_orders(
    client: httpx.AsyncClient, services: Services
) -> None:
    token, policy, installment_id = await _holder_with_an_unpaid_installment(services)
    order = (await _start(client, token, installment_id, "payload-key-0005"))["order"]
    await gql(client, COMPLETE, {"id": order["id"]}, token=token)
    await Product.filter(id=policy.product_id).update(cooling_off_days=15)
    await Policy.filter(id=policy.id).update(issued_at=datetime.now(UTC) - timedelta(days=3))
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    variables = {"input": {"policyId": gid("Policy", policy.id), "idempotencyKey": "cancel-0001"}}
    done = (await gql(client, CANCEL, variables, token=supervisor))["data"][
        "cancelPolicyInCoolingOff"
    ]
    assert done["errors"] == [] and done["cancelled"] is True
    assert done["policy"]["status"] == "CANCELLED" and done["policy"]["nextPremiumDue"] is None
    assert {i["status"] for i in done["policy"]["installments"]} == {"PAID"}
    [refunded] = done["orders"]
    assert refunded["id"] == order["id"]
    assert [r["reason"] for r in refunded["refunds"]] == ["COOLING_OFF_CANCELLATION"]
    assert refunded["refunds"] == done["refunds"]
    assert done["policy"] == await fresh_node(
        client, supervisor, gid("Policy", policy.id), "Policy", POLICY
    )
    assert refunded == await fresh_node(client, supervisor, order["id"], "PaymentOrder", ORDER)
    refused = (
        await gql(
            client,
            CANCEL,
            {"input": {**variables["input"], "idempotencyKey": "cancel-0002"}},
            token=supervisor,
        )
    )["data"]["cancelPolicyInCoolingOff"]
    assert refused["errors"] == [{"code": "NOT_CANCELLABLE"}]
    assert (refused["policy"], refused["orders"]) == (None, [])


# ---------------------------------------------------------------- notifications

ENTRY = "id read title"
MARK = f"""mutation($input: MarkNotificationsReadInput!) {{ markNotificationsRead(input: $input) {{
  notifications {{ {ENTRY} }} unreadCount errors {{ code }} }} }}"""


async def test_marking_read_answers_the_entries_and_the_count(
    client: httpx.AsyncClient, services: Services
) -> None:
    customer = await make_customer(services)
    token = await customer_token(services, customer)
    for number in ("LP1", "LP2", "LP3"):
        await announce(customer, number)
    await OutboxRelay(services.bus, services.queue).relay_once()
    inbox = "{ unreadNotificationCount notifications(first: 10) { edges { node { id } } } }"
    ids = [
        e["node"]["id"]
        for e in (await gql(client, inbox, token=token))["data"]["notifications"]["edges"]
    ]

    async def mark(**how: Any) -> dict[str, Any]:
        answer: dict[str, Any] = (await gql(client, MARK, {"input": how}, token=token))["data"][
            "markNotificationsRead"
        ]
        assert answer["errors"] == []
        fresh = (await gql(client, inbox, token=token))["data"]
        assert answer["unreadCount"] == fresh["unreadNotificationCount"]
        for entry in answer["notifications"]:
            assert entry["read"] is True
            assert entry == await fresh_node(client, token, entry["id"], "Notification", ENTRY)
        return answer

    one = await mark(ids=[ids[1]])
    assert [e["id"] for e in one["notifications"]] == [ids[1]] and one["unreadCount"] == 2
    rest = await mark(all=True)
    assert [e["id"] for e in rest["notifications"]] == [ids[0], ids[2]]  # newest first
    assert rest["unreadCount"] == 0
    assert await mark(all=True) == {"notifications": [], "unreadCount": 0, "errors": []}


# ---------------------------------------------------------------- surveys

SURVEY = "id title about templateVersion expiresAt answered questions { kind text }"
SUBMIT = f"""mutation($input: SubmitSurveyInput!) {{ submitSurvey(input: $input) {{
  accepted survey {{ {SURVEY} }} errors {{ code }} }} }}"""
BY_TOKEN = f"query($t: String!) {{ surveyByToken(token: $t) {{ {SURVEY} }} }}"
ANSWERS = [
    {"questionKey": "q1", "number": 5},
    {"questionKey": "q2", "number": 9},
    {"questionKey": "q3", "choiceKeys": ["fast"]},
]


@pytest.mark.parametrize("logged_in", [True, False], ids=["in-the-app", "by-link"])
async def test_a_submitted_survey_answers_as_answered(
    client: httpx.AsyncClient, services: Services, logged_in: bool
) -> None:
    customer = await make_customer(services)
    async with in_transaction():
        invitation = await surveys.invite(
            customer.id, "claim.closed", "claim", "c-9", "CLAIM_SERVICE"
        )
    assert invitation is not None
    link = services.survey_links.token(invitation.id)
    login = await customer_token(services, customer)
    how = {"surveyId": gid("Survey", invitation.id)} if logged_in else {"token": link}
    before = (await gql(client, BY_TOKEN, {"t": link}))["data"]["surveyByToken"]
    assert before["answered"] is False
    body = await gql(
        client, SUBMIT, {"input": {"answers": ANSWERS, **how}}, token=login if logged_in else None
    )
    answer = body["data"]["submitSurvey"]
    assert answer["accepted"] is True and answer["errors"] == []
    assert answer["survey"] == {**before, "answered": True}
    assert answer["survey"] == (await gql(client, BY_TOKEN, {"t": link}))["data"]["surveyByToken"]
    assert (await gql(client, "{ mySurveys { id } }", token=login))["data"]["mySurveys"] == []
    again = await gql(client, SUBMIT, {"input": {"answers": ANSWERS[:1], **how}}, token=login)
    refused = again["data"]["submitSurvey"]
    assert refused == {"accepted": False, "survey": None, "errors": [{"code": "ALREADY_ANSWERED"}]}


TASK = "id customerName customerPhone reason source dueAt overdue doneAt outcome"
COMPLETE_TASK = f"""mutation($input: CompleteRecoveryTaskInput!) {{
  completeRecoveryTask(input: $input) {{ completed task {{ {TASK} }} errors {{ code }} }} }}"""


async def test_a_completed_recovery_task_answers_the_task(
    client: httpx.AsyncClient, services: Services
) -> None:
    customer = await make_customer(services, name="赵雷")
    task = await RecoveryTask.create(
        customer=customer,
        source="rating",
        source_id=uuid.uuid4(),
        reason="评价1星",
        due_at=datetime.now(UTC) + timedelta(hours=20),
        open_key=f"{customer.id}:CLAIM:x",
    )
    supervisor = await staff_token(services, await make_staff(StaffRole.SUPERVISOR))
    variables = {"input": {"taskId": gid("RecoveryTask", task.id), "outcome": "已致电致歉"}}
    done = (await gql(client, COMPLETE_TASK, variables, token=supervisor))["data"][
        "completeRecoveryTask"
    ]
    assert done["completed"] is True and done["errors"] == []
    assert done["task"]["outcome"] == "已致电致歉" and done["task"]["doneAt"]
    queue = f"{{ recoveryTasks(openOnly: false) {{ {TASK} }} }}"
    assert (await gql(client, queue, token=supervisor))["data"]["recoveryTasks"] == [done["task"]]
    twice = (await gql(client, COMPLETE_TASK, variables, token=supervisor))["data"][
        "completeRecoveryTask"
    ]
    assert twice == {"completed": False, "task": None, "errors": [{"code": "NOT_FOUND"}]}


# ---------------------------------------------------------------- visits

VISIT = "id purpose channel dueAt policyNumber changeRequested preferredTime status customerNote"
CHANGE = f"""mutation($input: RequestVisitChangeInput!) {{ requestVisitChange(input: $input) {{
  changed visit {{ {VISIT} }} errors {{ code }} }} }}"""
DECLINE = f"""mutation($input: DeclineVisitInput!) {{ declineVisit(input: $input) {{
  changed visit {{ {VISIT} }} errors {{ code }} }} }}"""
STAFF_LIST = f"""query($filter: VisitFilter) {{ followUpVisits(filter: $filter) {{
  edges {{ node {{ {VISIT} }} }} }} }}"""


async def test_a_customers_visit_request_answers_the_visit(
    client: httpx.AsyncClient, services: Services
) -> None:
    customer = await make_customer(services)
    policy = await make_policy(services, customer)
    visit = await FollowUpVisit.create(
        customer=customer,
        trigger=VisitTrigger.POLICY_ANNIVERSARY,
        subject=f"policy:{policy.id}:2027",
        purpose="保单周年回访",
        policy=policy,
        channel=VisitChannel.PHONE,
        due_at=datetime.now(UTC) + timedelta(days=1),
        max_attempts=3,
        retry_after_days=2,
    )
    token = await customer_token(services, customer)
    visit_id = gid("MyVisit", visit.id)
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    change = {"visitId": visit_id, "preferredTime": later, "note": "晚上方便"}
    asked = (await gql(client, CHANGE, {"input": change}, token=token))["data"][
        "requestVisitChange"
    ]
    assert asked["changed"] is True and asked["errors"] == []
    assert (asked["visit"]["changeRequested"], asked["visit"]["customerNote"]) == (True, "晚上方便")
    mine = f"{{ myVisits {{ {VISIT} }} }}"
    assert (await gql(client, mine, token=token))["data"]["myVisits"] == [asked["visit"]]

    declined = (
        await gql(client, DECLINE, {"input": {"visitId": visit_id, "note": "不需要"}}, token=token)
    )["data"]["declineVisit"]
    assert declined["changed"] is True and declined["errors"] == []
    assert (declined["visit"]["status"], declined["visit"]["customerNote"]) == (
        "DECLINED",
        "不需要",
    )
    assert (await gql(client, mine, token=token))["data"]["myVisits"] == []  # only SCHEDULED
    # The same visit as the customer reads it now, field by field.
    fresh = f"query($id: ID!) {{ node(id: $id) {{ ... on MyVisit {{ {VISIT} }} }} }}"
    assert (await gql(client, fresh, {"id": visit_id}, token=token))["data"]["node"] == (
        declined["visit"]
    )

    refused = (await gql(client, DECLINE, {"input": {"visitId": visit_id}}, token=token))["data"][
        "declineVisit"
    ]
    assert refused == {"changed": False, "visit": None, "errors": [{"code": "NOT_SCHEDULED"}]}


async def test_visit_filters_take_lists(client: httpx.AsyncClient, services: Services) -> None:
    customer = await make_customer(services)
    agent = await staff_token(services, await make_staff(StaffRole.AGENT))
    for trigger, status in (
        (VisitTrigger.POLICY_ANNIVERSARY, "SCHEDULED"),
        (VisitTrigger.CLAIM_CLOSED, "DONE"),
        (VisitTrigger.HIGH_VALUE, "DECLINED"),
    ):
        await FollowUpVisit.create(
            customer=customer,
            trigger=trigger,
            subject=f"{trigger}:{uuid.uuid4()}",
            purpose="回访",
            channel=VisitChannel.PHONE,
            status=status,
            due_at=datetime.now(UTC) + timedelta(days=1),
            max_attempts=3,
            retry_after_days=2,
        )

    async def statuses(where: dict[str, Any] | None) -> list[str]:
        variables = {"filter": where} if where is not None else {}
        body = await gql(client, STAFF_LIST, variables, token=agent)
        return sorted(e["node"]["status"] for e in body["data"]["followUpVisits"]["edges"])

    assert await statuses(None) == ["SCHEDULED"]  # the default
    assert await statuses({"status": ["SCHEDULED", "DECLINED"]}) == ["DECLINED", "SCHEDULED"]
    assert await statuses({"status": None}) == ["DECLINED", "DONE", "SCHEDULED"]
    assert await statuses({"status": []}) == ["DECLINED", "DONE", "SCHEDULED"]
    chosen = {"status": None, "trigger": ["CLAIM_CLOSED", "HIGH_VALUE"], "channel": ["PHONE"]}
    assert await statuses(chosen) == ["DECLINED", "DONE"]


# ---------------------------------------------------------------- typed inputs


def _schema() -> graphql.GraphQLSchema:
    return build_schema()._schema


def _named(type_: graphql.GraphQLType) -> str:
    return str(type_)


def test_known_sets_are_enums_not_strings() -> None:
    schema = _schema()

    def field_type(type_name: str, field: str) -> str:
        owner = schema.get_type(type_name)
        assert isinstance(owner, graphql.GraphQLObjectType | graphql.GraphQLInputObjectType)
        return _named(owner.fields[field].type)

    assert field_type("ChooseClaimPayoutAccountInput", "provider") == "TransferProvider!"
    assert field_type("StartClaimPayoutInput", "provider") == "TransferProvider"
    assert field_type("ClaimPayout", "provider") == "TransferProvider!"
    assert field_type("ClaimPayoutAccount", "provider") == "TransferProvider!"
    assert field_type("RateServiceInput", "subjectType") == "RatingSubject!"
    assert field_type("ClaimQueueFilter", "productKind") == "[ProductKind!]"
    assert field_type("PaymentOrder", "method") == "PaymentMethod!"
    assert field_type("PaymentError", "code") == "PaymentErrorCode!"
    # Loss types are each product's own data: a String, and it says so.
    loss_type = schema.get_type("ReportLossInput").fields["lossType"]  # type: ignore[union-attr]
    assert _named(loss_type.type) == "String!" and "not an enum" in loss_type.description


def test_the_transfer_provider_enum_names_every_payout_provider() -> None:
    """GraphQL's names map to the internal ones (what accounts and payouts store)."""
    from schema.claims.enums import TransferProvider

    assert {p.value for p in TransferProvider} == set(PROVIDER_NAMES)
    assert {p.name for p in TransferProvider} == {p.upper() for p in PROVIDER_NAMES}


def test_filters_take_lists_of_enum_values() -> None:
    """Every filter narrows by an enum the same way: a list of values (any of them)."""
    schema = _schema()
    for type_ in schema.type_map.values():
        if not (
            isinstance(type_, graphql.GraphQLInputObjectType) and type_.name.endswith("Filter")
        ):
            continue
        for name, field in type_.fields.items():
            inner = graphql.get_nullable_type(field.type)
            if isinstance(graphql.get_named_type(inner), graphql.GraphQLEnumType):
                assert isinstance(inner, graphql.GraphQLList), f"{type_.name}.{name}"


def test_every_mutation_says_what_its_input_does() -> None:
    """Not one generic sentence for all: each mutation's input argument describes that
    mutation's input (shared input types are described per mutation)."""
    mutation = _schema().mutation_type
    assert mutation is not None
    seen: dict[str, str] = {}
    for name, field in mutation.fields.items():
        argument = field.args.get("input")
        if argument is None:
            continue
        description = argument.description or ""
        assert len(description) >= 20 and "its type describes" not in description, name
        assert description not in seen, (name, seen.get(description))
        seen[description] = name
    assert len(seen) >= 40

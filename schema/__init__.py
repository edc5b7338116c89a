"""The GraphQL schema: one module (or folder) per domain, merged here."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from starlette.websockets import WebSocket
from strawberry import relay
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext, Info
from strawberry.utils.logging import StrawberryLogger

from schema.analytics import AnalyticsQueries
from schema.auth import AuthMutations, AuthQueries
from schema.benefits.operations import BenefitMutations, BenefitQueries, BenefitSubscriptions
from schema.claims.mutations import ClaimMutations
from schema.claims.queries import ClaimQueries
from schema.claims.subscriptions import ClaimSubscriptions
from schema.commitments import CommitmentMutations, CommitmentQueries
from schema.compiled import PlanCache, compiled_executor
from schema.complaint_figures import ComplaintFigureQueries
from schema.complaint_remedies import ComplaintRemedyMutations, ComplaintRemedyQueries
from schema.complaint_staff import (
    ComplaintStaffMutations,
    ComplaintStaffQueries,
    ComplaintStaffSubscriptions,
)
from schema.complaints import ComplaintMutations, ComplaintQueries, ComplaintSubscriptions
from schema.conversations import (
    ConversationMutations,
    ConversationQueries,
    ConversationSubscriptions,
)
from schema.crisis import CrisisMutations, CrisisQueries, CrisisSubscriptions
from schema.errors import should_mask_error
from schema.knowledge import KnowledgeMutations, KnowledgeQueries
from schema.loaders import FreshReads
from schema.membership.operations import MembershipMutations, MembershipQueries
from schema.node import resolve_node
from schema.notifications import (
    NotificationMutations,
    NotificationQueries,
    NotificationSubscriptions,
)
from schema.payments import PaymentMutations, PaymentQueries, PaymentSubscriptions
from schema.permissions import IsAuthenticated
from schema.policies.queries import PolicyQueries
from schema.policy_service.applications import ApplicationMutations, ApplicationQueries
from schema.policy_service.documents import DocumentMutations, DocumentQueries
from schema.policy_service.endorsements import EndorsementMutations, EndorsementQueries
from schema.policy_service.payment_accounts import AutoRenewalMutations
from schema.policy_service.quotes import QuoteQueries
from schema.policy_service.renewal import RenewalMutations, RenewalQueries
from schema.policy_service.service_plans import ServicePlanMutations, ServicePlanQueries
from schema.policy_service.underwriting import UnderwritingMutations, UnderwritingQueries
from schema.privacy import (
    AuditMutations,
    AuditQueries,
    RecordQueries,
    RightsMutations,
    RightsQueries,
    SessionMutations,
    SessionQueries,
)
from schema.risk import RiskMutations, RiskQueries
from schema.rules import OneCostlyMutationPerRequest, allow_list_rule
from schema.scalars import SCALARS
from schema.shared_events import sharing_events
from schema.staff import StaffQueries
from schema.survey_exchange import SurveyExchangeMutations
from schema.surveys import SurveyMutations, SurveyQueries
from schema.team import TeamMutations, TeamQueries
from schema.validation_cache import DocumentValidationCache
from schema.visits import VisitMutations, VisitQueries
from workflows.auth import still_valid


@strawberry.type(description="Everything that can be read.")
class Query(
    AuthQueries,
    PolicyQueries,
    ClaimQueries,
    PaymentQueries,
    NotificationQueries,
    SurveyQueries,
    VisitQueries,
    StaffQueries,
    ComplaintQueries,
    ComplaintStaffQueries,
    ComplaintFigureQueries,
    CrisisQueries,
    ComplaintRemedyQueries,
    KnowledgeQueries,
    ConversationQueries,
    ServicePlanQueries,
    DocumentQueries,
    EndorsementQueries,
    QuoteQueries,
    ApplicationQueries,
    UnderwritingQueries,
    RenewalQueries,
    RiskQueries,
    CommitmentQueries,
    BenefitQueries,
    MembershipQueries,
    AnalyticsQueries,
    AuditQueries,
    RightsQueries,
    SessionQueries,
    RecordQueries,
    TeamQueries,
):
    @strawberry.field(
        description="Any object by its global ID; null if it does not exist or you may not see it.",
        permission_classes=[IsAuthenticated],
    )
    async def node(
        self,
        info: Info,
        id: Annotated[relay.GlobalID, strawberry.argument(description="A global ID.")],
    ) -> relay.Node | None:
        return await resolve_node(info, id)


@strawberry.type(description="Everything that changes something.")
class Mutation(
    AuthMutations,
    ClaimMutations,
    PaymentMutations,
    NotificationMutations,
    SurveyMutations,
    SurveyExchangeMutations,
    VisitMutations,
    ComplaintMutations,
    ComplaintStaffMutations,
    CrisisMutations,
    ComplaintRemedyMutations,
    KnowledgeMutations,
    ConversationMutations,
    ServicePlanMutations,
    DocumentMutations,
    EndorsementMutations,
    ApplicationMutations,
    UnderwritingMutations,
    RenewalMutations,
    RiskMutations,
    CommitmentMutations,
    BenefitMutations,
    AutoRenewalMutations,
    MembershipMutations,
    AuditMutations,
    RightsMutations,
    SessionMutations,
    TeamMutations,
):
    pass


@strawberry.type(description="Live updates over WebSocket (graphql-transport-ws).")
class Subscription(
    ClaimSubscriptions,
    PaymentSubscriptions,
    NotificationSubscriptions,
    ComplaintSubscriptions,
    ComplaintStaffSubscriptions,
    CrisisSubscriptions,
    ConversationSubscriptions,
    BenefitSubscriptions,
):
    pass


def _fresh_reads_after_writes(*roots: type) -> None:
    """Every root mutation and subscription field, now and any added later, drops the
    request's DataLoaders around its writes and before each event (``FreshReads``)."""
    for root in roots:
        for field in root.__strawberry_definition__.fields:  # type: ignore[attr-defined]
            if not any(isinstance(e, FreshReads) for e in field.extensions):
                field.extensions.append(FreshReads())


_fresh_reads_after_writes(Mutation, Subscription)


class RecheckWebSocketCaller(SchemaExtension):
    """Before each operation on a WebSocket, check the caller again: logout, a revoked
    session, a disabled account or an expired token make it anonymous."""

    async def on_operation(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if isinstance(context.request, WebSocket):
            context.new_operation()
            context.actor = await still_valid(context.actor)
        yield


# graphql-core appends " Did you mean 'a', 'b', or 'c'?" (or "the enum value 'X'?") to
# validation and coercion messages; names are quoted and never contain a "?".
SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def strip_suggestions(message: str) -> str:
    return SUGGESTION.sub("", message)


class AnxinSchema(strawberry.Schema):
    """``hide_suggestions``: with introspection off, "Did you mean …" would hand out the
    schema name by name (arguments, enum values, types, input fields), so it is cut from
    every error. strawberry's ``disable_field_suggestions`` only covers fields, and
    graphql-core's ``hide_suggestions`` is not passed through by strawberry; every error
    of every operation (HTTP and WebSocket, validation and variable coercion) goes through
    ``process_errors``, so it is cut here."""

    hide_suggestions = False
    # The compiled executor's plans (None: it is off and graphql-core runs everything).
    compiled_plans: PlanCache | None = None

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log only unexpected errors (bugs) with their traceback; a refused permission
        or a bad page size is the caller's business, not an incident."""
        for error in errors:
            if self.hide_suggestions:
                error.message = strip_suggestions(error.message)
            if should_mask_error(error):
                StrawberryLogger.error(error, execution_context)


@dataclass(frozen=True)
class SchemaOptions:
    """What the gateway allows a query and shows a caller (``api`` builds it from
    settings; the defaults are development's)."""

    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 3_000
    introspection: bool = True  # also field suggestions in error messages
    mask_errors: bool = False  # hide unexpected errors' texts (production)
    # The allow-list (SHA-256 of each allowed operation's printed document): any other
    # operation is refused before it runs. None: every valid operation runs.
    allowed_operations: frozenset[str] | None = None
    # Run known queries from a compiled plan (schema.compiled); off: graphql-core alone.
    compiled_execution: bool = True


def build_schema(options: SchemaOptions | None = None) -> strawberry.Schema:
    options = options or SchemaOptions()
    # The limiters' rule classes are made once: the validation cache is keyed by the
    # rules, so a new class per request (a factory building the limiter) never hits.
    rules = [
        *QueryDepthLimiter(max_depth=options.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=options.max_aliases).validation_rules,
        OneCostlyMutationPerRequest,
    ]
    if not options.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    if options.allowed_operations is not None:
        rules.insert(0, allow_list_rule(options.allowed_operations))
    extensions: list[type[SchemaExtension] | object] = [
        RecheckWebSocketCaller,
        ParserCache,
        DocumentValidationCache,  # strawberry's ValidationCache, keyed by the document
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=options.max_tokens),
    ]
    if options.mask_errors:
        extensions.append(lambda: MaskErrors(should_mask_error=should_mask_error))
    plans = PlanCache() if options.compiled_execution else None
    schema = AnxinSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,  # type: ignore[arg-type]
        # Known queries run from a compiled plan (schema.compiled); one execution per
        # subscription event for the sockets that provably get the same answer
        # (schema.shared_events); everything else runs as strawberry's.
        execution_context_class=sharing_events(
            StrawberryGraphQLCoreExecutionContext if plans is None else compiled_executor(plans)
        ),
        config=StrawberryConfig(
            relay_max_results=100,
            scalar_map=SCALARS,
            disable_field_suggestions=not options.introspection,
        ),
    )
    schema.hide_suggestions = not options.introspection
    schema.compiled_plans = plans
    return schema

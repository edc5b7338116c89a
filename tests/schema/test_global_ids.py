"""Normalized client caches (Apollo's InMemoryCache, urql's graphcache) key an object by
``__typename:id``. An ``id`` that is unique only inside its parent (a survey question's
``q1``) makes two different objects one cache entry: a customer saw another survey's
questions. So every ``id`` is a Relay global ID of a ``Node`` (``node(id:)`` finds it);
a key unique only inside its parent is called ``key``. And a field that carries another
object's global ID has the type ``ID``, so a typed client can pass it to an argument."""

from __future__ import annotations

from graphql import (
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLType,
)

from schema import build_schema

# Fields named like an ID that hold something other than one of our global IDs.
NOT_OUR_IDS = {
    # A provider's account (Alipay user id or login, WeChat openid) that staff pay to.
    "StartClaimPayoutInput.payeeId",
    # WeChat's subscribe-message template IDs, as `wx.requestSubscribeMessage` answers.
    "ReportWechatSubscriptionInput.acceptedTemplateIds",
}


def _named(graphql_type: GraphQLType) -> GraphQLNamedType:
    while isinstance(graphql_type, GraphQLNonNull | GraphQLList):
        graphql_type = graphql_type.of_type
    return graphql_type  # type: ignore[return-value]


def _object_types() -> list[GraphQLObjectType]:
    return [
        t
        for name, t in build_schema()._schema.type_map.items()
        if isinstance(t, GraphQLObjectType) and not name.startswith("__")
    ]


def test_every_id_field_is_the_global_id_of_a_node() -> None:
    wrong = []
    for object_type in _object_types():
        field = object_type.fields.get("id")
        if field is None:
            continue
        is_node = any(i.name == "Node" for i in object_type.interfaces)
        non_null_id = isinstance(field.type, GraphQLNonNull) and field.type.of_type is GraphQLID
        if not (is_node and non_null_id):
            wrong.append(f"{object_type.name}.id: {field.type}, Node: {is_node}")
    assert not wrong, "ids that are not a Node's global ID:\n" + "\n".join(wrong)


def test_fields_holding_global_ids_have_the_id_type() -> None:
    """`Survey.invitationId: String!` could not be passed to `invitationId: ID`."""
    wrong = []
    for name, graphql_type in build_schema()._schema.type_map.items():
        if name.startswith("__") or not isinstance(
            graphql_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType
        ):
            continue
        for field_name, field in graphql_type.fields.items():
            qualified = f"{name}.{field_name}"
            if not field_name.endswith(("Id", "Ids")) or qualified in NOT_OUR_IDS:
                continue
            if _named(field.type) is not GraphQLID:
                wrong.append(f"{qualified}: {field.type}")
    assert not wrong, "global IDs not typed ID:\n" + "\n".join(wrong)


def test_the_node_interface_is_there_to_check() -> None:
    """The walk above would pass vacuously on a schema without Node types."""
    nodes = [t.name for t in _object_types() if any(i.name == "Node" for i in t.interfaces)]
    assert {"Policy", "Claim", "Survey", "FollowUpVisit"} <= set(nodes)

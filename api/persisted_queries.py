"""Persisted operations: automatic persisted queries (APQ) as Apollo's
``PersistedQueryLink`` speaks them, and the allow-list manifest of the apps' operations.

The protocol (Apollo's): a request carries ``extensions.persistedQuery = {version: 1,
sha256Hash}`` (the SHA-256 of the query text, lowercase hex) and, at first, no query.

- hash known (the manifest, or the store) -> the stored query runs;
- hash unknown -> a GraphQL error ``PersistedQueryNotFound`` (``extensions.code =
  PERSISTED_QUERY_NOT_FOUND``) at HTTP 200; the client sends the query and the hash again;
- query and hash -> the hash is checked (a mismatch is refused) and the query stored;
- ``ANXIN_PERSISTED_QUERIES=off`` -> ``PersistedQueryNotSupported``: Apollo stops hashing;
- allowlist mode: only a query of the manifest is stored, any other is refused when it
  is validated (``OPERATION_NOT_ALLOWED``).

A hashed query may come by GET (Apollo's ``useGETForHashedQueries``): only a query, only
by hash (a full query in a URL ends up in access logs; mutations never by GET).

The manifest (``anxin persisted-queries build``) is a JSON object ``{sha256: query}`` of
the operations the app and the mini-program send, made from their ``.graphql`` files
(and the README's ```graphql blocks). Each operation is in it twice, as printed by
graphql-core's ``print_ast``: as written, and with the ``__typename`` fields Apollo's cache
adds. A query is compared by its printed form (so layout and comments do not matter). In
allowlist mode only these operations run, by hash or in full, over HTTP or WebSocket
(``schema``'s allow-list rule). graphql-core 3.3 does not print exactly as graphql-js 16
(``{ all: true }`` vs ``{all: true}``), so Apollo's hash of an operation with an object
literal is not the manifest's: that operation costs one PersistedQueryNotFound round trip
per store lifetime, then runs by hash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol

import redis.asyncio as redis
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Visitor,
    parse,
    print_ast,
    visit,
)
from graphql.language import Node
from redis.exceptions import RedisError

log = logging.getLogger("anxin.persisted_queries")

NOT_FOUND = "PersistedQueryNotFound"
NOT_SUPPORTED = "PersistedQueryNotSupported"
HASH = re.compile(r"^[0-9a-f]{64}$")
REDIS_PREFIX = "anxin:apq:"


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class PersistedQueryError(Exception):
    """A persisted-query request answered with a GraphQL error and no execution."""

    def __init__(self, message: str, code: str, status: int = HTTPStatus.OK) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


class QueryStore(Protocol):
    async def get(self, sha256: str) -> str | None: ...
    async def put(self, sha256: str, query: str) -> None: ...


class MemoryQueryStore:
    """The process's own store: the most recently used ``max_entries`` queries."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._queries: OrderedDict[str, str] = OrderedDict()

    async def get(self, sha256: str) -> str | None:
        query = self._queries.get(sha256)
        if query is not None:
            self._queries.move_to_end(sha256)
        return query

    async def put(self, sha256: str, query: str) -> None:
        self._queries[sha256] = query
        self._queries.move_to_end(sha256)
        while len(self._queries) > self.max_entries:
            self._queries.popitem(last=False)


class RedisQueryStore:
    """Shared by every API process; an entry expires ``ttl_seconds`` after its last use.
    Redis down: a lookup misses (the client sends the query) and nothing is stored."""

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.client, self.ttl_seconds = client, ttl_seconds

    async def get(self, sha256: str) -> str | None:
        try:
            value = await self.client.getex(REDIS_PREFIX + sha256, ex=self.ttl_seconds)
        except RedisError:
            log.warning("persisted query lookup failed: Redis unavailable")
            return None
        return value.decode() if isinstance(value, bytes) else value

    async def put(self, sha256: str, query: str) -> None:
        try:
            await self.client.set(REDIS_PREFIX + sha256, query, ex=self.ttl_seconds)
        except RedisError:
            log.warning("persisted query not stored: Redis unavailable")


@dataclass
class PersistedQueries:
    """Resolves a request's ``extensions.persistedQuery`` into its query text."""

    mode: str  # "off" | "auto" | "allowlist" (api.settings.PersistedQueriesMode)
    store: QueryStore
    manifest: Mapping[str, str]
    max_query_chars: int

    async def resolve(
        self, query: str | None, extensions: Mapping[str, Any] | None
    ) -> tuple[str | None, str | None]:
        """The query to run (``query`` itself, or the persisted one its hash names) and
        the hash to store it under once it has validated (Apollo Server's rule: invalid
        text is never stored), if it is to be stored (``store_valid``)."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return query, None
        if self.mode == "off":
            raise PersistedQueryError(NOT_SUPPORTED, "PERSISTED_QUERY_NOT_SUPPORTED")
        if not isinstance(persisted, Mapping) or persisted.get("version") != 1:
            raise PersistedQueryError(
                "不支持的持久化查询版本（persistedQuery.version 应为 1）",
                "PERSISTED_QUERY_VERSION_NOT_SUPPORTED",
                HTTPStatus.BAD_REQUEST,
            )
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or not HASH.match(digest):
            raise PersistedQueryError(
                "persistedQuery.sha256Hash 应为 64 位小写十六进制",
                "PERSISTED_QUERY_INVALID_HASH",
                HTTPStatus.BAD_REQUEST,
            )
        if query is not None:
            if sha256_hex(query) != digest:
                raise PersistedQueryError(
                    "查询与 persistedQuery.sha256Hash 不符",
                    "PERSISTED_QUERY_HASH_MISMATCH",
                    HTTPStatus.BAD_REQUEST,
                )
            storable = (
                digest not in self.manifest
                and len(query) <= self.max_query_chars
                and (self.mode == "auto" or self.allowed(query))
            )
            return query, digest if storable else None
        known = self.manifest.get(digest)
        if known is None:
            known = await self.store.get(digest)
        if known is not None:
            return known, None
        # In allowlist mode too: Apollo then sends the query, which runs (and is stored)
        # if it is one of the manifest's (its own printer may hash another text).
        raise PersistedQueryError(NOT_FOUND, "PERSISTED_QUERY_NOT_FOUND")

    def allowed(self, query: str) -> bool:
        """The query is one of the manifest's operations (compared as printed)."""
        try:
            return sha256_hex(canonical(parse(query))) in self.manifest
        except GraphQLError:
            return False


def build_persisted_queries(
    mode: str,
    redis_client: redis.Redis | None,
    manifest_path: Path | None,
    *,
    ttl_seconds: int,
    memory_entries: int,
    max_query_chars: int,
) -> PersistedQueries:
    store: QueryStore = (
        RedisQueryStore(redis_client, ttl_seconds)
        if redis_client is not None
        else MemoryQueryStore(memory_entries)
    )
    manifest = load_manifest(manifest_path) if manifest_path else {}
    return PersistedQueries(mode, store, manifest, max_query_chars)


# --- the manifest -------------------------------------------------------------------


def load_manifest(path: Path) -> dict[str, str]:
    """``{sha256: query}``; every entry's key is checked against its query."""
    entries = json.loads(path.read_text())
    if not isinstance(entries, dict):
        raise ValueError(f"{path}: a persisted-query manifest is a JSON object")
    for digest, query in entries.items():
        if not isinstance(query, str) or sha256_hex(query) != digest:
            raise ValueError(f"{path}: the entry {digest} is not the SHA-256 of its query")
    return entries


def canonical(document: DocumentNode) -> str:
    """The document as graphql's ``print`` writes it (the same text graphql-js prints)."""
    return print_ast(document)


class _AddTypename(Visitor):
    """Apollo's ``addTypenameToDocument``: ``__typename`` last in every selection set
    but an operation's own, unless a ``__``-field is there already."""

    def enter_selection_set(
        self, node: SelectionSetNode, _key: Any, parent: Any, *_: Any
    ) -> SelectionSetNode | None:
        if isinstance(parent, OperationDefinitionNode) or not node.selections:
            return None
        if any(isinstance(s, FieldNode) and s.name.value.startswith("__") for s in node.selections):
            return None
        if isinstance(parent, FieldNode) and any(
            d.name.value == "export" for d in parent.directives or ()
        ):
            return None
        typename = FieldNode(name=NameNode(value="__typename"), directives=(), arguments=())
        return SelectionSetNode(selections=(*node.selections, typename))


def with_typename(document: DocumentNode) -> DocumentNode:
    result: DocumentNode = visit(document, _AddTypename())
    return result


class _Spreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: Any) -> None:
        self.names.append(spread.name.value)


def _fragments_used(node: Node, fragments: Mapping[str, FragmentDefinitionNode]) -> set[str]:
    used: set[str] = set()
    pending: list[Node] = [node]
    while pending:
        spreads = _Spreads()
        visit(pending.pop(), spreads)
        for name in spreads.names:
            if name not in used and name in fragments:
                used.add(name)
                pending.append(fragments[name])
    return used


def operations_of(text: str) -> list[DocumentNode]:
    """One document per operation of ``text``, with the fragments it uses (in the
    order they are written): what a client sends for that operation."""
    document = parse(text)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    found = []
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            used = _fragments_used(definition, fragments)
            parts = [
                d
                for d in document.definitions
                if d is definition
                or (isinstance(d, FragmentDefinitionNode) and d.name.value in used)
            ]
            found.append(DocumentNode(definitions=tuple(parts)))
    return found


MARKDOWN_BLOCK = re.compile(r"^```graphql\n(.*?)^```$", re.S | re.M)


def sources_in(paths: Iterable[Path]) -> list[str]:
    """The GraphQL texts of ``.graphql`` files (directories: their ``*.graphql``) and of
    the ```graphql blocks of Markdown files."""
    texts: list[str] = []
    for path in paths:
        if path.is_dir():
            texts.extend(p.read_text() for p in sorted(path.rglob("*.graphql")))
        elif path.suffix == ".md":
            texts.extend(MARKDOWN_BLOCK.findall(path.read_text()))
        else:
            texts.append(path.read_text())
    return texts


def build_manifest(texts: Iterable[str]) -> dict[str, str]:
    manifest: dict[str, str] = {}
    for text in texts:
        for document in operations_of(text):
            for form in (canonical(document), canonical(with_typename(document))):
                manifest[sha256_hex(form)] = form
    return dict(sorted(manifest.items()))

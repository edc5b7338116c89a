"""Which media type a GraphQL answer is sent as (GraphQL over HTTP, "Body" and "Status
Codes"): ``application/graphql-response+json`` when the client's ``Accept`` prefers it,
``application/json`` otherwise (and with no ``Accept`` at all, as legacy clients expect).

Under ``application/graphql-response+json`` a request the server cannot run (unparsable
JSON or document, invalid parameters, failed validation, variables that do not coerce)
answers 400 without a ``data`` entry, so a client can tell it from a proxy's error page;
under ``application/json`` every well-formed request answers 200, as it always did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from graphql import GraphQLError
from starlette.types import Scope
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
CONTENT_TYPES = {
    GRAPHQL_RESPONSE_JSON: "application/graphql-response+json; charset=utf-8",
    JSON: "application/json",  # what strawberry has always sent
}


@dataclass(frozen=True)
class _Range:
    """One entry of an Accept header: ``type/subtype``, ``type/*`` or ``*/*``."""

    media: str
    quality: float
    position: int

    def specificity(self, media_type: str) -> int | None:
        """How closely this range names ``media_type`` (2 exactly, 1 ``type/*``, 0
        ``*/*``), or None if it does not match it."""
        if self.media == media_type:
            return 2
        kind = media_type.split("/", 1)[0]
        if self.media == f"{kind}/*":
            return 1
        if self.media == "*/*":
            return 0
        return None


def _ranges(headers: Iterable[str]) -> list[_Range]:
    ranges: list[_Range] = []
    for header in headers:
        for item in header.split(","):
            media, *params = item.split(";")
            media = media.strip().lower()
            if not media:
                continue
            quality = 1.0
            for param in params:
                name, _, value = param.partition("=")
                if name.strip().lower() == "q":
                    try:
                        quality = min(max(float(value.strip()), 0.0), 1.0)
                    except ValueError:
                        quality = 0.0
            ranges.append(_Range(media, quality, len(ranges)))
    return ranges


def negotiate(accept_headers: Iterable[str]) -> str | None:
    """The media type to answer with, or None when the client accepts neither of ours.

    Each of our types takes the quality of the most specific range that names it (RFC
    9110 12.5.1: ``*/*, application/json;q=0`` refuses JSON). The highest quality wins;
    on a tie a type named outright beats one matched by a wildcard, then the one listed
    first; a bare wildcard (``*/*``, ``application/*``) means ``application/json``, as
    the GraphQL-over-HTTP audits expect."""
    ranges = _ranges(accept_headers)
    if not ranges:
        return JSON
    best: tuple[float, int, int] | None = None
    chosen: str | None = None
    for media_type in (JSON, GRAPHQL_RESPONSE_JSON):  # JSON first: it wins full ties
        matches = [(r.specificity(media_type), r) for r in ranges]
        named = [(s, r) for s, r in matches if s is not None]
        if not named:
            continue
        specificity, match = max(named, key=lambda pair: (pair[0], -pair[1].position))
        if match.quality <= 0:
            continue
        key = (match.quality, specificity, -match.position)
        if best is None or key > best:
            best, chosen = key, media_type
    return chosen


def answer_type(scope: Scope) -> str:
    """The media type of a refusal made before GraphQL runs (a middleware's 4xx): the
    one the client asked for. Under ``application/json`` Apollo Client 4 takes a 4xx for
    a proxy's error page and hides our message and code; under
    ``application/graphql-response+json`` it hands the app the errors."""
    accept = [v.decode("latin-1") for n, v in scope["headers"] if n.lower() == b"accept"]
    return negotiate(accept) or JSON


def is_request_error(result: ExecutionResult) -> bool:
    """The request could not run (GraphQL's "request error", answered without ``data``):
    the document did not parse or validate, no operation could be chosen or the
    variables did not coerce. A field error (even one that nulls the whole ``data``)
    carries the path of its field; a request error has none."""
    if isinstance(result, PreExecutionError):
        return True
    errors: list[GraphQLError] = list(result.errors or [])
    return result.data is None and bool(errors) and all(e.path is None for e in errors)

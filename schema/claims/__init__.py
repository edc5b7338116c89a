"""Claims in GraphQL: reporting a loss, following it, and the staff side of review,
decision, payout and closure. Resolvers only translate; ``workflows.claims`` decides.

``enums`` (registered once, first), ``types`` (the claim) and ``parts`` (what hangs off
it), ``errors`` (the payload error and the codes it answers), ``inputs``, ``queries``
(incl. the staff queue), ``mutations`` and ``subscriptions``; ``schema/__init__.py``
merges the root types.
"""

"""Membership (会员制度) in GraphQL: `types` (and who sees what by ID), `operations`."""

"""The service team in GraphQL: teams and members, workload, leave and bulk
reassignment, automatic assignment, performance, quality reviews, courses and
certificates. ``types`` the objects, ``nodes`` who may see each by ID, ``queries`` and
``mutations`` the operations (permissions stated on each; the workflow decides the rest)."""

from schema.team.mutations import TeamMutations
from schema.team.queries import TeamQueries

__all__ = ["TeamMutations", "TeamQueries"]

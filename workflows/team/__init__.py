"""The service team (服务团队建设): ``rules`` error codes, bounds and the checklist;
``teams`` teams and members (who may manage what); ``certificates`` training,
certificates, the permissions that need one and the expiry warning; ``assignment``
skills + workload; ``workload`` open work with clocks; ``absence`` leave and bulk
reassignment; ``performance`` figures per person and team; ``reviews`` quality reviews.
``JOBS`` the expiry warning."""

from workflows.team.certificates import JOBS

__all__ = ["JOBS"]

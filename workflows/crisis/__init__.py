"""Crisis response (危机应对预案): incidents opened by rules on complaints or by hand,
assessed, responded to by a team with a checklist, communicated with approved
statements, reviewed and closed. ``rules`` holds the stages and codes as data, ``state``
every write, ``detect`` the rules and their job, ``response`` the steps after."""

from workflows.crisis.detect import JOBS

__all__ = ["JOBS"]

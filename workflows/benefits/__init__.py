"""Value-added services and partners (增值服务、第三方合作): the catalogue, who is
entitled and how much is left this year, bookings sent to partners over signed HTTP,
the partners' signed callbacks, roadside assistance, and the partner figures.

Jobs: ``benefit-status`` asks partners about open bookings whose callbacks went quiet
(``reconcile.py``). Error codes: ``BenefitErrorCode`` (``errors.py``). Numbers: ``FW``
+ local day + sequence (``workflows/numbering.py``)."""

from workflows.benefits.bookings import (
    BookingDeps,
    Roadside,
    book_service,
    cancel_booking,
    request_roadside,
)
from workflows.benefits.callbacks import Reply, handle_notification
from workflows.benefits.catalogue import PartnerChange, ServiceChange, save_partner, save_service
from workflows.benefits.entitlement import Entitled, entitlements
from workflows.benefits.errors import BenefitError, BenefitErrorCode
from workflows.benefits.figures import PartnerFigures, partner_figures
from workflows.benefits.partners import PartnerDirectory
from workflows.benefits.reconcile import JOBS, reconcile

__all__ = [
    "JOBS",
    "BenefitError",
    "BenefitErrorCode",
    "BookingDeps",
    "Entitled",
    "PartnerChange",
    "PartnerDirectory",
    "PartnerFigures",
    "Reply",
    "Roadside",
    "ServiceChange",
    "book_service",
    "cancel_booking",
    "entitlements",
    "handle_notification",
    "partner_figures",
    "reconcile",
    "request_roadside",
    "save_partner",
    "save_service",
]

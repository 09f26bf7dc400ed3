"""Imports every mapped class so that metadata and migrations see the whole schema."""

from cyberfusion.audit.models import AuditEntry
from cyberfusion.db import Base
from cyberfusion.intel.models import Contribution, Observable, StixObject
from cyberfusion.jobs.models import Job
from cyberfusion.partners.models import Agreement, ApiToken, Member, Organisation, Secondment
from cyberfusion.sharing.models import Handling

metadata = Base.metadata

__all__ = ["AuditEntry", "Contribution", "Observable", "StixObject", "Agreement", "ApiToken",
           "Member", "Organisation", "Secondment", "Handling", "Job", "metadata"]

"""Imports every mapped class so that metadata and migrations see the whole schema."""

from cyberfusion.audit.models import AuditEntry
from cyberfusion.db import Base
from cyberfusion.intel.models import Contribution, Observable, StixObject
from cyberfusion.jobs.models import Job
from cyberfusion.partners.models import Agreement, ApiToken, Member, Organisation, Secondment
from cyberfusion.sharing.models import Handling
import cyberfusion.fusion.models  # noqa: F401,E402 - warninglists, correlation terms, lookups, watchlists, alerts
import cyberfusion.tasking.models  # noqa: F401,E402 - every tasking table (RFIs, projects, groups, ...)
import cyberfusion.taxii.models  # noqa: F401,E402 - TAXII collections, status resources, collectors
import cyberfusion.analyzers.models  # noqa: F401,E402 - analyzer runs, cache, configuration
import cyberfusion.products.models  # noqa: F401,E402 - country report records and files, horizon notes
import cyberfusion.ai.models  # noqa: F401,E402 - AI review queue, embeddings, register, resource bank
import cyberfusion.web.models  # noqa: F401,E402 - web sign-in sessions and login back-off

metadata = Base.metadata

__all__ = ["AuditEntry", "Contribution", "Observable", "StixObject", "Agreement", "ApiToken",
           "Member", "Organisation", "Secondment", "Handling", "Job", "metadata"]

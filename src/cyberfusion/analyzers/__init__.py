"""Partner tools as analyzers: plug-ins that enrich intelligence under the owner's handling rules.

Write one by subclassing ``Analyzer`` (or ``HttpAnalyzer`` for a JSON service) and naming it
in a ``cyberfusion.analyzers`` entry point; see docs/analyzers.md.
"""

from cyberfusion.analyzers.base import (
                                        Analyzer,
                                        AnalyzerError,
                                        AnalyzerResult,
                                        Observable,
                                        country_location,
                                        relationship,
                                        sco,
                                        stable_id,
                                        subject,
)

__all__ = ["Analyzer", "AnalyzerError", "AnalyzerResult", "Observable", "country_location", "relationship",
           "sco", "stable_id", "subject"]

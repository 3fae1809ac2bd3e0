"""The analytics database's failures that an operator can act on (``AnalyticsDatabase.explain`` words them)."""

from vast_pipelines.errors import OperatorError


class DatabaseUnavailable(OperatorError):
    """The analytics database cannot be reached or refused the connection."""


class DatabaseLoginFailed(DatabaseUnavailable):
    """The server answered and refused the user, password or database name of the URL."""


class DatabaseBusy(OperatorError):
    """A statement ran past its timeout or waited too long for a lock."""


class DatabasePermissionDenied(OperatorError):
    """The database user may not read or write what the pipelines need."""


class DatabaseBadData(OperatorError):
    """The server refused a value, or returned one that is not a figure: out of range, malformed, too large."""


class CostTableMissing(OperatorError):
    """``vast_ai_costs`` is missing or lacks the guide's columns."""

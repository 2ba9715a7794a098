"""Exit codes of stalwart-admin, stable for scripts (documented in docs/operations.md)."""

OK = 0
FAILURE = 1
USAGE = 2
NOT_FOUND = 3
EXISTS = 4
UNAVAILABLE = 5

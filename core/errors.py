"""Errors a person sees. Each message names the file or field and what was expected."""

from __future__ import annotations


class AtelierError(Exception):
    """Base of every error that reaches the user as a message (exit code 1)."""


class BadInput(AtelierError):
    """A request field, an input file or an option is not what was expected."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ModelError(AtelierError):
    """A model cannot be found, loaded, trusted, or cannot do the asked task."""


class Cancelled(AtelierError):
    """The work was cancelled; nothing was written for it."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


class ClaimLost(AtelierError):
    """A result came for a job no longer running under the claim that started it (it was
    requeued, cancelled or taken by another worker meanwhile): it is discarded."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"job {job_id}: no longer running under this claim; result discarded")
        self.job_id = job_id


class JobFailed(AtelierError):
    """A queued job failed: the first failure of a command that ran jobs, with its message
    (which names the file or model that was wrong), and how many others failed too."""

    def __init__(self, job_id: int, message: str, others: int = 0) -> None:
        more = f" ({others} other job{'s' if others > 1 else ''} failed too)" if others else ""
        super().__init__(f"job {job_id} failed: {message}{more}")
        self.job_id = job_id
        self.message = message

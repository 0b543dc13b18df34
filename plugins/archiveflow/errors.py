"""The one error vocabulary of archiveflow. Plain Python: the core raises these, and
`archiveflow.operators.base` turns the non-retryable ones into a task failure without retry.

| class | meaning | retried? |
|---|---|---|
| `BadRequest` | the run's conf (or a config file standing in for it) is wrong; names the field | no |
| `UnarchivableData` | source data the archive cannot store faithfully (a retry reads the same data) | no |
| `SafetyRefusal` | a step refuses to do something unsafe: delete what was not verified, overwrite, ... | no |
| `RunIncomplete` | the run ended with items that failed, each recorded; a retry would meet the same outcome | no |
| `TransientServiceError` | a service failed in a way that may pass: throttling, a dropped connection | yes |

Anything else that escapes a task is retried too: Airflow's default, right for faults we did not foresee.
"""

from __future__ import annotations


class ArchiveflowError(Exception):
    """Base of every error archiveflow raises on purpose."""


class BadRequest(ArchiveflowError, ValueError):
    """Bad input. `field` is the conf path (`source_table[1].condition`); `subject` what it is about
    (a table, a file) when the field alone does not say."""

    def __init__(self, field: str, message: str, subject: str | None = None):
        self.field, self.subject, self.reason = field, subject, message
        super().__init__(f"{field}{f' ({subject})' if subject else ''}: {message}")


class UnarchivableData(ArchiveflowError):
    """Source data the archive cannot store faithfully."""


class SafetyRefusal(ArchiveflowError):
    """A step refuses to act because acting could lose or corrupt data."""


class RunIncomplete(ArchiveflowError):
    """The run's outcome, already recorded, is a failure (files not restored, tables not archived,
    checks that failed, a wait that reached its limit): nothing a retry of the task could change."""


class TransientServiceError(ArchiveflowError):
    """A service failed in a way a retry may fix."""


NON_RETRYABLE: tuple[type[ArchiveflowError], ...] = (BadRequest, UnarchivableData, SafetyRefusal, RunIncomplete)

"""Error hierarchy.

Every error the user can cause is an :class:`OpsloopError`. The CLI prints
``str(error)`` as one line and exits non-zero; it never shows a traceback for
these. :class:`InputError` carries the location of bad input so the message
reads ``file:line: column: reason``.
"""

from __future__ import annotations

from dataclasses import dataclass


class OpsloopError(Exception):
    """Base class for every error opsloop reports to a user."""

    exit_code: int = 2


class ConfigError(OpsloopError):
    """opsloop.toml (or a --map flag) is wrong; the message names the key."""


class WorkspaceError(OpsloopError):
    """No workspace where one was expected, or a workspace in a bad state."""


class UsageError(OpsloopError):
    """A command was called with arguments that do not fit together."""


@dataclass(frozen=True)
class Problem:
    """One located problem in an input file.

    ``line`` is the 1-based line in a text file (the header is line 1) or the
    1-based row in a Parquet file; ``None`` when the problem is about the whole
    file. ``column`` is ``None`` when the problem is about the whole row.
    """

    file: str
    line: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.column:
            return f"{where}: {self.column}: {self.reason}"
        return f"{where}: {self.reason}"


class InputError(OpsloopError):
    """Bad input: the first problems, located, and how many more there are.

    >>> str(InputError([Problem("a.csv", 3, "label", "unknown label 'spma'")]))
    "a.csv:3: label: unknown label 'spma'"
    """

    def __init__(self, problems: list[Problem], more: int = 0) -> None:
        if not problems:
            raise ValueError("InputError needs at least one problem")
        self.problems = list(problems)
        self.more = more
        super().__init__(self._message())

    @classmethod
    def single(
        cls, file: str, reason: str, line: int | None = None, column: str | None = None
    ) -> InputError:
        return cls([Problem(file, line, column, reason)])

    @property
    def first(self) -> Problem:
        return self.problems[0]

    @property
    def n_problems(self) -> int:
        return len(self.problems) + self.more

    def _message(self) -> str:
        text = str(self.problems[0])
        rest = self.n_problems - 1
        if rest:
            text += f" (and {rest:,} more problem{'s' if rest > 1 else ''})"
        return text

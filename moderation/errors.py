"""Every error `moderation` raises on purpose.

Each class also inherits the built-in type a caller would already catch, so
``except ValueError`` keeps working. Messages say what was expected, what was
found, where (file, row, line) and how to fix it.
"""

from __future__ import annotations


class ModerationError(Exception):
    """Base class for every error raised on purpose by moderation."""


class InputError(ModerationError, ValueError):
    """A comment export or articles file cannot be read as comments."""


class ModelLoadError(ModerationError):
    """A model bundle is missing, incomplete, altered or built with incompatible libraries."""


class RulesError(ModerationError, ValueError):
    """A rules file is not valid."""


class TrainingError(ModerationError):
    """Labelled data for training or evaluation is missing or unusable."""


class OutputError(ModerationError, ValueError):
    """A scored table cannot be written where or how it was asked for."""

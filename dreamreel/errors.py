"""Typed errors. Each subclasses the builtin a caller would naturally catch.

The CLI maps them to exit codes (see ``dreamreel.cli``); everything else is a bug and keeps
its traceback.
"""
from __future__ import annotations


class DreamreelError(Exception):
    """Base of every error that is the user's input, not our bug."""

    exit_code = 1


class ConfigError(DreamreelError, ValueError):
    """The config (file, override or schedule) is invalid. Exit code 2."""

    exit_code = 2


class MediaError(DreamreelError, OSError):
    """An input or output file cannot be read, decoded, written or encoded. Exit code 3."""

    exit_code = 3


class OutputExistsError(DreamreelError, FileExistsError):
    """The output exists and ``--force`` was not given, or another render holds its lock."""

    exit_code = 2


class ModelError(ConfigError):
    """Unknown model or layer, or its weights cannot be found."""

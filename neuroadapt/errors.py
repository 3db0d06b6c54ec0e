"""Typed errors for everything a user can get wrong.

The command line catches :class:`NeuroadaptError` and prints its message as one
line, without a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class NeuroadaptError(Exception):
    """Base class of errors caused by user input or the environment."""


class ConfigError(NeuroadaptError):
    """A file or argument given by the user is invalid (one message per problem)."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ProtocolError(ConfigError):
    """A protocol file is malformed; ``problems`` holds one line per error."""


class ManifestError(ConfigError):
    """A scene manifest (``scene.toml``) is malformed or a scene is unknown."""


class StreamNotFoundError(NeuroadaptError):
    """No LSL stream matched the query within the timeout."""


class StreamError(NeuroadaptError):
    """An LSL stream does not have what the caller needs (channels, rate)."""


class RecorderError(NeuroadaptError):
    """The session recorder (LabRecorder) could not start or stop cleanly."""

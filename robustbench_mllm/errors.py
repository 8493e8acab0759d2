"""One root for every error the library raises on purpose, typed by what went wrong.

``cli/common.py`` alone turns them into one line on stderr and an exit code: 2 for a mistake in
the input or the settings (the user fixes it and reruns), 1 for a failure while working. Each
class also derives from the builtin it refines (``ValueError``, ``FileNotFoundError``, ...), so
library callers that catch the builtin keep working.

Messages name settings by their config-field names in backticks (`batch_size`); the command line
shows each such name as its flag (``--batch-size``), so no library message speaks a CLI flag.
"""

from __future__ import annotations


class RobustMllmError(Exception):
    """Base of every deliberate error; ``exit_code`` is what the command line exits with."""

    exit_code = 1


class DataFormatError(RobustMllmError, ValueError):
    """Bad input data: the message names the file, the row and the field."""

    exit_code = 2


class ConfigError(RobustMllmError, ValueError):
    """A setting out of range, of the wrong form, or at odds with another setting."""

    exit_code = 2


class MissingResourceError(RobustMllmError, FileNotFoundError):
    """A file, folder, model, credential or optional package the work needs is not there."""

    exit_code = 2


class UnknownNameError(RobustMllmError, KeyError):
    """A name that is not registered; the message suggests close matches."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class RemoteError(RobustMllmError, RuntimeError):
    """A server (an API, the Hub) failed or refused while working."""


class FolderBusyError(RobustMllmError, OSError):
    """Another process holds the output folder's lock."""

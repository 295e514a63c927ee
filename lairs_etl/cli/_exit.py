"""The one map from outcomes and errors to the ``lairs-etl`` exit status.

=====  ===============================================================================
 code  meaning
=====  ===============================================================================
   0   done
   1   failed: the work could not be done, or part of it (an actor of ``pull``, an
       invalid record for ``validate``, a failed publish: stdout says which)
   2   unusable call or input: bad arguments or settings, a file that is not JSON or
       holds no records, a malformed identifier (``ConfigError``, ``CodecError``,
       ``InvalidIdentifier``, ``LexiconError``, and click's own usage errors)
   3   unverified: a peer's data failed an integrity or authenticity check
       (``VerificationError``): distrust that peer
   4   damaged: the local repository failed its checks (``repo fsck``, or a read that
       met a ``RepositoryCorruptError``)
=====  ===============================================================================

Every command raises :class:`~lairs_etl.errors.LairsError` subclasses and lets the
command group (:mod:`lairs_etl.cli`) print them as one ``error: Type: message`` line on
stderr and exit with :func:`exit_code`; commands that finish with a partial failure
exit with :data:`EXIT_FAILED` or :data:`EXIT_DAMAGED` themselves.
"""

from __future__ import annotations

from typing import Final

from lairs_etl.errors import (
    CodecError,
    ConfigError,
    InvalidIdentifier,
    LairsError,
    LexiconError,
    RepositoryCorruptError,
    VerificationError,
)

__all__ = ["EXIT_DAMAGED", "EXIT_FAILED", "EXIT_OK", "EXIT_UNVERIFIED", "EXIT_USAGE", "exit_code"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNVERIFIED: Final = 3
EXIT_DAMAGED: Final = 4

_BY_ERROR: Final[dict[type[LairsError], int]] = {
    VerificationError: EXIT_UNVERIFIED,
    RepositoryCorruptError: EXIT_DAMAGED,
    ConfigError: EXIT_USAGE,
    CodecError: EXIT_USAGE,
    InvalidIdentifier: EXIT_USAGE,
    LexiconError: EXIT_USAGE,
}


def exit_code(error: LairsError) -> int:
    """The status for ``error``: its nearest class in the table, else :data:`EXIT_FAILED`."""
    for cls in type(error).__mro__:
        code = _BY_ERROR.get(cls)
        if code is not None:
            return code
    return EXIT_FAILED

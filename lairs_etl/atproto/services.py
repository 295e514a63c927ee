"""Well-known network services, in a module light enough for ``--help`` to import.

The CLI shows these defaults in its help text; importing :mod:`.identity` for them
would load httpx and dnspython before any command runs.
"""

from __future__ import annotations

__all__ = ["DEFAULT_PLC_URL"]

DEFAULT_PLC_URL = "https://plc.directory"
"""The public PLC directory that resolves ``did:plc`` identifiers."""

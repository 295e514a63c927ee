"""A code location module for installs without the source tree's ``definitions.py``.

``dagster dev -w <package>/dagster/workspace.yaml`` (the location is then named ``lairs``,
as from the checkout's ``workspace.yaml``) or ``dagster dev -m lairs_etl.dagster.location``,
with ``LAIRS_CONFIG`` naming a ``lairs.yaml``.
"""

import os

from lairs_etl.dagster.definitions import definitions_from_file

defs = definitions_from_file(os.environ.get("LAIRS_CONFIG", "lairs.yaml"))

"""The project's own Dagster code location: ``dagster dev -f definitions.py``.

Settings come from ``lairs.yaml`` next to this file, or the file named by the
``LAIRS_CONFIG`` environment variable (the demo points it at its own).
"""

import os
from pathlib import Path

from lairs_etl.dagster import definitions_from_file

defs = definitions_from_file(os.environ.get("LAIRS_CONFIG") or Path(__file__).with_name("lairs.yaml"))

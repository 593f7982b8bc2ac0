"""Tests of the Airflow side, standard library only (Airflow is not installed where they run)."""

import sys
from pathlib import Path

DAGS_DIR = Path(__file__).resolve().parent.parent / "dags"

# Composer puts the dags folder on sys.path; do the same so the DAG's sibling modules import by name.
if str(DAGS_DIR) not in sys.path:
    sys.path.insert(0, str(DAGS_DIR))

"""Builds the Slack alert posted when the start task fails for good (after its retries).

Pure: no Airflow import and no I/O. The DAG's on_failure_callback reads the task context, calls
:func:`failure_alert` and posts the result through the Slack provider's webhook hook.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fp_start_message import format_utc

# The red bar of the seed's alert.
FAILURE_COLOR = "#D50200"
_MAX_ERROR_CHARS = 1500


def failure_alert(
    dag_id: str,
    task_id: str,
    run_id: str,
    logical_date: datetime | None,
    try_number: int | None,
    execution_id: str | None,
    error: BaseException | str | None,
    log_url: str | None,
) -> dict[str, Any]:
    """``text`` (the notification line) and one red ``attachments`` entry with the fields on-call needs."""
    error_text = _error_text(error)
    fields = [
        {"title": "DAG", "value": dag_id, "short": True},
        {"title": "Task", "value": task_id, "short": True},
        {"title": "Run", "value": run_id, "short": False},
        {"title": "Logical date (UTC)", "value": format_utc(logical_date) if logical_date else "unknown", "short": True},
        {"title": "Try", "value": str(try_number) if try_number is not None else "unknown", "short": True},
        {"title": "execution_id", "value": execution_id or "not generated (the message did not render)", "short": False},
        {"title": "Error", "value": error_text, "short": False},
    ]
    attachment: dict[str, Any] = {
        "color": FAILURE_COLOR,
        "fallback": f"{dag_id}.{task_id} failed: {error_text}",
        "title": f"{dag_id}.{task_id} failed",
        "fields": fields,
    }
    if log_url:
        attachment["title_link"] = log_url
    return {"text": f":red_circle: {dag_id}.{task_id} failed; the pipeline was not started for this run.", "attachments": [attachment]}


def _error_text(error: BaseException | str | None) -> str:
    if error is None:
        return "unknown"
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"

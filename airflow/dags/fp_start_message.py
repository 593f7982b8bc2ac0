"""Builds the start message of one pipeline execution (the contract in README.md, "Contracts").

Pure: no Airflow import and no I/O, so it is unit-tested with the standard library and the DAG only
wires it in. The DAG calls :func:`start_messages` when the task runs (not when the file is parsed), with
its DAG run's id: every run gets its own execution_id, and every retry of the run the same one.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Mapping

DEFAULT_JOB_NAME = "financial_extract"

# Same rule as the functions apply (StartMessage.ValidJobName): a message they would reject is never sent.
_JOB_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# Names the execution ids of DAG runs (UUID v5, RFC 4122 name-based); fixed for ever: changing it would give a
# retry of a run that started before the change another execution id than its first try.
RUN_NAMESPACE = uuid.UUID("129eb727-d9f6-4421-82aa-cd3d7a6f7e31")

# The earliest window start, the Unix epoch: no provider serves older bars, so an earlier start is a typo. The check
# also keeps the year at four digits, as RFC 3339 requires (format_utc wrote year 999 as '999-01-01T00:00:00Z').
EARLIEST_WINDOW_START = datetime(1970, 1, 1, tzinfo=timezone.utc)


class StartMessageError(ValueError):
    """An input of the start message is invalid; the message names the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


def format_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z suffix, whole seconds: 2026-11-23T20:05:00Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(field: str, value: Any) -> datetime:
    """An aware timestamp (datetime, or ISO-8601 text with an offset or Z), converted to UTC.

    Naive values are refused: a window edge without a zone is ambiguous by hours.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise StartMessageError(field, f"'{value}' is not an ISO-8601 timestamp") from None
    else:
        raise StartMessageError(field, f"must be an ISO-8601 timestamp, got {type(value).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise StartMessageError(field, f"'{value}' has no time zone; use Z or an offset")
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise StartMessageError(field, f"'{value}' is out of range in UTC") from None


def build_start_payload(
    job_name: str,
    requested_at: datetime,
    window_start: Any = None,
    window_end: Any = None,
    execution_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The JSON body: execution_id (a given UUID v4 or v5, else a new v4), job_name, requested_at and, for a
    backfill, window."""
    if not isinstance(job_name, str) or not _JOB_NAME.match(job_name):
        raise StartMessageError("job_name", f"'{job_name}' must match ^[a-z][a-z0-9_]{{0,63}}$")
    execution_id = execution_id or uuid.uuid4()
    if execution_id.version not in (4, 5) or execution_id.variant != uuid.RFC_4122:
        raise StartMessageError("execution_id", f"{execution_id} is neither a random (v4) nor a name-based (v5) RFC 4122 UUID")
    payload: dict[str, Any] = {
        "execution_id": str(execution_id),
        "job_name": job_name,
        "requested_at": format_utc(parse_utc("requested_at", requested_at)),
    }
    window = _window(window_start, window_end)
    if window is not None:
        payload["window"] = window
    return payload


def _window(start: Any, end: Any) -> dict[str, str] | None:
    if _blank(start) and _blank(end):
        return None
    if _blank(start):
        raise StartMessageError("window_start", "is required when window_end is set")
    if _blank(end):
        raise StartMessageError("window_end", "is required when window_start is set")
    start_utc = _window_edge("window_start", start)
    end_utc = _window_edge("window_end", end)
    if start_utc < EARLIEST_WINDOW_START:
        raise StartMessageError("window_start", f"'{start}' is before {format_utc(EARLIEST_WINDOW_START)}")
    if end_utc <= start_utc:
        raise StartMessageError("window_end", f"{format_utc(end_utc)} must be after window_start {format_utc(start_utc)}")
    return {"start": format_utc(start_utc), "end": format_utc(end_utc)}


def _window_edge(field: str, value: Any) -> datetime:
    """A window edge in whole seconds, the precision the message carries. Truncating a fraction instead would move
    the edge the operator asked for, and {.2Z, .8Z} passed the end > start check only to go out as start == end,
    which the functions reject after the task has succeeded (no alert, no backfill)."""
    moment = parse_utc(field, value)
    if moment.microsecond:
        raise StartMessageError(field, f"'{value}' has a fraction of a second; give whole seconds")
    return moment


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def to_pubsub_message(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The shape PubSubPublishMessageOperator publishes: UTF-8 JSON data plus the routing attributes."""
    return {
        "data": json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"),
        "attributes": {"execution_id": payload["execution_id"], "job_name": payload["job_name"]},
    }


def requested_at_of(run_type: Any, data_interval_end: Any, logical_date: Any, started_at: Any) -> datetime:
    """When the run asked for the pipeline: the :05 tick a scheduled run stands for (its data_interval_end);
    for a manual run, the moment it was triggered (its logical date, or its start when it has none)."""
    if str(getattr(run_type, "value", run_type)) == "scheduled" and data_interval_end is not None:
        return parse_utc("requested_at", data_interval_end)
    for candidate in (logical_date, started_at):
        if candidate is not None:
            return parse_utc("requested_at", candidate)
    raise StartMessageError("requested_at", "the run has neither a logical date nor a start date")


def execution_id_of_run(dag_id: str, run_id: str, job_name: str) -> uuid.UUID:
    """The execution id of one DAG run's start message: a UUID v5 of the DAG, the run and the job.

    A retry of the publish task renders the message again; if the failed try had in fact published (the RPC
    succeeded, its answer was lost), a new random id would start a second execution of the same hour. The same
    id makes the second message a duplicate, which the ledger's (execution_id, stage) key turns into a re-emit.
    Each run has its own run_id (a manual trigger too), so each run still starts a new execution.
    """
    for field, value in (("dag_id", dag_id), ("run_id", run_id)):
        if not isinstance(value, str) or not value.strip():
            raise StartMessageError(field, f"must be a non-empty string, got {value!r}")
    return uuid.uuid5(RUN_NAMESPACE, "\n".join((dag_id, run_id, job_name)))


def start_messages(
    params: Mapping[str, Any] | None,
    requested_at: datetime,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> list[dict[str, Any]]:
    """The operator's ``messages``: one start message from the DAG run's params (job_name, window_start, window_end).

    Given the run (``dag_id``, ``run_id``), its execution id is :func:`execution_id_of_run`; without, a new UUID v4.
    """
    params = params or {}
    job_name = params.get("job_name") or DEFAULT_JOB_NAME
    execution_id = None
    if dag_id is not None or run_id is not None:
        execution_id = execution_id_of_run(dag_id, run_id, job_name)  # type: ignore[arg-type]
    payload = build_start_payload(
        job_name=job_name,
        requested_at=requested_at,
        window_start=params.get("window_start"),
        window_end=params.get("window_end"),
        execution_id=execution_id,
    )
    return [to_pubsub_message(payload)]


def execution_id_of(messages: Any) -> str | None:
    """The execution_id a rendered ``messages`` value carries, for the failure alert (None if it never rendered)."""
    if isinstance(messages, list) and messages and isinstance(messages[0], Mapping):
        attributes = messages[0].get("attributes")
        if isinstance(attributes, Mapping):
            value = attributes.get("execution_id")
            return value if isinstance(value, str) else None
    return None

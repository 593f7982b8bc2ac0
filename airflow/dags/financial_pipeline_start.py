"""Hourly start of the FinancialPipeline: publishes ONE start message to the start topic.

Everything after that is event-driven (Pub/Sub → Eventarc → Extract → Transform → Aggregate); this DAG
does nothing else. The message is built when the task runs (the ``messages`` template calls the pure
builder in fp_start_message.py): each run gets its own execution_id, a UUID v5 of the DAG run, and each
retry of the run the same one, so a retry after a publish that did go through is a harmless duplicate.

Trigger with a config to backfill a window, e.g.
``{"window_start": "2026-11-20T00:00:00Z", "window_end": "2026-11-21T00:00:00Z"}``.
Setup (variables, connections, permissions): airflow/README.md.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow import DAG
from airflow.models import Variable
from airflow.models.param import Param
from airflow.providers.google.cloud.operators.pubsub import PubSubPublishMessageOperator
from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

from fp_failure_alert import failure_alert
from fp_start_message import DEFAULT_JOB_NAME, execution_id_of, requested_at_of, start_messages

DAG_ID = "financial_pipeline_start"
SCHEDULE = "5 * * * *"  # hourly at :05 UTC (the scheduler's time zone is UTC; start_date is UTC)

GCP_CONN_ID = "google_cloud_default"
SLACK_WEBHOOK_CONN_ID = "slack_etl_alert_webhook"
SLACK_CHANNEL_VARIABLE = "SLACK_ETL_ALERT_CHANNEL"
SLACK_USERNAME_VARIABLE = "SLACK_ETL_ALERT_USERNAME"


def notify_slack_on_failure(context):
    """on_failure_callback of the publish task: fires once its retries are exhausted."""
    task_instance = context["task_instance"]
    alert = failure_alert(
        dag_id=task_instance.dag_id,
        task_id=task_instance.task_id,
        run_id=task_instance.run_id,
        logical_date=context.get("logical_date"),
        try_number=task_instance.try_number,
        execution_id=execution_id_of(getattr(context.get("task"), "messages", None)),
        error=context.get("exception"),
        log_url=task_instance.log_url,
    )
    SlackWebhookHook(slack_webhook_conn_id=SLACK_WEBHOOK_CONN_ID).send(
        text=alert["text"],
        attachments=alert["attachments"],
        channel=Variable.get(SLACK_CHANNEL_VARIABLE, default_var=None),
        username=Variable.get(SLACK_USERNAME_VARIABLE, default_var=None),
    )


with DAG(
    dag_id=DAG_ID,
    description="Publishes the hourly start message of the FinancialPipeline",
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "data-engineering",
        "depends_on_past": False,
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
    },
    params={
        "job_name": Param(DEFAULT_JOB_NAME, type="string", pattern="^[a-z][a-z0-9_]{0,63}$"),
        "window_start": Param(None, type=["null", "string"], description="backfill window start (ISO-8601 UTC), with window_end"),
        "window_end": Param(None, type=["null", "string"], description="backfill window end (ISO-8601 UTC, exclusive)"),
    },
    user_defined_macros={"fp_start_messages": start_messages, "fp_requested_at": requested_at_of},
    # ``messages`` must render to a list of dicts with bytes, not to its text.
    render_template_as_native_obj=True,
    tags=["financial_pipeline", "pubsub"],
) as dag:
    publish_start_message = PubSubPublishMessageOperator(
        task_id="publish_start_message",
        gcp_conn_id=GCP_CONN_ID,
        project_id="{{ var.value.FP_GCP_PROJECT_ID }}",
        topic="{{ var.value.FP_START_TOPIC }}",
        messages="{{ fp_start_messages(params, fp_requested_at(dag_run.run_type, data_interval_end, logical_date, dag_run.start_date), dag_run.dag_id, dag_run.run_id) }}",
        on_failure_callback=notify_slack_on_failure,
    )

import unittest
from datetime import datetime, timezone

from fp_failure_alert import FAILURE_COLOR, failure_alert


def alert(**overrides):
    args = dict(
        dag_id="financial_pipeline_start",
        task_id="publish_start_message",
        run_id="scheduled__2026-11-23T19:05:00+00:00",
        logical_date=datetime(2026, 11, 23, 19, 5, tzinfo=timezone.utc),
        try_number=3,
        execution_id="3f2b8c1e-6a53-4b8e-9d0c-2a1f5e7d9b10",
        error=RuntimeError("403 PERMISSION_DENIED on topic fp-start"),
        log_url="https://composer.example/log?dag_id=financial_pipeline_start",
    )
    args.update(overrides)
    return failure_alert(**args)


def fields(result):
    return {f["title"]: f["value"] for f in result["attachments"][0]["fields"]}


class FailureAlertTests(unittest.TestCase):
    def test_red_attachment_carries_dag_task_time_try_execution_id_and_error(self):
        result = alert()
        attachment = result["attachments"][0]
        self.assertEqual(FAILURE_COLOR, attachment["color"])
        self.assertEqual("https://composer.example/log?dag_id=financial_pipeline_start", attachment["title_link"])
        self.assertEqual(
            {
                "DAG": "financial_pipeline_start",
                "Task": "publish_start_message",
                "Run": "scheduled__2026-11-23T19:05:00+00:00",
                "Logical date (UTC)": "2026-11-23T19:05:00Z",
                "Try": "3",
                "execution_id": "3f2b8c1e-6a53-4b8e-9d0c-2a1f5e7d9b10",
                "Error": "RuntimeError: 403 PERMISSION_DENIED on topic fp-start",
            },
            fields(result),
        )
        self.assertIn("financial_pipeline_start.publish_start_message failed", result["text"])

    def test_missing_context_is_said_not_invented(self):
        result = fields(alert(logical_date=None, try_number=None, execution_id=None, error=None, log_url=None))
        self.assertEqual("unknown", result["Logical date (UTC)"])
        self.assertEqual("unknown", result["Try"])
        self.assertIn("not generated", result["execution_id"])
        self.assertEqual("unknown", result["Error"])
        self.assertNotIn("title_link", alert(log_url=None)["attachments"][0])

    def test_long_errors_are_truncated(self):
        error = fields(alert(error="x" * 5000))["Error"]
        self.assertEqual(1500, len(error))
        self.assertTrue(error.endswith("…"))


if __name__ == "__main__":
    unittest.main()

import ast
import json
import re
import unittest
import uuid
from datetime import datetime, timedelta, timezone

from tests import DAGS_DIR
from fp_start_message import (
    DEFAULT_JOB_NAME,
    RUN_NAMESPACE,
    StartMessageError,
    build_start_payload,
    execution_id_of,
    requested_at_of,
    start_messages,
    to_pubsub_message,
)

REQUESTED = datetime(2026, 11, 23, 20, 5, tzinfo=timezone.utc)
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def decode(message):
    return json.loads(message["data"].decode("utf-8"))


class StartMessageSchemaTests(unittest.TestCase):
    def test_incremental_message_has_exactly_the_contract_fields(self):
        payload = decode(start_messages({}, REQUESTED)[0])
        self.assertEqual({"execution_id", "job_name", "requested_at"}, set(payload))
        self.assertEqual(DEFAULT_JOB_NAME, payload["job_name"])
        self.assertEqual("2026-11-23T20:05:00Z", payload["requested_at"])

    def test_data_is_compact_utf8_json_and_attributes_repeat_the_routing_fields(self):
        message = start_messages({"job_name": "financial_extract"}, REQUESTED)[0]
        self.assertIsInstance(message["data"], bytes)
        self.assertNotIn(b" ", message["data"])
        payload = decode(message)
        self.assertEqual({"execution_id": payload["execution_id"], "job_name": "financial_extract"}, message["attributes"])

    def test_one_message_per_run(self):
        self.assertEqual(1, len(start_messages(None, REQUESTED)))

    def test_job_name_from_params_is_used(self):
        self.assertEqual("other_job", decode(start_messages({"job_name": "other_job"}, REQUESTED)[0])["job_name"])

    def test_job_name_the_functions_would_reject_is_refused(self):
        for bad in ["Financial", "1job", "job-name", "x" * 65, 42]:
            with self.subTest(bad=bad), self.assertRaises(StartMessageError) as caught:
                build_start_payload(bad, REQUESTED)
            self.assertEqual("job_name", caught.exception.field)

    def test_execution_id_of_reads_the_rendered_messages(self):
        messages = start_messages({}, REQUESTED)
        self.assertEqual(decode(messages[0])["execution_id"], execution_id_of(messages))
        self.assertIsNone(execution_id_of("{{ fp_start_messages(params, data_interval_end) }}"))
        self.assertIsNone(execution_id_of(None))


class ExecutionIdTests(unittest.TestCase):
    def test_execution_id_is_a_canonical_uuid_v4(self):
        value = decode(start_messages({}, REQUESTED)[0])["execution_id"]
        parsed = uuid.UUID(value)
        self.assertEqual(4, parsed.version)
        self.assertEqual(uuid.RFC_4122, parsed.variant)
        self.assertEqual(str(parsed), value)

    def test_every_call_gets_a_new_execution_id(self):
        ids = {decode(start_messages({}, REQUESTED)[0])["execution_id"] for _ in range(50)}
        self.assertEqual(50, len(ids))

    def test_a_given_execution_id_must_be_v4_or_v5(self):
        with self.assertRaises(StartMessageError) as caught:
            build_start_payload("financial_extract", REQUESTED, execution_id=uuid.uuid1())
        self.assertEqual("execution_id", caught.exception.field)
        v5 = uuid.uuid5(uuid.NAMESPACE_URL, "x")
        self.assertEqual(str(v5), build_start_payload("financial_extract", REQUESTED, execution_id=v5)["execution_id"])

    def test_every_try_of_a_dag_run_publishes_the_same_execution_id(self):
        """A retry after a publish that went through (its answer lost) must be a duplicate, not a second execution."""
        def rendered(run_id, params=None):
            return decode(start_messages(params or {}, REQUESTED, "financial_pipeline_start", run_id)[0])["execution_id"]

        first = rendered("scheduled__2026-11-23T20:05:00+00:00")
        self.assertEqual(first, rendered("scheduled__2026-11-23T20:05:00+00:00"))
        self.assertEqual(5, uuid.UUID(first).version)
        self.assertEqual(
            str(uuid.uuid5(RUN_NAMESPACE, "financial_pipeline_start\nscheduled__2026-11-23T20:05:00+00:00\nfinancial_extract")), first)
        self.assertNotEqual(first, rendered("scheduled__2026-11-23T21:05:00+00:00"))
        self.assertNotEqual(first, rendered("manual__2026-11-23T20:07:12+00:00"))
        self.assertNotEqual(first, rendered("scheduled__2026-11-23T20:05:00+00:00", {"job_name": "other_job"}))

    def test_a_run_without_its_id_is_refused_naming_the_field(self):
        for dag_id, run_id, field in [("d", "", "run_id"), ("", "r", "dag_id"), (None, "r", "dag_id"), ("d", None, "run_id")]:
            with self.subTest(dag_id=dag_id, run_id=run_id):
                with self.assertRaises(StartMessageError) as caught:
                    start_messages({}, REQUESTED, dag_id, run_id)
                self.assertEqual(field, caught.exception.field)


class TimestampTests(unittest.TestCase):
    def test_requested_at_with_an_offset_is_converted_to_utc(self):
        sao_paulo = timezone(timedelta(hours=-3))
        payload = build_start_payload("financial_extract", datetime(2026, 11, 23, 17, 5, 30, 999, tzinfo=sao_paulo))
        self.assertEqual("2026-11-23T20:05:30Z", payload["requested_at"])

    def test_naive_requested_at_is_refused(self):
        with self.assertRaises(StartMessageError) as caught:
            build_start_payload("financial_extract", datetime(2026, 11, 23, 20, 5))
        self.assertEqual("requested_at", caught.exception.field)

    def test_every_timestamp_is_rfc3339_utc_with_z(self):
        payload = decode(start_messages({"window_start": "2026-11-20T01:00:00+01:00", "window_end": "2026-11-21T00:00:00Z"}, REQUESTED)[0])
        for value in [payload["requested_at"], payload["window"]["start"], payload["window"]["end"]]:
            self.assertRegex(value, RFC3339_UTC)
        self.assertEqual("2026-11-20T00:00:00Z", payload["window"]["start"])


class RequestedAtTests(unittest.TestCase):
    TICK = datetime(2026, 11, 23, 20, 5, tzinfo=timezone.utc)
    TRIGGERED = datetime(2026, 11, 23, 20, 41, 7, tzinfo=timezone.utc)
    STARTED = datetime(2026, 11, 23, 20, 41, 9, tzinfo=timezone.utc)

    def test_scheduled_run_is_requested_at_its_tick(self):
        self.assertEqual(self.TICK, requested_at_of("scheduled", self.TICK, self.TICK - timedelta(hours=1), self.STARTED))

    def test_manual_run_is_requested_when_it_was_triggered(self):
        self.assertEqual(self.TRIGGERED, requested_at_of("manual", self.TICK, self.TRIGGERED, self.STARTED))

    def test_manual_run_without_logical_date_uses_its_start(self):
        self.assertEqual(self.STARTED, requested_at_of("manual", None, None, self.STARTED))

    def test_run_type_enum_values_are_understood(self):
        class RunType:
            value = "scheduled"

        self.assertEqual(self.TICK, requested_at_of(RunType(), self.TICK, None, self.STARTED))

    def test_a_run_without_any_time_is_refused(self):
        with self.assertRaises(StartMessageError) as caught:
            requested_at_of("manual", None, None, None)
        self.assertEqual("requested_at", caught.exception.field)


class BackfillParamsTests(unittest.TestCase):
    def assert_refused(self, params, field, reason=""):
        """start_messages(params) fails naming ``field`` (and saying ``reason``); checked as a subtest."""
        with self.subTest(params=params):
            with self.assertRaises(StartMessageError) as caught:
                start_messages(params, REQUESTED)
            self.assertEqual(field, caught.exception.field)
            self.assertIn(reason, str(caught.exception))

    def test_both_edges_give_a_window(self):
        payload = decode(start_messages({"window_start": "2026-11-20T00:00:00Z", "window_end": "2026-11-21T00:00:00Z"}, REQUESTED)[0])
        self.assertEqual({"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"}, payload["window"])

    def test_datetime_edges_are_accepted(self):
        payload = build_start_payload("financial_extract", REQUESTED, REQUESTED - timedelta(days=1), REQUESTED)
        self.assertEqual({"start": "2026-11-22T20:05:00Z", "end": "2026-11-23T20:05:00Z"}, payload["window"])

    def test_null_or_blank_edges_mean_incremental(self):
        for params in [{"window_start": None, "window_end": None}, {"window_start": "", "window_end": "  "}]:
            with self.subTest(params=params):
                self.assertNotIn("window", decode(start_messages(params, REQUESTED)[0]))

    def test_one_edge_alone_is_refused_naming_the_missing_one(self):
        cases = [({"window_start": "2026-11-20T00:00:00Z"}, "window_end"), ({"window_end": "2026-11-21T00:00:00Z"}, "window_start")]
        for params, missing in cases:
            with self.subTest(params=params), self.assertRaises(StartMessageError) as caught:
                start_messages(params, REQUESTED)
            self.assertEqual(missing, caught.exception.field)

    def test_end_not_after_start_is_refused(self):
        for end in ["2026-11-20T00:00:00Z", "2026-11-19T23:00:00Z"]:
            with self.subTest(end=end), self.assertRaises(StartMessageError) as caught:
                start_messages({"window_start": "2026-11-20T00:00:00Z", "window_end": end}, REQUESTED)
            self.assertEqual("window_end", caught.exception.field)

    def test_edges_with_a_fraction_of_a_second_are_refused_naming_the_field(self):
        # The window is sent in whole seconds. {.2Z, .8Z} passed the end > start check and went out as
        # start == end, which the functions reject while the task succeeded: no alert, no backfill.
        cases = [
            ({"window_start": "2026-11-20T00:00:00.2Z", "window_end": "2026-11-20T00:00:00.8Z"}, "window_start"),
            ({"window_start": "2026-11-20T00:00:00Z", "window_end": "2026-11-21T00:00:00.5Z"}, "window_end"),
            ({"window_start": "2026-11-20T00:00:00.999999+01:00", "window_end": "2026-11-21T00:00:00Z"}, "window_start"),
        ]
        for params, field in cases:
            self.assert_refused(params, field, "fraction of a second")
        with self.assertRaises(StartMessageError) as caught:
            build_start_payload("financial_extract", REQUESTED, REQUESTED - timedelta(days=1), REQUESTED + timedelta(microseconds=1))
        self.assertEqual("window_end", caught.exception.field)

    def test_a_zero_fraction_is_whole_seconds(self):
        payload = decode(start_messages({"window_start": "2026-11-20T00:00:00.000Z", "window_end": "2026-11-21T00:00:00.0Z"}, REQUESTED)[0])
        self.assertEqual({"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"}, payload["window"])

    def test_a_window_before_1970_is_refused_naming_the_start(self):
        # No provider serves such bars, and a year before 1000 went out as '999-01-01T00:00:00Z', not RFC 3339.
        for start in ["1969-12-31T23:00:00Z", "0999-01-01T00:00:00Z"]:
            self.assert_refused({"window_start": start, "window_end": "1970-01-01T01:00:00Z"}, "window_start", "before 1970")
        payload = decode(start_messages({"window_start": "1970-01-01T00:00:00Z", "window_end": "1970-01-01T01:00:00Z"}, REQUESTED)[0])
        self.assertEqual("1970-01-01T00:00:00Z", payload["window"]["start"])

    def test_an_edge_outside_datetimes_range_in_utc_is_refused_naming_the_field(self):
        # Converting these to UTC overflowed: the task failed with a bare OverflowError that named no field.
        cases = [
            ({"window_start": "0001-01-01T00:30:00+01:00", "window_end": "2026-11-21T00:00:00Z"}, "window_start"),
            ({"window_start": "2026-11-20T00:00:00Z", "window_end": "9999-12-31T23:30:00-01:00"}, "window_end"),
        ]
        for params, field in cases:
            self.assert_refused(params, field, "out of range")

    def test_malformed_or_zoneless_edges_are_refused_naming_the_field(self):
        for value in ["yesterday", "2026-11-20T00:00:00", 20261120]:
            with self.subTest(value=value), self.assertRaises(StartMessageError) as caught:
                start_messages({"window_start": value, "window_end": "2026-11-21T00:00:00Z"}, REQUESTED)
            self.assertEqual("window_start", caught.exception.field)


class PurityTests(unittest.TestCase):
    def test_builder_modules_do_not_import_airflow(self):
        for name in ["fp_start_message.py", "fp_failure_alert.py"]:
            tree = ast.parse((DAGS_DIR / name).read_text(encoding="utf-8"))
            imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
            imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
            with self.subTest(module=name):
                self.assertFalse([m for m in imported if m.split(".")[0] == "airflow"], imported)


if __name__ == "__main__":
    unittest.main()

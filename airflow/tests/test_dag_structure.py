"""The DAG's structure, read with ast: Airflow is not installed here, so the file is parsed, not imported."""

import ast
import unittest
from datetime import timedelta

from tests import DAGS_DIR

DAG_FILE = DAGS_DIR / "financial_pipeline_start.py"
PUBSUB_MODULE = "airflow.providers.google.cloud.operators.pubsub"
SLACK_HOOK_MODULE = "airflow.providers.slack.hooks.slack_webhook"

# Keyword arguments real Airflow accepts, from DAG.__init__ and BaseOperator.__init__ of Airflow 2.6 (the oldest
# Composer 2 image the README supports) onwards. DAG() raises TypeError on any other name, and the operator an
# AirflowException, so a typo stops the file importing in Composer and no hour is published. Left out on purpose:
# names deprecated in 2.x and removed in 3 (schedule_interval, timetable, concurrency, full_filepath,
# task_concurrency) and names added after 2.6 (fail_stop, dag_display_name, on_skipped_callback, logger_name, ...).
DAG_KEYWORDS = frozenset({
    "dag_id", "description", "schedule", "start_date", "end_date", "template_searchpath", "template_undefined",
    "user_defined_macros", "user_defined_filters", "default_args", "max_active_tasks", "max_active_runs",
    "dagrun_timeout", "sla_miss_callback", "default_view", "orientation", "catchup", "on_success_callback",
    "on_failure_callback", "doc_md", "params", "access_control", "is_paused_upon_creation",
    "jinja_environment_kwargs", "render_template_as_native_obj", "tags", "owner_links", "auto_register",
})
BASE_OPERATOR_KEYWORDS = frozenset({
    "task_id", "owner", "email", "email_on_retry", "email_on_failure", "retries", "retry_delay",
    "retry_exponential_backoff", "max_retry_delay", "start_date", "end_date", "depends_on_past",
    "ignore_first_depends_on_past", "wait_for_downstream", "dag", "params", "default_args", "priority_weight",
    "weight_rule", "queue", "pool", "pool_slots", "sla", "execution_timeout", "on_execute_callback",
    "on_failure_callback", "on_success_callback", "on_retry_callback", "pre_execute", "post_execute",
    "trigger_rule", "resources", "run_as_user", "max_active_tis_per_dag", "executor_config", "do_xcom_push",
    "inlets", "outlets", "task_group", "doc", "doc_md", "doc_json", "doc_yaml", "doc_rst",
})
# PubSubPublishMessageOperator's own parameters (google provider); the rest go to BaseOperator.
PUBSUB_PUBLISH_KEYWORDS = frozenset({"project_id", "topic", "messages", "gcp_conn_id", "impersonation_chain"})


class DagFile:
    def __init__(self):
        self.tree = ast.parse(DAG_FILE.read_text(encoding="utf-8"), filename=str(DAG_FILE))
        self.constants = {
            target.id: node.value.value
            for node in self.tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        self.functions = {node.name: node for node in self.tree.body if isinstance(node, ast.FunctionDef)}
        self.imports = {
            alias.asname or alias.name: node.module
            for node in self.tree.body
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }

    def value(self, node):
        """A literal, following module-level constants by name."""
        if isinstance(node, ast.Name) and node.id in self.constants:
            return self.constants[node.id]
        return ast.literal_eval(node)

    def calls(self, name, within=None):
        return [n for n in ast.walk(within or self.tree) if isinstance(n, ast.Call) and call_name(n) == name]

    def timedelta_value(self, node):
        """``timedelta(minutes=2)`` (keywords only) or a number of seconds, as Airflow's retry_delay takes them."""
        if isinstance(node, ast.Call):
            assert call_name(node) == "timedelta" and not node.args, ast.unparse(node)
            assert self.imports.get("timedelta") == "datetime", "timedelta must be datetime's"
            return timedelta(**{k.arg: self.value(k.value) for k in node.keywords})
        return timedelta(seconds=self.value(node))


def call_name(call):
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        prefix = call_name(ast.Call(func=func.value, args=[], keywords=[])) if isinstance(func.value, (ast.Name, ast.Attribute)) else "?"
        return f"{prefix}.{func.attr}"
    return "?"


def keywords(call):
    return {k.arg: k.value for k in call.keywords}


class DagStructureTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dag_file = DagFile()
        dags = cls.dag_file.calls("DAG")
        assert len(dags) == 1, f"expected one DAG(...), found {len(dags)}"
        cls.dag = keywords(dags[0])
        cls.with_block = next(n for n in cls.dag_file.tree.body if isinstance(n, ast.With))

    def publish_task(self):
        return self.dag_file.calls("PubSubPublishMessageOperator")[0]

    def task_setting(self, name):
        """What the publish task gets for ``name``: its own keyword, else default_args (None when neither sets it)."""
        task = keywords(self.publish_task())
        if name in task:
            return task[name]
        default_args = self.dag["default_args"]
        return dict(zip((self.dag_file.value(k) for k in default_args.keys), default_args.values)).get(name)

    def test_dag_is_built_in_a_with_block(self):
        self.assertEqual("DAG", call_name(self.with_block.items[0].context_expr))

    def test_schedule_is_hourly_at_five_past(self):
        self.assertNotIn("schedule_interval", self.dag)
        schedule = self.dag_file.value(self.dag["schedule"])
        self.assertEqual(["5", "*", "*", "*", "*"], schedule.split())

    def test_start_date_is_fixed_and_utc(self):
        start = self.dag["start_date"]
        self.assertEqual("pendulum.datetime", call_name(start))
        self.assertEqual("UTC", self.dag_file.value(keywords(start)["tz"]))
        self.assertTrue(all(isinstance(a, ast.Constant) for a in start.args), "start_date must not move (no days_ago/now)")

    def test_catchup_is_false_on_the_dag_not_in_default_args(self):
        self.assertIs(False, self.dag_file.value(self.dag["catchup"]))
        default_args = self.dag["default_args"]
        self.assertIsInstance(default_args, ast.Dict)
        keys = [self.dag_file.value(k) for k in default_args.keys]
        self.assertNotIn("catchup", keys)
        self.assertNotIn("on_failure_callback", keys, "the callback belongs on the publish task")

    def test_exactly_one_task_and_it_is_the_pubsub_publish_operator(self):
        operators = [
            n for n in ast.walk(self.with_block) if isinstance(n, ast.Call) and call_name(n).endswith(("Operator", "Sensor"))
        ]
        self.assertEqual(["PubSubPublishMessageOperator"], [call_name(n) for n in operators])
        self.assertEqual(PUBSUB_MODULE, self.dag_file.imports["PubSubPublishMessageOperator"])
        self.assertFalse([n for n in ast.walk(self.with_block) if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.RShift, ast.LShift))])

    def test_publish_task_renders_the_builder_at_run_time(self):
        task = keywords(self.publish_task())
        self.assertEqual("publish_start_message", self.dag_file.value(task["task_id"]))
        for field in ["project_id", "topic"]:
            self.assertRegex(self.dag_file.value(task[field]), r"^\{\{ var\.value\.FP_[A-Z_]+ \}\}$", field)
        self.assertEqual(
            "{{ fp_start_messages(params, fp_requested_at(dag_run.run_type, data_interval_end, logical_date, dag_run.start_date), dag_run.dag_id, dag_run.run_id) }}",
            self.dag_file.value(task["messages"]),
        )
        macros = self.dag["user_defined_macros"]
        registered = {self.dag_file.value(k): v.id for k, v in zip(macros.keys, macros.values)}
        self.assertEqual({"fp_start_messages": "start_messages", "fp_requested_at": "requested_at_of"}, registered)
        for function in registered.values():
            self.assertEqual("fp_start_message", self.dag_file.imports[function])
        self.assertIs(True, self.dag_file.value(self.dag["render_template_as_native_obj"]))

    def test_one_run_at_a_time(self):
        # Two runs at once would publish two hours' starts together; the README promises max_active_runs=1.
        self.assertIn("max_active_runs", self.dag)
        self.assertEqual(1, self.dag_file.value(self.dag["max_active_runs"]))

    def test_two_retries_two_minutes_apart_and_no_dependency_on_the_previous_run(self):
        retries = self.task_setting("retries")
        self.assertIsNotNone(retries, "retries is not set (Airflow's default is 0)")
        self.assertEqual(2, self.dag_file.value(retries))
        retry_delay = self.task_setting("retry_delay")
        self.assertIsNotNone(retry_delay, "retry_delay is not set (Airflow's default is 5 minutes)")
        self.assertEqual(timedelta(minutes=2), self.dag_file.timedelta_value(retry_delay))
        backoff = self.task_setting("retry_exponential_backoff")
        self.assertFalse(backoff is not None and self.dag_file.value(backoff), "exponential backoff breaks '2 min apart'")
        # A failed hour must not hold back the next one: the next run publishes its own start regardless.
        for name in ["depends_on_past", "wait_for_downstream"]:
            setting = self.task_setting(name)
            self.assertFalse(setting is not None and self.dag_file.value(setting), f"{name} must be False")

    def test_dag_gets_only_keywords_airflow_accepts(self):
        dag = self.dag_file.calls("DAG")[0]
        self.assertEqual([], [ast.unparse(a) for a in dag.args], "DAG(...) takes keywords only here")
        self.assertNotIn(None, self.dag, "no **kwargs: every keyword must be checkable")
        self.assertEqual(set(), set(self.dag) - DAG_KEYWORDS, "DAG() raises TypeError on an unknown keyword")

    def test_publish_task_gets_only_keywords_the_operator_accepts(self):
        task = self.publish_task()
        self.assertEqual([], [ast.unparse(a) for a in task.args], "the operator takes keywords only")
        given = set(keywords(task))
        self.assertNotIn(None, given, "no **kwargs: every keyword must be checkable")
        self.assertEqual(set(), given - PUBSUB_PUBLISH_KEYWORDS - BASE_OPERATOR_KEYWORDS, "BaseOperator raises on an unknown keyword")

    def test_default_args_keys_are_operator_arguments(self):
        # Airflow passes a default_args key on only if the operator has that parameter; any other key (a typo
        # such as "retires", or "catchup") is dropped without a word, so the setting silently does not apply.
        keys = {self.dag_file.value(k) for k in self.dag["default_args"].keys}
        self.assertEqual(set(), keys - PUBSUB_PUBLISH_KEYWORDS - BASE_OPERATOR_KEYWORDS)

    def test_backfill_params_are_declared(self):
        params = self.dag["params"]
        self.assertEqual({"job_name", "window_start", "window_end"}, {self.dag_file.value(k) for k in params.keys})
        for value in params.values:
            self.assertEqual("Param", call_name(value))

    def test_failure_callback_is_on_the_publish_task(self):
        task = keywords(self.dag_file.calls("PubSubPublishMessageOperator")[0])
        callback = task["on_failure_callback"]
        self.assertIsInstance(callback, ast.Name)
        self.assertIn(callback.id, self.dag_file.functions)

    def test_failure_callback_posts_to_slack_with_the_seed_variables_and_webhook_connection(self):
        task = keywords(self.dag_file.calls("PubSubPublishMessageOperator")[0])
        function = self.dag_file.functions[task["on_failure_callback"].id]
        self.assertEqual(["context"], [a.arg for a in function.args.args])
        hooks = self.dag_file.calls("SlackWebhookHook", function)
        self.assertEqual(1, len(hooks))
        self.assertEqual(SLACK_HOOK_MODULE, self.dag_file.imports["SlackWebhookHook"])
        conn_id = self.dag_file.value(keywords(hooks[0])["slack_webhook_conn_id"])
        self.assertTrue(conn_id)
        sends = [n for n in ast.walk(function) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "send"]
        self.assertEqual(1, len(sends))
        send = keywords(sends[0])
        self.assertTrue({"text", "attachments", "channel", "username"} <= set(send))
        variables = {self.dag_file.value(c.args[0]) for c in self.dag_file.calls("Variable.get", function)}
        self.assertEqual({"SLACK_ETL_ALERT_CHANNEL", "SLACK_ETL_ALERT_USERNAME"}, variables)
        self.assertEqual(1, len(self.dag_file.calls("failure_alert", function)))

    def test_nothing_reads_variables_or_builds_messages_when_the_file_is_parsed(self):
        top_level = [n for n in self.dag_file.tree.body if not isinstance(n, ast.FunctionDef)]
        for node in top_level:
            for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
                self.assertNotIn(call_name(call), {"Variable.get", "start_messages", "build_start_payload", "uuid.uuid4"})


if __name__ == "__main__":
    unittest.main()

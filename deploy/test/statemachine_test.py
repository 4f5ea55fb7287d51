#!/usr/bin/env python3
"""Runs the two state machines of deploy/cloudformation/lakemerge.yaml, as
CloudFormation made them (the definitions stack_test.py wrote to DEF_DIR),
in moto's Amazon States Language interpreter (moto.stepfunctions.parser,
LocalStack's), with the ECS tasks, the S3 read of the plan and the SNS
messages mocked, and checks the retry rule the template promises: a task
whose container exits 1 or 130, or never runs, is tried again up to
RunAttempts (3) times; one that exits 2 is not tried again; a table that
gives up fails the execution and sends one SNS message, without stopping
the other tables; an empty plan runs nothing.

How a failed task looks is Step Functions' documented ECS ".sync"
behaviour: the error States.TaskFailed whose Cause is the ECS task
description (DescribeTasks, keys in PascalCase) as a JSON string; the
descriptions below have the fields the state machines read (Containers[0]
.ExitCode, TaskArn) and a few more, with made-up ARNs.

Three adjustments to moto 5.2.5 and one to the definitions, all test-only:
  - moto does not load Step Functions Local mock configurations: the test
    hands each execution its mock case (named like the execution);
  - moto's mocks cannot throw Step Functions' own errors (States.*): the
    test's can, as a stopped ECS task does (States.TaskFailed);
  - moto picks a mocked response by the state's Retry count; the state
    machines retry by looping back (Catch, Choice, Wait), so the test
    picks the n-th response for the n-th time a state is entered;
  - the backoff waits (60, 120, 240, ... s) become 0 s.

Usage: statemachine_test.py DEF_DIR
"""
import json
import logging
import os
import sys
import threading
import time
import unittest

import boto3
from moto import mock_aws
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.state.exec.state_task import mock_eval_utils
from moto.stepfunctions.parser.asl.eval import environment as sfn_environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.backend import execution as sfn_execution
from moto.stepfunctions.parser.mocking.mock_config import (
    MockedResponseReturn,
    MockedResponseThrow,
    MockTestCase,
    StateMockedResponses,
)

DEF_DIR = None
REGION = "us-east-1"
CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/lakemerge"


def task(exit_code, reason="Essential container in task exited"):
    """The ECS task description of a stopped task, as .sync reports it."""
    container = {"Name": "lakemerge", "LastStatus": "STOPPED",
                 "ContainerArn": "arn:aws:ecs:us-east-1:123456789012:container/lakemerge/0f6a1e4c"}
    if exit_code is not None:
        container["ExitCode"] = exit_code
    else:
        container["Reason"] = "CannotPullContainerError: pull image manifest has been retried 5 time(s)"
    return {"TaskArn": "arn:aws:ecs:us-east-1:123456789012:task/lakemerge/5b1e9f", "ClusterArn": CLUSTER,
            "LastStatus": "STOPPED", "DesiredStatus": "STOPPED", "LaunchType": "FARGATE",
            "StopCode": "EssentialContainerExited" if exit_code is not None else "TaskFailedToStart",
            "StoppedReason": reason, "Containers": [container]}


def ok():
    return MockedResponseReturn(0, 0, task(0))


def exits(code):
    """The task stopped with its container's exit code (None: it never ran)."""
    return MockedResponseThrow(0, 0, "States.TaskFailed", json.dumps(task(code)))


def plan_file(items):
    doc = {"config": "ssm:/lakemerge/job", "tables_total": len(items) + 1, "tables_up_to_date": 1,
           "pending_bytes": 1000 * len(items),
           "items": [{"tables": [t], "table_arg": t, "pending_files": 1, "pending_bytes": 1000} for t in items]}
    return MockedResponseReturn(0, 0, {"Body": json.dumps(doc), "ContentType": "application/json"})


SNS_OK = MockedResponseReturn(0, 0, {"MessageId": "5f1c"})

# Mock cases by name: per state, the responses it gives the 1st, 2nd, ...
# time it is entered (the last one repeats).
CASES = {}
_entries = {}
_lock = threading.Lock()


_start_worker = sfn_execution.Execution._get_start_execution_worker


def _worker_with_mocks(self):
    """Starts an execution under the mock case named like the execution."""
    worker = _start_worker(self)
    worker._mock_test_case = MockTestCase(self.state_machine.name, self.name, [
        StateMockedResponses(state, f"{self.name}.{state}", [MockedResponseReturn(0, 0, None)])
        for state in CASES[self.name]])
    return worker


def _current_response(self):
    name = self.next_state_name
    case = self.mock_test_case.test_case_name
    with _lock:
        n = _entries.get((case, name), 0)
        _entries[(case, name)] = n + 1
    responses = CASES[case][name]
    return responses[min(n, len(responses) - 1)]


def _throw(env, mocked_response):
    """A mocked failure, with Step Functions' own error names allowed (a
    stopped ECS task fails with States.TaskFailed)."""
    name = mocked_response.error
    error_name = StatesErrorName.from_name(name) if name.startswith("States.") else CustomErrorName(name)
    raise FailureEventException(failure_event=FailureEvent(
        env=env, error_name=error_name, event_type=HistoryEventType.TaskFailed,
        event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(error=name, cause=mocked_response.cause))))


sfn_execution.Execution._get_start_execution_worker = _worker_with_mocks
mock_eval_utils._eval_mocked_response_throw = _throw
# The interpreter logs every failure it handles (Catch included) at ERROR.
logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
sfn_environment.Environment.get_current_mocked_response = _current_response


class StateMachineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        cls.mock.start()
        cls.sfn = boto3.client("stepfunctions", region_name=REGION)
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="states", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))["Role"]["Arn"]
        cls.arns = {}
        for name in ("lakemerge", "backfill"):
            with open(os.path.join(DEF_DIR, name + ".asl.json")) as f:
                definition = f.read()
            waits = "States.Array(60, 120, 240, 480, 960)"
            if waits not in definition:
                raise AssertionError(f"{name}: the backoff waits changed; update the test")
            definition = definition.replace(waits, "States.Array(0, 0, 0, 0, 0)")
            cls.arns[name] = cls.sfn.create_state_machine(name=name, definition=definition, roleArn=role)["stateMachineArn"]

    @classmethod
    def tearDownClass(cls):
        cls.mock.stop()

    def execute(self, machine, case, states, input="{}"):
        """Runs machine under the mock case; returns its status, output and
        how often each state was entered."""
        CASES[case] = states
        arn = self.sfn.start_execution(stateMachineArn=self.arns[machine], name=case, input=input)["executionArn"]
        deadline = time.time() + 60
        while True:
            d = self.sfn.describe_execution(executionArn=arn)
            if d["status"] != "RUNNING":
                break
            if time.time() > deadline:
                self.fail(f"{case}: still running after 60 s")
            time.sleep(0.05)
        events = self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        entered = {}
        for e in events:
            det = e.get("stateEnteredEventDetails")
            if det:
                entered[det["name"]] = entered.get(det["name"], 0) + 1
        out = json.loads(d["output"]) if d.get("output") else None
        return d["status"], out, entered, events

    def test_item_exit_1_is_retried(self):
        status, _, entered, _ = self.execute("lakemerge", "exit1", {
            "Plan": [ok()], "ReadPlan": [plan_file(["orders"])], "RunItem": [exits(1), exits(1), ok()], "NotifyFailed": [SNS_OK]})
        self.assertEqual(status, "SUCCEEDED")
        self.assertEqual(entered["RunItem"], 3)
        self.assertEqual(entered.get("ItemWait"), 2)
        self.assertNotIn("NotifyFailed", entered)

    def test_item_exit_2_is_not_retried(self):
        status, _, entered, events = self.execute("lakemerge", "exit2", {
            "Plan": [ok()], "ReadPlan": [plan_file(["orders"])], "RunItem": [exits(2), ok()], "NotifyFailed": [SNS_OK]})
        self.assertEqual(status, "FAILED")
        self.assertEqual(entered["RunItem"], 1)
        self.assertNotIn("ItemWait", entered)
        self.assertEqual(entered["NotifyFailed"], 1)
        (failed,) = [e for e in events if e["type"] == "ExecutionFailed"]
        self.assertEqual(failed["executionFailedEventDetails"]["error"], "Lakemerge.TablesFailed")
        message = sns_message(events)
        self.assertIn('"tables":"orders"', message.replace(" ", ""))
        self.assertIn('"ExitCode":2', message.replace(" ", ""))

    def test_item_gives_up_after_run_attempts(self):
        status, _, entered, _ = self.execute("lakemerge", "exit1x3", {
            "Plan": [ok()], "ReadPlan": [plan_file(["orders"])], "RunItem": [exits(1)], "NotifyFailed": [SNS_OK]})
        self.assertEqual(status, "FAILED")
        self.assertEqual(entered["RunItem"], 3)
        self.assertEqual(entered["NotifyFailed"], 1)

    def test_interrupted_and_never_started_are_retried(self):
        for case, first in (("exit130", exits(130)), ("nostart", exits(None))):
            status, _, entered, _ = self.execute("lakemerge", case, {
                "Plan": [ok()], "ReadPlan": [plan_file(["orders"])], "RunItem": [first, ok()], "NotifyFailed": [SNS_OK]})
            self.assertEqual((case, status, entered["RunItem"]), (case, "SUCCEEDED", 2))

    def test_other_exit_codes_are_not_retried(self):
        status, _, entered, _ = self.execute("lakemerge", "exit137", {
            "Plan": [ok()], "ReadPlan": [plan_file(["orders"])], "RunItem": [exits(137), ok()], "NotifyFailed": [SNS_OK]})
        self.assertEqual((status, entered["RunItem"]), ("FAILED", 1))

    def test_one_failed_table_does_not_stop_the_others(self):
        status, _, entered, events = self.execute("lakemerge", "mixed", {
            "Plan": [ok()], "ReadPlan": [plan_file(["orders", "customers", "payments"])],
            "RunItem": [exits(2), ok(), ok()], "NotifyFailed": [SNS_OK]})
        self.assertEqual(status, "FAILED")
        self.assertEqual(entered["RunItem"], 3)
        self.assertEqual(entered["NotifyFailed"], 1)
        results = json.loads(sns_message(events).split(": ", 2)[-1])
        self.assertEqual(sorted(r["status"] for r in results), ["failed", "ok", "ok"])

    def test_empty_plan_runs_nothing(self):
        status, _, entered, _ = self.execute("lakemerge", "empty", {
            "Plan": [ok()], "ReadPlan": [plan_file([])], "RunItem": [ok()], "NotifyFailed": [SNS_OK]})
        self.assertEqual(status, "SUCCEEDED")
        self.assertNotIn("Fanout", entered)
        self.assertNotIn("RunItem", entered)

    def test_plan_exit_codes(self):
        status, _, entered, _ = self.execute("lakemerge", "plan1", {
            "Plan": [exits(1), ok()], "ReadPlan": [plan_file(["orders"])], "RunItem": [ok()], "PlanGiveUp": [SNS_OK]})
        self.assertEqual((status, entered["Plan"], entered["RunItem"]), ("SUCCEEDED", 2, 1))
        status, _, entered, events = self.execute("lakemerge", "plan2", {
            "Plan": [exits(2), ok()], "ReadPlan": [plan_file(["orders"])], "RunItem": [ok()], "PlanGiveUp": [SNS_OK]})
        self.assertEqual((status, entered["Plan"], entered["PlanGiveUp"]), ("FAILED", 1, 1))
        self.assertNotIn("RunItem", entered)
        (failed,) = [e for e in events if e["type"] == "ExecutionFailed"]
        self.assertEqual(failed["executionFailedEventDetails"]["error"], "Lakemerge.PlanFailed")

    def test_backfill(self):
        status, _, entered, _ = self.execute("backfill", "backfill1", {
            "RunBackfill": [exits(1), ok()], "GiveUp": [SNS_OK]}, input='{"table": "orders"}')
        self.assertEqual((status, entered["RunBackfill"]), ("SUCCEEDED", 2))
        status, _, entered, events = self.execute("backfill", "backfill2", {
            "RunBackfill": [exits(2), ok()], "GiveUp": [SNS_OK]}, input='{"table": "orders"}')
        self.assertEqual((status, entered["RunBackfill"], entered["GiveUp"]), ("FAILED", 1, 1))
        self.assertIn("backfill of orders failed", sns_message(events))


def sns_message(events):
    """The Message the one sns:publish task of an execution sent."""
    msgs = [json.loads(e["taskScheduledEventDetails"]["parameters"])["Message"] for e in events
            if e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"]["resource"] == "publish"]
    if len(msgs) != 1:
        raise AssertionError(f"{len(msgs)} SNS messages")
    return msgs[0]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: statemachine_test.py DEF_DIR")
    DEF_DIR = sys.argv[1]
    prog = unittest.main(argv=[sys.argv[0], "-v"], exit=False)
    sys.exit(0 if prog.result.wasSuccessful() else 1)

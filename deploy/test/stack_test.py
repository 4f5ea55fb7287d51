#!/usr/bin/env python3
"""Creates deploy/cloudformation/lakemerge.yaml as a stack on the moto server
($LAKEMERGE_AWS_ENDPOINT, which scripts/test.sh starts) and checks what it
made through the services' own APIs: the outputs resolve to the resources,
the task definition, the IAM policies (with and without the optional
parameters), the log groups, the topic and the two state machines, whose
definitions (as CloudFormation substituted them) it writes to OUT_DIR for
asl-validator and statemachine_test.py.

moto's CloudFormation skips resource types it does not implement with a
warning: AWS::Scheduler::Schedule, AWS::CloudWatch::Alarm and
AWS::SNS::Subscription. For those the test resolves the template's
properties itself (Ref, Fn::GetAtt, Fn::Sub, Fn::If of the stack) and makes
each one through its real API on the moto server (scheduler
CreateSchedule, cloudwatch PutMetricAlarm, sns Subscribe), which checks
their shape.

Usage: stack_test.py OUT_DIR
"""
import ast
import json
import os
import sys
import time
import unittest

import boto3
import yaml

TEMPLATE = os.path.join(os.path.dirname(__file__), "..", "cloudformation", "lakemerge.yaml")
ENDPOINT = os.environ.get("LAKEMERGE_AWS_ENDPOINT")
REGION, ACCOUNT = "us-east-1", "123456789012"
# The resource types moto's CloudFormation does not create (see the doc).
UNSUPPORTED = {"AWS::Scheduler::Schedule", "AWS::CloudWatch::Alarm", "AWS::SNS::Subscription"}


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML: short-form tags become the long form."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if suffix == "Condition":
        return {"Condition": value}
    return {"Fn::" + suffix: value}


CfnLoader.add_multi_constructor("!", _tag)


def load_template():
    with open(TEMPLATE) as f:
        return yaml.load(f, Loader=CfnLoader)


def client(service):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name=REGION,
                        aws_access_key_id="test", aws_secret_access_key="test")


class Resolver:
    """Evaluates the intrinsic functions of the template's resources that
    moto did not create, against the created stack."""

    def __init__(self, template, params, stack_name, physical, attrs):
        self.t, self.params, self.stack, self.physical, self.attrs = template, params, stack_name, physical, attrs

    def condition(self, name):
        return self.value(self.t["Conditions"][name])

    def value(self, v):
        if isinstance(v, list):
            return [x for x in (self.value(x) for x in v) if x is not NoValue]
        if not isinstance(v, dict):
            return v
        if len(v) != 1:
            return {k: x for k, x in ((k, self.value(x)) for k, x in v.items()) if x is not NoValue}
        (fn, arg), = v.items()
        if fn == "Ref":
            return self.ref(arg)
        if fn == "Fn::GetAtt":
            return self.attrs[(arg[0], arg[1])]
        if fn == "Fn::If":
            return self.value(arg[1] if self.condition(arg[0]) else arg[2])
        if fn == "Fn::Equals":
            return self.value(arg[0]) == self.value(arg[1])
        if fn == "Fn::Not":
            return not self.value(arg[0])
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Join":
            return arg[0].join(self.value(arg[1]))
        if fn == "Fn::Select":
            return self.value(arg[1])[int(arg[0])]
        if fn == "Fn::Split":
            return self.value(arg[1]).split(arg[0])
        if fn == "Fn::Sub":
            text, names = (arg, {}) if isinstance(arg, str) else (arg[0], {k: self.value(x) for k, x in arg[1].items()})
            out, i = "", 0
            while True:
                j = text.find("${", i)
                if j < 0:
                    return out + text[i:]
                k = text.index("}", j)
                name = text[j + 2:k]
                out += text[i:j]
                if name in names:
                    out += str(names[name])
                elif "." in name and not name.startswith("AWS::"):
                    out += str(self.attrs[tuple(name.split(".", 1))])
                else:
                    out += str(self.ref(name))
                i = k + 1
        return {fn: self.value(arg)}

    def ref(self, name):
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                  "AWS::StackName": self.stack, "AWS::NoValue": NoValue}
        if name in pseudo:
            return pseudo[name]
        if name in self.t["Parameters"]:
            decl = self.t["Parameters"][name]
            v = self.params.get(name, decl.get("Default"))
            listy = decl["Type"] == "CommaDelimitedList" or decl["Type"].startswith("List<")
            return v.split(",") if listy else v
        return self.physical[name]


class _NoValue:
    pass


NoValue = _NoValue()


def create_stack(name, params):
    """Creates the stack and returns its outputs, physical ids by logical
    id and the logical ids moto skipped."""
    cf = client("cloudformation")
    with open(TEMPLATE) as f:
        body = f.read()
    cf.create_stack(StackName=name, TemplateBody=body, Capabilities=["CAPABILITY_IAM"],
                    Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()])
    cf.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    resources = cf.describe_stack_resources(StackName=name)["StackResources"]
    # moto lists the resources it skipped without ids.
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if "LogicalResourceId" in r}
    return stack, outputs, physical


def network():
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.8.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
    sg = ec2.create_security_group(GroupName=f"lakemerge-{vpc}", Description="lakemerge tasks", VpcId=vpc)["GroupId"]
    return subnets, sg


class StackTest(unittest.TestCase):
    out_dir = None

    @classmethod
    def setUpClass(cls):
        cls.template = load_template()
        cls.subnets, cls.sg = network()
        cls.name = f"lakemerge-full-{time.time_ns()}"
        cls.params = {
            "ImageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/lakemerge:v1.0.0",
            "JobConfig": "ssm:/lakemerge/prod/job",
            "RawBucket": "dms-raw", "RawPrefix": "dms/",
            "LakeBucket": "lake", "LakePrefix": "base/",
            "GlueDatabases": "base,prepared",
            "Subnets": ",".join(cls.subnets), "SecurityGroup": cls.sg,
            "KmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f6a1e4c-1d2b-4c3d-9e8f-001122334455",
            "AlarmEmail": "data-oncall@example.com",
            "MapConcurrency": "6", "RunAttempts": "3",
        }
        cls.stack, cls.outputs, cls.physical = create_stack(cls.name, cls.params)
        physical = dict(cls.physical)
        attrs = {("Cluster", "Arn"): cls.outputs["ClusterArn"]}
        iam = client("iam")
        for logical in ("TaskRole", "ExecutionRole", "StateMachineRole", "SchedulerRole"):
            attrs[(logical, "Arn")] = iam.get_role(RoleName=physical[logical])["Role"]["Arn"]
        cls.resolver = Resolver(cls.template, cls.params, cls.name, physical, attrs)

    def test_outputs_resolve(self):
        want = {"ClusterArn", "TaskDefinitionArn", "TaskRoleArn", "StateMachineArn", "BackfillStateMachineArn",
                "StartBackfill", "AlarmTopic", "LogGroupName", "MetricsNamespace"}
        self.assertEqual(set(self.outputs), want)
        for k, v in self.outputs.items():
            self.assertNotIn("None", v, k)
            self.assertNotIn("${", v, k)
        ecs = client("ecs")
        self.assertEqual(ecs.describe_clusters(clusters=[self.outputs["ClusterArn"]])["clusters"][0]["clusterArn"],
                         self.outputs["ClusterArn"])
        sfn = client("stepfunctions")
        for key in ("StateMachineArn", "BackfillStateMachineArn"):
            sfn.describe_state_machine(stateMachineArn=self.outputs[key])
        self.assertIn(self.outputs["BackfillStateMachineArn"], self.outputs["StartBackfill"])
        topics = [t["TopicArn"] for t in client("sns").list_topics()["Topics"]]
        self.assertIn(self.outputs["AlarmTopic"], topics)
        self.assertEqual(self.outputs["MetricsNamespace"], f"Lakemerge/{self.name}")
        self.assertEqual(self.outputs["LogGroupName"], f"/lakemerge/{self.name}")
        role = self.outputs["TaskRoleArn"].rsplit("/", 1)[1]
        self.assertEqual(client("iam").get_role(RoleName=role)["Role"]["Arn"], self.outputs["TaskRoleArn"])

    def test_task_definition(self):
        td = client("ecs").describe_task_definition(taskDefinition=self.outputs["TaskDefinitionArn"])["taskDefinition"]
        self.assertEqual(td["family"], f"lakemerge-{self.name}")
        (c,) = td["containerDefinitions"]
        self.assertEqual(c["name"], "lakemerge")  # the state machines' ContainerOverrides name it
        self.assertEqual(c["image"], self.params["ImageUri"])
        self.assertTrue(c["essential"])
        log = c["logConfiguration"]
        self.assertEqual(log["logDriver"], "awslogs")
        self.assertEqual(log["options"]["awslogs-group"], self.outputs["LogGroupName"])
        self.assertEqual(log["options"]["awslogs-region"], REGION)
        self.assertIn({"name": "AWS_REGION", "value": REGION}, c["environment"])
        self.assertEqual(c["mountPoints"][0]["containerPath"], "/tmp")

    def test_log_groups(self):
        groups = {g["logGroupName"]: g for g in client("logs").describe_log_groups(logGroupNamePrefix="/")["logGroups"]}
        self.assertEqual(groups[self.outputs["LogGroupName"]].get("retentionInDays"), 30)

    def _policy(self, stack_physical, logical):
        iam = client("iam")
        role = stack_physical[logical]
        (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
        doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(doc, str):
            # moto 5.2.5 returns a CloudFormation-made inline policy as the
            # Python repr of the document, not as JSON.
            doc = ast.literal_eval(doc)
        # moto leaves AWS::NoValue in a list as null, where CloudFormation
        # drops the element.
        statements = [s for s in doc["Statement"] if s is not None]
        for s in statements:
            if isinstance(s["Resource"], list):
                s["Resource"] = [r for r in s["Resource"] if r is not None]
        return {s.get("Sid", s.get("Action")): s for s in statements}

    def test_task_role_policy(self):
        st = self._policy(self.physical, "TaskRole")
        self.assertEqual(st["ListRaw"]["Resource"], "arn:aws:s3:::dms-raw")
        self.assertEqual(st["ListRaw"]["Condition"], {"StringLike": {"s3:prefix": "dms/*"}})
        self.assertEqual(st["ReadRaw"]["Resource"], "arn:aws:s3:::dms-raw/dms/*")
        self.assertEqual(st["ReadRaw"]["Action"], "s3:GetObject")  # the raw zone is only read
        self.assertEqual(st["WriteLake"]["Resource"], "arn:aws:s3:::lake/base/*")
        self.assertEqual(st["WritePlans"]["Resource"], "arn:aws:s3:::lake/lakemerge-plans/*")
        glue = f"arn:aws:glue:{REGION}:{ACCOUNT}:"
        self.assertEqual(sorted(st["Glue"]["Resource"]), sorted([
            glue + "catalog", glue + "database/base", glue + "table/base/*",
            glue + "database/prepared", glue + "table/prepared/*"]))
        self.assertEqual(st["ReadJobFile"]["Action"], "ssm:GetParameter")
        self.assertEqual(st["ReadJobFile"]["Resource"], f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/lakemerge/prod/job")
        self.assertEqual(st["Kms"]["Resource"], self.params["KmsKeyArn"])

    def test_state_machine_role_policy(self):
        st = self._policy(self.physical, "StateMachineRole")
        self.assertEqual(st["RunTasks"]["Resource"], f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/lakemerge-{self.name}:*")
        self.assertEqual(st["RunTasks"]["Condition"]["ArnEquals"]["ecs:cluster"], self.outputs["ClusterArn"])
        self.assertEqual(st["Notify"]["Resource"], self.outputs["AlarmTopic"])
        self.assertEqual(st["SyncRule"]["Resource"], f"arn:aws:events:{REGION}:{ACCOUNT}:rule/StepFunctionsGetEventsForECSTaskRule")
        passed = st["PassRoles"]["Resource"]
        self.assertIn(self.outputs["TaskRoleArn"], passed)

    def test_state_machine_definitions(self):
        """The definitions as CloudFormation substitutes them. moto's
        Fn::Sub (Python's string.Template) also turns $$ into $, which
        CloudFormation does not (only ${ is special there), so $$.Execution
        would lose its meaning; the test resolves the template itself and
        checks that moto's result differs from it by exactly that."""
        sfn = client("stepfunctions")
        for key, logical, fname in (("StateMachineArn", "StateMachine", "lakemerge.asl.json"),
                                    ("BackfillStateMachineArn", "BackfillStateMachine", "backfill.asl.json")):
            text = self.resolver.value(self.template["Resources"][logical]["Properties"]["DefinitionString"])
            self.assertIn("$$.Execution", text)
            got = sfn.describe_state_machine(stateMachineArn=self.outputs[key])["definition"]
            self.assertEqual(got, text.replace("$$", "$"), f"{key}: moto's definition is not the template's")
            self.assertNotIn("${", text, f"{key}: a substitution was left")
            d = json.loads(text)
            tasks = [s for s in walk_states(d) if s.get("Resource", "").endswith(":ecs:runTask.sync")]
            self.assertTrue(tasks)
            for s in tasks:
                p = s["Parameters"]
                self.assertEqual(p["Cluster"], self.outputs["ClusterArn"])
                self.assertEqual(p["TaskDefinition"], self.outputs["TaskDefinitionArn"])
                self.assertEqual(p["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"], self.subnets)
                self.assertEqual(p["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"], [self.sg])
                self.assertEqual(p["Overrides"]["ContainerOverrides"][0]["Name"], "lakemerge")
                self.assertIn("'ssm:/lakemerge/prod/job'", p["Overrides"]["ContainerOverrides"][0]["Command.$"])
            for s in walk_states(d):
                if s.get("Resource", "").endswith(":sns:publish"):
                    self.assertEqual(s["Parameters"]["TopicArn"], self.outputs["AlarmTopic"])
            if key == "StateMachineArn":
                self.assertEqual(d["States"]["Fanout"]["MaxConcurrency"], 6)
            with open(os.path.join(self.out_dir, fname), "w") as f:
                f.write(text)

    def test_unsupported_resources_through_their_apis(self):
        """moto skipped these; make each through its API, as resolved from
        the template, so their properties are checked all the same."""
        skipped = {k for k, r in self.template["Resources"].items() if r["Type"] in UNSUPPORTED}
        self.assertEqual(skipped - set(self.physical), skipped, "moto now creates some of them: drop the workaround")
        physical = dict(self.physical)
        physical["StateMachine"] = self.outputs["StateMachineArn"]
        physical["BackfillStateMachine"] = self.outputs["BackfillStateMachineArn"]
        physical["AlarmTopic"] = self.outputs["AlarmTopic"]
        r = Resolver(self.template, self.params, self.name, physical, self.resolver.attrs)
        made = set()
        for logical in sorted(skipped):
            res = self.template["Resources"][logical]
            if "Condition" in res and not r.condition(res["Condition"]):
                continue
            p = r.value(res["Properties"])
            if res["Type"] == "AWS::Scheduler::Schedule":
                client("scheduler").create_schedule(Name=f"{self.name}-{logical}", **p)
                got = client("scheduler").get_schedule(Name=f"{self.name}-{logical}")
                self.assertEqual(got["Target"]["Arn"], self.outputs["StateMachineArn"])
                self.assertEqual(got["ScheduleExpression"], "rate(15 minutes)")
            elif res["Type"] == "AWS::CloudWatch::Alarm":
                client("cloudwatch").put_metric_alarm(AlarmName=f"{self.name}-{logical}", **p)
                (alarm,) = client("cloudwatch").describe_alarms(AlarmNames=[f"{self.name}-{logical}"])["MetricAlarms"]
                self.assertEqual(alarm["AlarmActions"], [self.outputs["AlarmTopic"]])
                if logical == "LagAlarm":
                    self.assertEqual((alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"]),
                                     (self.outputs["MetricsNamespace"], "Lag", []))
                else:
                    self.assertIn(alarm["Dimensions"][0]["Value"], (self.outputs["StateMachineArn"], self.outputs["BackfillStateMachineArn"]))
            elif res["Type"] == "AWS::SNS::Subscription":
                client("sns").subscribe(**p)
                subs = client("sns").list_subscriptions_by_topic(TopicArn=self.outputs["AlarmTopic"])["Subscriptions"]
                self.assertIn(("email", self.params["AlarmEmail"]), [(s["Protocol"], s["Endpoint"]) for s in subs])
            made.add(logical)
        self.assertEqual(made, {"Schedule", "ExecutionsFailedAlarm", "ExecutionsTimedOutAlarm", "BackfillFailedAlarm",
                                "LagAlarm", "AlarmSubscription"})

    def test_optional_parameters_left_out(self):
        """A job file on S3, one database, no KMS key, an existing topic, no e-mail."""
        topic = client("sns").create_topic(Name=f"existing-alarms-{time.time_ns()}")["TopicArn"]
        params = dict(self.params, JobConfig="s3://config-bucket/jobs/prod.yaml", GlueDatabases="base",
                      KmsKeyArn="", AlarmTopicArn=topic, AlarmEmail="")
        _, outputs, physical = create_stack(f"lakemerge-minimal-{time.time_ns()}", params)
        self.assertEqual(outputs["AlarmTopic"], topic)
        self.assertNotIn("AlarmTopic", physical)
        st = self._policy(physical, "TaskRole")
        self.assertEqual(st["ReadJobFile"]["Action"], "s3:GetObject")
        self.assertEqual(st["ReadJobFile"]["Resource"], "arn:aws:s3:::config-bucket/jobs/prod.yaml")
        self.assertNotIn("Kms", st)
        glue = f"arn:aws:glue:{REGION}:{ACCOUNT}:"
        self.assertEqual(sorted(st["Glue"]["Resource"]), sorted([glue + "catalog", glue + "database/base", glue + "table/base/*"]))
        self.assertEqual(self._policy(physical, "StateMachineRole")["Notify"]["Resource"], topic)


def walk_states(d):
    for s in d.get("States", {}).values():
        yield s
        if s.get("Type") == "Map":
            yield from walk_states(s.get("ItemProcessor") or s.get("Iterator"))
        for b in s.get("Branches", []):
            yield from walk_states(b)


if __name__ == "__main__":
    if len(sys.argv) != 2 or not ENDPOINT:
        sys.exit("usage: LAKEMERGE_AWS_ENDPOINT=http://... stack_test.py OUT_DIR")
    StackTest.out_dir = sys.argv[1]
    prog = unittest.main(argv=[sys.argv[0], "-v"], exit=False)
    sys.exit(0 if prog.result.wasSuccessful() else 1)

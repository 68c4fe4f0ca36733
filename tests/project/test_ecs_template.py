"""ecs.yaml, the course's container lab as a stack: Fargate tasks of the image behind an internet-facing load
balancer, on given roles only, scaled on CPU, stopped gracefully, logging to CloudWatch, and configured with
the service's own settings for AWS."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from pydantic import AliasChoices

from service.core.settings import Settings
from tests.support.cloudformation import ROOT, created, lint_findings, load, of_type

LAB_ROLE = "arn:aws:iam::123456789012:role/LabRole"
VPC_CIDR = "10.0.0.0/16"
GIVEN = {
    "ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/vehicle-app:latest",
    "TaskRoleArn": LAB_ROLE,
    "VpcId": "vpc-0123456789abcdef0",
    "VpcCidr": VPC_CIDR,
    "Subnets": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
    "ServiceSecurityGroupId": "sg-0123456789abcdef0",
    "CognitoUserPoolId": "us-east-1_AbCdEf123",
    "CognitoClientId": "1example23456789abcdefghij",
    "AllowedOrigin": "http://shop.example.com",
    "CursorSecret": "s" * 32,
}
# Fargate's memory sizes (MiB) for a task of 0.25 vCPU.
FARGATE_MEMORY_FOR_256_CPU = {"512", "1024", "2048"}
# Fargate waits at most this long between SIGTERM and SIGKILL.
FARGATE_MOST_STOP_TIMEOUT = 120


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load("ecs.yaml")


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return created(load("ecs.yaml"), GIVEN)


# An Application Load Balancer's idle timeout, which the template leaves at its default.
ALB_IDLE_TIMEOUT_SECONDS = 60


def _one(stack: dict[str, Any], kind: str) -> dict[str, Any]:
    (resource,) = of_type(stack, kind).values()
    properties: dict[str, Any] = resource["Properties"]
    return properties


def _container(stack: dict[str, Any]) -> dict[str, Any]:
    (container,) = _one(stack, "AWS::ECS::TaskDefinition")["ContainerDefinitions"]
    return dict(container)


def _dockerfile_port() -> int:
    """The port the image's server listens on: the final stage's PORT, which it also EXPOSEs."""
    text = (ROOT / "Dockerfile").read_text()
    (port,) = set(re.findall(r"^\s*PORT=(\d+)\s*$", text, flags=re.MULTILINE))
    (exposed,) = set(re.findall(r"^EXPOSE (\d+)\s*$", text, flags=re.MULTILINE))
    assert port == exposed
    return int(port)


def _variables() -> set[str]:
    """Every environment variable the settings read."""
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice for choice in alias.choices if isinstance(choice, str)}
        else:
            names.add(alias if isinstance(alias, str) else name.upper())
    return names


def test_the_template_passes_cfn_lint(template: dict[str, Any]) -> None:
    assert lint_findings(template) == []


def test_a_fargate_task_of_a_quarter_vcpu_with_memory_fargate_allows(
    template: dict[str, Any], stack: dict[str, Any]
) -> None:
    task = _one(stack, "AWS::ECS::TaskDefinition")
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["NetworkMode"] == "awsvpc"
    assert task["Cpu"] == "256"
    memory = template["Parameters"]["TaskMemory"]
    assert memory["Default"] == "512"
    assert set(memory["AllowedValues"]) <= FARGATE_MEMORY_FOR_256_CPU
    assert task["Memory"] == "512"
    assert _container(stack)["Image"] == GIVEN["ImageUri"]
    assert _one(stack, "AWS::ECS::Service")["LaunchType"] == "FARGATE"


def test_the_tasks_run_on_the_given_roles_and_the_stack_creates_none(template: dict[str, Any]) -> None:
    """The lab gives LabRole as both roles; the execution role defaults to the task role."""
    assert "Default" not in template["Parameters"]["TaskRoleArn"]
    assert template["Parameters"]["ExecutionRoleArn"]["Default"] == ""
    for given in ({}, {"ExecutionRoleArn": "arn:aws:iam::123456789012:role/Pull"}):
        stack = created(template, {**GIVEN, **given})
        assert of_type(stack, "AWS::IAM::") == {}
        task = _one(stack, "AWS::ECS::TaskDefinition")
        assert task["TaskRoleArn"] == LAB_ROLE
        assert task["ExecutionRoleArn"] == given.get("ExecutionRoleArn", LAB_ROLE)
    # Application Auto Scaling uses its service-linked role, which no template creates.
    assert "RoleARN" not in _one(created(template, GIVEN), "AWS::ApplicationAutoScaling::ScalableTarget")


def test_the_load_balancer_reaches_the_port_the_image_listens_on(stack: dict[str, Any]) -> None:
    port = _dockerfile_port()
    container = _container(stack)
    assert [m["ContainerPort"] for m in container["PortMappings"]] == [port]
    assert "PORT" not in {v["Name"] for v in container["Environment"]}, "the image's own PORT is used"
    target = _one(stack, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert (target["Port"], target["Protocol"], target["TargetType"]) == (port, "HTTP", "ip")
    (attached,) = _one(stack, "AWS::ECS::Service")["LoadBalancers"]
    assert attached == {
        "ContainerName": container["Name"],
        "ContainerPort": port,
        "TargetGroupArn": {"Ref": "TargetGroup"},
    }
    ingress = _one(stack, "AWS::EC2::SecurityGroupIngress")
    assert (ingress["FromPort"], ingress["ToPort"]) == (port, port)
    assert ingress["GroupId"] == GIVEN["ServiceSecurityGroupId"]
    assert ingress["SourceSecurityGroupId"] == {"Ref": "LoadBalancerSecurityGroup"}
    group = stack["Resources"]["LoadBalancerSecurityGroup"]["Properties"]
    assert [(r["FromPort"], r["CidrIp"]) for r in group["SecurityGroupEgress"]] == [(port, VPC_CIDR)]


def test_an_internet_facing_load_balancer_on_port_80_in_the_given_network(stack: dict[str, Any]) -> None:
    balancer = _one(stack, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert (balancer["Type"], balancer["Scheme"]) == ("application", "internet-facing")
    assert balancer["Subnets"] == GIVEN["Subnets"]
    listener = _one(stack, "AWS::ElasticLoadBalancingV2::Listener")
    assert (listener["Port"], listener["Protocol"]) == (80, "HTTP")
    assert listener["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}]
    network = _one(stack, "AWS::ECS::Service")["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["Subnets"] == GIVEN["Subnets"]
    assert network["SecurityGroups"] == [GIVEN["ServiceSecurityGroupId"]]
    url = stack["Outputs"]["LoadBalancerUrl"]["Value"]
    assert url == {"Fn::Sub": "http://${LoadBalancer.DNSName}"}


async def test_the_health_check_asks_a_path_the_service_answers(
    stack: dict[str, Any], app_api: httpx.AsyncClient
) -> None:
    target = _one(stack, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert target["HealthCheckPath"] == "/healthz"
    answer = await app_api.get(target["HealthCheckPath"])
    assert answer.status_code == int(target["Matcher"]["HttpCode"])


def test_a_stopping_task_is_drained_before_it_is_killed(stack: dict[str, Any]) -> None:
    """ECS drains the target (no new requests; up to the deregistration delay), then sends SIGTERM, on which
    the server finishes what is in flight; StopTimeout later, SIGKILL."""
    target = _one(stack, "AWS::ElasticLoadBalancingV2::TargetGroup")
    attributes = {a["Key"]: a["Value"] for a in target["TargetGroupAttributes"]}
    delay = int(attributes["deregistration_delay.timeout_seconds"])
    stop_timeout = _container(stack)["StopTimeout"]
    assert 0 < delay < stop_timeout <= FARGATE_MOST_STOP_TIMEOUT


def test_logs_go_to_a_log_group_with_a_retention(stack: dict[str, Any]) -> None:
    logging = _container(stack)["LogConfiguration"]
    assert logging["LogDriver"] == "awslogs"
    assert logging["Options"]["awslogs-group"] == {"Ref": "Logs"}
    assert logging["Options"]["awslogs-region"] == {"Ref": "AWS::Region"}
    assert stack["Resources"]["Logs"]["Properties"]["RetentionInDays"] == 30


def test_one_to_three_tasks_kept_at_70_percent_cpu_by_parameters(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert (parameters["MinTasks"]["Default"], parameters["MaxTasks"]["Default"]) == (1, 3)
    assert parameters["TargetCpuPercent"]["Default"] == 70
    stack = created(template, {**GIVEN, "MinTasks": 2, "MaxTasks": 5, "TargetCpuPercent": 60})
    target = _one(stack, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["ServiceNamespace"], target["ScalableDimension"]) == ("ecs", "ecs:service:DesiredCount")
    assert target["ResourceId"] == {"Fn::Sub": "service/${Cluster}/${Service.Name}"}
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 5)
    policy = _one(stack, "AWS::ApplicationAutoScaling::ScalingPolicy")
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["ScalingTargetId"] == {"Ref": "ScalableTarget"}
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    metric = tracking["PredefinedMetricSpecification"]["PredefinedMetricType"]
    assert metric == "ECSServiceAverageCPUUtilization"
    assert tracking["TargetValue"] == 60
    assert (tracking["ScaleOutCooldown"], tracking["ScaleInCooldown"]) == (300, 300)
    assert "DesiredCount" not in _one(stack, "AWS::ECS::Service"), "scaling owns it"


def test_the_container_is_configured_for_dynamodb_cognito_cors_and_the_load_balancer(
    template: dict[str, Any], stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert template["Parameters"]["CursorSecret"]["NoEcho"] is True
    environment = {v["Name"]: v["Value"] for v in _container(stack)["Environment"]}
    assert set(environment) <= _variables(), "every variable is one the service reads"
    environment["AWS_REGION"] = "us-east-1"  # the stack's region, {"Ref": "AWS::Region"}
    for name in _variables():
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.mode == "aws"
    assert settings.aws_region == "us-east-1"
    assert (settings.table_name, settings.idempotency_table_name) == (
        "VehicleServices",
        "VehicleServicesIdempotency",
    )
    assert settings.auth == "jwt"
    assert settings.cognito_user_pool_id == GIVEN["CognitoUserPoolId"]
    assert settings.cognito_client_id == GIVEN["CognitoClientId"]
    assert settings.technician_origins == [GIVEN["AllowedOrigin"]]
    assert settings.cursor_secret.get_secret_value() == GIVEN["CursorSecret"]
    # The load balancer's addresses are the VPC's: its X-Forwarded-For is believed, and nobody else's.
    assert settings.forwarded_allow_ips == VPC_CIDR
    # An ALB keeps idle connections to its targets for 60 s: the service keeps them longer, so the balancer
    # never sends a request on one the service is closing.
    assert settings.keep_alive_seconds > ALB_IDLE_TIMEOUT_SECONDS

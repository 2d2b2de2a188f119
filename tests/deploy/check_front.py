"""The front door holds under a flood: the template's REST API, its stage throttling, the AWS
WAF web ACL in front of the stage and the alarm on it are built the way docs/deploying.md
("The front door under a flood") says, and still are after SAM's transform.

The decision it checks: a flood from one address must not use up the stage's throttling
limits, which every caller shares, Wavefront's deliveries included. A rate-based rule keyed on
the source address answers that address 429 before API Gateway counts the request, so the
stage's limits only bound what a flood spread over many addresses can reach the function with.

The template is transformed with the AWS SAM translator (the library `sam deploy` and
CloudFormation's transform use), as `sam package` would leave it (CodeUri an S3 URI), so what
is checked is what CloudFormation creates: the stage the web ACL is associated with is the one
SAM generates for the API, and there is no other (no second URL without the web ACL).

Usage: check_front.py TEMPLATE
"""

import copy
import json
import logging
import os
import sys

from cfnlint.decode import decode
from samtranslator.translator.transform import transform

# What the web ACL's one rule and the alarm on it are called; the alarm's dimensions name them.
RULE = "one-address-over-its-limit"
# A flooding address may take at most this share of the stage's steady rate at the defaults.
ADDRESS_SHARE_OF_STAGE = 0.2


class NoManagedPolicies:
    """The translator resolves managed policy names through IAM; the template names none."""

    def load(self):
        return {}


def transformed(template):
    """The template after SAM's transform, as CloudFormation would create it."""
    packaged = copy.deepcopy(template)
    packaged["Resources"]["ResponderFunction"]["Properties"]["CodeUri"] = "s3://bucket/key"
    # The translator asks for a region only to fill in ARNs; nothing is called.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # It logs the feature toggles it has no configuration for, at info level.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)
    return transform(packaged, {}, NoManagedPolicies())


def check(template, created):
    problems = []

    def expect(where, actual, expected):
        if actual != expected:
            problems.append(f"{where} is {actual!r}, expected {expected!r}")

    parameters = template["Parameters"]
    resources = template["Resources"]
    api = resources["WebhookApi"]
    expect("WebhookApi Type", api["Type"], "AWS::Serverless::Api")
    expect("WebhookApi EndpointConfiguration", api["Properties"].get("EndpointConfiguration"), {"Type": "REGIONAL"})
    expect(
        "WebhookApi MethodSettings",
        api["Properties"].get("MethodSettings"),
        [
            {
                "ResourcePath": "/*",
                "HttpMethod": "*",
                "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
                "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
            }
        ],
    )
    for name in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
        if parameters[name].get("Type") != "Number" or parameters[name].get("MinValue", 0) < 1:
            problems.append(f"parameter {name}: a Number with MinValue 1 (0 refuses everything)")

    # The web ACL: everything allowed but an address over its limit, answered 429.
    acl = resources["WebhookFirewall"]["Properties"]
    expect("WebhookFirewall Scope", acl.get("Scope"), "REGIONAL")
    expect("WebhookFirewall DefaultAction", acl.get("DefaultAction"), {"Allow": {}})
    rules = acl.get("Rules", [])
    expect("WebhookFirewall rule names", [r.get("Name") for r in rules], [RULE])
    for rule in rules:
        expect(f"rule {RULE} Action", rule.get("Action"), {"Block": {"CustomResponse": {"ResponseCode": 429}}})
        expect(
            f"rule {RULE} Statement",
            rule.get("Statement"),
            {
                "RateBasedStatement": {
                    "AggregateKeyType": "IP",
                    "EvaluationWindowSec": 60,
                    "Limit": {"Ref": "PerAddressLimit"},
                }
            },
        )
        expect(f"rule {RULE} metric", rule.get("VisibilityConfig", {}).get("MetricName"), RULE)
    # AWS WAF's lowest rate limit is 10 requests per window.
    if parameters["PerAddressLimit"].get("MinValue", 0) < 10:
        problems.append("parameter PerAddressLimit: MinValue at least 10, AWS WAF's lowest limit")
    per_address = parameters["PerAddressLimit"]["Default"] / 60
    stage = parameters["ThrottlingRateLimit"]["Default"]
    if per_address > ADDRESS_SHARE_OF_STAGE * stage:
        problems.append(
            f"defaults: one address may send {per_address:.1f} requests a second, more than "
            f"{ADDRESS_SHARE_OF_STAGE:.0%} of the stage's {stage}: one address could crowd out the rest"
        )

    # The alarm watches that rule of that web ACL.
    alarm = resources["FloodAlarm"]["Properties"]
    dimensions = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
    expect("FloodAlarm Namespace", alarm.get("Namespace"), "AWS/WAFV2")
    expect("FloodAlarm MetricName", alarm.get("MetricName"), "BlockedRequests")
    expect("FloodAlarm WebACL", dimensions.get("WebACL"), acl.get("VisibilityConfig", {}).get("MetricName"))
    expect("FloodAlarm Rule", dimensions.get("Rule"), RULE)
    expect("FloodAlarm Region", dimensions.get("Region"), {"Ref": "AWS::Region"})
    expect("FloodAlarm AlarmActions", alarm.get("AlarmActions"), resources["ActionFailedAlarm"]["Properties"]["AlarmActions"])

    # After the transform: one stage, the one the web ACL is associated with and the URL names.
    generated = created["Resources"]
    # A deployment with a StageName creates a stage of its own (SAM's "Stage", without
    # OpenApiVersion): a second URL to the function with no web ACL in front of it.
    for name, resource in generated.items():
        if resource["Type"] == "AWS::ApiGateway::Deployment" and "StageName" in resource["Properties"]:
            stage_name = resource["Properties"]["StageName"]
            problems.append(f"{name} creates a stage {stage_name!r} the web ACL does not cover")
    stages = [k for k, v in generated.items() if v["Type"] == "AWS::ApiGateway::Stage"]
    if len(stages) != 1:
        problems.append(f"the transform creates stages {stages}, expected exactly one")
        return problems
    association = generated["WebhookFirewallAssociation"]["Properties"]
    expect(
        "WebhookFirewallAssociation ResourceArn",
        association.get("ResourceArn"),
        {"Fn::Sub": f"arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}::/restapis/${{WebhookApi}}/stages/${{{stages[0]}}}"},
    )
    expect("WebhookFirewallAssociation WebACLArn", association.get("WebACLArn"), {"Fn::GetAtt": ["WebhookFirewall", "Arn"]})
    expect(
        "Outputs.WebhookUrl",
        created["Outputs"]["WebhookUrl"]["Value"],
        {"Fn::Sub": f"https://${{WebhookApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/${{{stages[0]}}}/webhook"},
    )
    return problems


def main():
    path = sys.argv[1]
    template, errors = decode(path)
    if errors:
        raise SystemExit(f"{path}: cannot be read: {errors}")
    template = json.loads(json.dumps(template))
    problems = check(template, transformed(template))
    if problems:
        raise SystemExit("\n".join(problems))
    print(
        "front door: REST API with stage throttling behind an AWS WAF web ACL that answers an "
        "address over its limit 429, associated with the one stage SAM creates, and alarmed"
    )


if __name__ == "__main__":
    main()

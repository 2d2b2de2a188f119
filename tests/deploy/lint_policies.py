"""Runs parliament (an IAM policy linter) on policies/*.json, with the placeholders filled in
as a deployment would fill them (parliament checks the shape of ARNs, so ${region} must become
a region). Fails on any finding above LOW severity, and on any action granted on "*" that the
Service Authorization Reference (parliament's copy of it) says accepts a resource ARN: such an
action must be scoped to the resources the config uses.

Usage: lint_policies.py POLICY_DIR
"""

import json
import pathlib
import re
import sys

from parliament import analyze_policy_string, enhance_finding, iam_definition

SAMPLE = {
    "partition": "aws",
    "region": "us-east-1",
    "account_id": "123456789012",
    "codedeploy_application": "checkout",
    "codedeploy_deployment_group": "checkout-prod",
    "function_name": "checkout",
    "ledger_table": "wavefront-responder-LedgerTable-1ABCDEFGHIJK",
    "log_group": "/aws/lambda/wavefront-responder-responder",
    "token_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:WebhookTokenSecret-AbCdEf",
    "wavefront_token_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:wavefront-api-AbCdEf",
    "notify_topic_arn": "arn:aws:sns:us-east-1:123456789012:oncall-chat",
    "ecs_cluster": "prod",
    "ecs_service": "checkout",
    "appconfig_application_id": "abc1234",
    "appconfig_environment_id": "env5678",
}
ALLOWED = {"LOW", "INFO"}


def fill(text, path):
    def value(match):
        name = match.group(1)
        if name not in SAMPLE:
            raise SystemExit(f"{path}: unknown placeholder ${{{name}}}; add it to {__file__}")
        return SAMPLE[name]

    return re.sub(r"\$\{([^}]+)\}", value, text)


def resource_types(action):
    """The resource types `service:Action` accepts, from the Service Authorization Reference
    as parliament ships it; empty when it accepts only "*"."""
    prefix, name = action.split(":", 1)
    for service in iam_definition:
        if service["prefix"] == prefix:
            for privilege in service["privileges"]:
                if privilege["privilege"].lower() == name.lower():
                    return [r["resource_type"] for r in privilege["resource_types"] if r["resource_type"]]
    raise SystemExit(f"{action} is not in the Service Authorization Reference")


def unscoped(path, policy):
    """Actions granted on "*" although they accept a resource ARN."""
    found = []
    for statement in policy["Statement"]:
        resources = statement["Resource"]
        if resources != "*" and resources != ["*"]:
            continue
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            types = resource_types(action)
            if types:
                found.append(f"{path}: {action} is granted on \"*\" but accepts {types}")
    return found


def main():
    policy_dir = pathlib.Path(sys.argv[1])
    failed = False
    paths = sorted(policy_dir.glob("*.json"))
    for path in paths:
        for problem in unscoped(path, json.loads(path.read_text())):
            print(problem)
            failed = True
        policy = analyze_policy_string(fill(path.read_text(), path), filepath=str(path))
        for finding in policy.findings:
            severity = enhance_finding(finding).severity.upper()
            print(f"{path}: {severity} {finding.issue} {finding.detail}")
            if severity not in ALLOWED:
                failed = True
    if failed:
        raise SystemExit("parliament found problems above LOW severity, or an action on * that accepts an ARN")
    print(f"parliament: {len(paths)} policies, nothing above LOW severity")


if __name__ == "__main__":
    main()

"""Runs parliament (an IAM policy linter) on policies/*.json, with the placeholders filled in
as a deployment would fill them (parliament checks the shape of ARNs, so ${region} must become
a region). Fails on any finding above LOW severity.

Usage: lint_policies.py POLICY_DIR
"""

import pathlib
import re
import sys

from parliament import analyze_policy_string, enhance_finding

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
}
ALLOWED = {"LOW", "INFO"}


def fill(text, path):
    def value(match):
        name = match.group(1)
        if name not in SAMPLE:
            raise SystemExit(f"{path}: unknown placeholder ${{{name}}}; add it to {__file__}")
        return SAMPLE[name]

    return re.sub(r"\$\{([^}]+)\}", value, text)


def main():
    policy_dir = pathlib.Path(sys.argv[1])
    failed = False
    paths = sorted(policy_dir.glob("*.json"))
    for path in paths:
        policy = analyze_policy_string(fill(path.read_text(), path), filepath=str(path))
        for finding in policy.findings:
            severity = enhance_finding(finding).severity.upper()
            print(f"{path}: {severity} {finding.issue} {finding.detail}")
            if severity not in ALLOWED:
                failed = True
    if failed:
        raise SystemExit("parliament found problems above LOW severity")
    print(f"parliament: {len(paths)} policies, nothing above LOW severity")


if __name__ == "__main__":
    main()

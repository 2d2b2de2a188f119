"""The deployment template grants exactly the statements in policies/*.json.

policies/ holds the execution role's permissions as standalone IAM policy documents, with
${placeholder} names Terraform's templatefile() and CloudFormation's Fn::Sub both fill in.
template.yaml inlines the same statements, each ARN an Fn::Sub over the same placeholders. This
check fails when one changes without the other, or when a placeholder is left unfilled.

Usage: check_template.py TEMPLATE POLICY_DIR
"""

import json
import pathlib
import re
import sys

from cfnlint.decode import decode

PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")

# What each placeholder must be bound to in the template, so a swap (application for group,
# say) fails here rather than in production.
BINDINGS = {
    "partition": {"Ref": "AWS::Partition"},
    "region": {"Ref": "AWS::Region"},
    "account_id": {"Ref": "AWS::AccountId"},
    "codedeploy_application": {"Ref": "CodeDeployApplication"},
    "codedeploy_deployment_group": {"Ref": "CodeDeployDeploymentGroup"},
    "function_name": {"Ref": "LambdaFunctionName"},
    "ledger_table": {"Ref": "LedgerTable"},
    "token_secret_arn": {"Ref": "WebhookTokenSecret"},
    "log_group": {"Fn::Sub": "/aws/lambda/${FunctionName}"},
}
# A statement may only say these: no Condition, NotAction or NotResource that the comparison
# would not see.
STATEMENT_KEYS = {"Sid", "Effect", "Action", "Resource"}


def as_list(value):
    return value if isinstance(value, list) else [value]


def resource_text(resource, where):
    """A template Resource entry as the policy file writes it, checking its Fn::Sub map."""
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and list(resource) == ["Fn::Sub"]:
        sub = resource["Fn::Sub"]
        if isinstance(sub, list) and len(sub) == 2 and isinstance(sub[0], str):
            text, variables = sub
            missing = set(PLACEHOLDER.findall(text)) - set(variables)
            if missing:
                raise SystemExit(f"{where}: placeholders without a value: {sorted(missing)}")
            for name, value in variables.items():
                if BINDINGS.get(name) != value:
                    raise SystemExit(
                        f"{where}: ${{{name}}} is bound to {value!r}, expected {BINDINGS.get(name)!r}"
                    )
            return text
    raise SystemExit(f"{where}: write the Resource as a string or !Sub [text, {{...}}], not {resource!r}")


def normalize(statement, where):
    extra = set(statement) - STATEMENT_KEYS
    if extra:
        raise SystemExit(f"{where}: statement keys the check cannot compare: {sorted(extra)}")
    return {
        "Sid": statement.get("Sid"),
        "Effect": statement["Effect"],
        "Action": sorted(as_list(statement["Action"])),
        "Resource": sorted(resource_text(r, where) for r in as_list(statement["Resource"])),
    }


def main():
    template_path, policy_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    template, errors = decode(str(template_path))
    if errors:
        raise SystemExit(f"{template_path}: cannot be read: {errors}")
    role = template["Resources"]["ResponderRole"]["Properties"]
    for key in ("ManagedPolicyArns", "PermissionsBoundary"):
        if key in role:
            raise SystemExit(f"ResponderRole has {key}: it may grant only the inline policies")
    inline = {p["PolicyName"]: p["PolicyDocument"] for p in role["Policies"]}
    files = {p.stem: json.loads(p.read_text()) for p in sorted(policy_dir.glob("*.json"))}

    problems = []
    if set(inline) != set(files):
        problems.append(
            f"policy names differ: template has {sorted(inline)}, {policy_dir}/ has {sorted(files)}"
        )
    for name in sorted(set(inline) & set(files)):
        ours = [normalize(s, f"template {name}") for s in inline[name]["Statement"]]
        theirs = [normalize(s, f"{policy_dir}/{name}.json") for s in files[name]["Statement"]]
        if inline[name].get("Version") != files[name].get("Version"):
            problems.append(f"{name}: Version differs")
        if ours != theirs:
            problems.append(
                f"{name}: statements differ\n  template:  {json.dumps(ours)}\n"
                f"  {policy_dir}/{name}.json: {json.dumps(theirs)}"
            )
    if problems:
        raise SystemExit("\n".join(problems))
    print(f"{len(files)} policies: template.yaml grants exactly what {policy_dir}/ declares")


if __name__ == "__main__":
    main()

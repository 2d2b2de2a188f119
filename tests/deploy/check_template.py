"""The deployment template grants exactly the statements in policies/*.json, and builds and
wires the function the way the code expects.

policies/ holds the execution role's permissions as standalone IAM policy documents, with
${placeholder} names Terraform's templatefile() and CloudFormation's Fn::Sub both fill in.
template.yaml inlines the same statements, each ARN an Fn::Sub over the same placeholders. This
check fails when one changes without the other, or when a placeholder is left unfilled.

It also checks the function's build and runtime settings (and samconfig.toml's opt-in to SAM's
beta rust-cargolambda build), its one route (tests/deploy/check_front.py checks the API, its
throttling and the web ACL in front of it), its log format, the retention policies of the
stateful resources, and that the environment variables it gets are exactly the ones the rule
files (rules/*.toml) and the code read, besides the ones set only when a parameter is (the
Wavefront API token's secret, for the [wavefront] table the shipped rule file shows commented),
each granted and passed only under its condition.

Usage: check_template.py TEMPLATE POLICY_DIR
"""

import json
import pathlib
import re
import sys
import tomllib

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
    "wavefront_token_secret_arn": {"Ref": "WavefrontApiTokenSecretArn"},
    "notify_topic_arn": {"Ref": "NotifyTopicArn"},
    "ecs_cluster": {"Ref": "EcsClusterName"},
    "ecs_service": {"Ref": "EcsServiceName"},
    "appconfig_application_id": {"Ref": "AppConfigApplicationId"},
    "appconfig_environment_id": {"Ref": "AppConfigEnvironmentId"},
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


# The variables the process itself reads (not through a rule file): the file that reads each,
# and what the template must set it to.
PROCESS_VARIABLES = {
    "RESPONDER_CONFIG": ("src/config/locate.rs", {"Ref": "RulesFile"}),
    "RESPONDER_DRY_RUN": ("src/commands/serve.rs", {"Ref": "DryRun"}),
}
# What the variables a rule file names (`env:NAME`, `secretsmanager:env:NAME`) must be set to:
# the resources the template creates for them.
RULE_VARIABLES = {
    "WEBHOOK_TOKEN_SECRET_ARN": {"Ref": "WebhookTokenSecret"},
    "RESPONDER_LEDGER_TABLE": {"Ref": "LedgerTable"},
}
# Variables set only when a parameter is, for a config table the shipped rule file shows
# commented out: the template sets each to its parameter under the condition (and to nothing
# otherwise), and the rule file must name it, commented or not.
OPTIONAL_VARIABLES = {
    "WAVEFRONT_API_TOKEN_SECRET_ARN": {
        "Fn::If": [
            "HasWavefrontApiToken",
            {"Ref": "WavefrontApiTokenSecretArn"},
            {"Ref": "AWS::NoValue"},
        ]
    },
    "NOTIFY_TOPIC_ARN": {
        "Fn::If": ["HasNotifyTopic", {"Ref": "NotifyTopicArn"}, {"Ref": "AWS::NoValue"}]
    },
}
# How the stateful resources outlive a replacement or the stack (the template says why).
RETENTION = {
    "LedgerTable": ("Retain", "Retain"),
    "WebhookTokenSecret": ("Retain", "Delete"),
    "ResponderLogGroup": ("Delete", "Delete"),
}
VARIABLE_REFERENCE = re.compile(r"^(?:secretsmanager:)?env:([A-Za-z_][A-Za-z0-9_]*)$")


def strings_in(value):
    """Every string in a parsed TOML document."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def check_function(template, root):
    """The function's build, runtime, route, logging and environment; returns problems."""
    problems = []

    def expect(where, actual, expected):
        if actual != expected:
            problems.append(f"{where} is {actual!r}, expected {expected!r}")

    resources = template["Resources"]
    function = resources["ResponderFunction"]
    properties = function["Properties"]
    # SAM builds the crate with cargo-lambda; the binary is the package's one binary.
    metadata = function.get("Metadata", {})
    build_method = metadata.get("BuildMethod")
    expect("ResponderFunction Metadata.BuildMethod", build_method, "rust-cargolambda")
    package = tomllib.loads((root / "Cargo.toml").read_text())["package"]["name"]
    binary = metadata.get("BuildProperties", {}).get("Binary")
    expect("ResponderFunction Metadata.BuildProperties.Binary", binary, package)
    # An OS-only runtime runs the executable named bootstrap; cargo-lambda builds for arm64
    # only when the architecture says so (scripts/package and check_package.py build arm64).
    expect("ResponderFunction Runtime", properties.get("Runtime"), "provided.al2023")
    expect("ResponderFunction Architectures", properties.get("Architectures"), ["arm64"])
    expect("ResponderFunction Handler", properties.get("Handler"), "bootstrap")
    # Text, not JSON: the metric filters are space-delimited patterns, which match the METRIC
    # lines only as written; Lambda's JSON log format wraps every line in a JSON object and no
    # METRIC line would become a metric. No LogGroup either: the logs must go to
    # /aws/lambda/<function name>, which ResponderLogGroup declares, the filters watch and the
    # logs policy is scoped to.
    logging = properties.get("LoggingConfig")
    expect("ResponderFunction LoggingConfig", logging, {"LogFormat": "Text"})

    # One route, POST /webhook, on the REST API whose stage throttles every method.
    events = properties.get("Events", {})
    if len(events) != 1:
        problems.append(f"ResponderFunction has events {sorted(events)}, expected one route")
    for name, event in events.items():
        expect(f"ResponderFunction event {name} Type", event.get("Type"), "Api")
        route = event.get("Properties", {})
        expect(f"ResponderFunction event {name} RestApiId", route.get("RestApiId"), {"Ref": "WebhookApi"})
        expect(f"ResponderFunction event {name} Method", route.get("Method"), "POST")
        expect(f"ResponderFunction event {name} Path", route.get("Path"), "/webhook")
    # The environment: what the rule files name, and what the process reads itself.
    variables = properties.get("Environment", {}).get("Variables", {})
    referenced = {}
    for rules in sorted((root / "rules").glob("*.toml")):
        for text in strings_in(tomllib.loads(rules.read_text())):
            match = VARIABLE_REFERENCE.match(text)
            if match:
                referenced.setdefault(match.group(1), []).append(rules.name)
    for name, (reader, _) in PROCESS_VARIABLES.items():
        if f'"{name}"' not in (root / reader).read_text():
            problems.append(f"{reader} no longer reads {name}: update PROCESS_VARIABLES")
    shipped = (root / "rules" / "responder.toml").read_text()
    for name, binding in OPTIONAL_VARIABLES.items():
        expect(f"ResponderFunction environment {name}", variables.get(name), binding)
        if f"env:{name}" not in shipped:
            problems.append(f"rules/responder.toml does not show env:{name}")
    variables = {n: v for n, v in variables.items() if n not in OPTIONAL_VARIABLES}
    expected = set(referenced) | set(PROCESS_VARIABLES)
    for name in sorted(expected - set(variables)):
        where = ", ".join(referenced.get(name, [PROCESS_VARIABLES.get(name, ("?",))[0]]))
        problems.append(f"ResponderFunction does not set {name}, which {where} reads")
    for name in sorted(set(variables) - expected):
        problems.append(f"ResponderFunction sets {name}, which no rule file nor the code reads")
    bindings = {**RULE_VARIABLES, **{n: b for n, (_, b) in PROCESS_VARIABLES.items()}}
    for name in sorted(set(variables) & expected):
        if name not in bindings:
            problems.append(f"{name}: add what it must be set to to RULE_VARIABLES")
        else:
            expect(f"ResponderFunction environment {name}", variables[name], bindings[name])

    # `sam build` runs the rust-cargolambda build method only with SAM's beta features on;
    # otherwise it stops at a prompt.
    samconfig = tomllib.loads((root / "samconfig.toml").read_text())
    for command in ("build", "sync"):
        opt_in = samconfig.get("default", {}).get(command, {}).get("parameters", {})
        where = f"samconfig.toml [default.{command}.parameters] beta_features"
        expect(where, opt_in.get("beta_features"), True)

    for name, (on_replace, on_delete) in RETENTION.items():
        resource = resources[name]
        expect(f"{name} UpdateReplacePolicy", resource.get("UpdateReplacePolicy"), on_replace)
        expect(f"{name} DeletionPolicy", resource.get("DeletionPolicy"), on_delete)
    return problems


# Policies granted only when a parameter asks for them: the policy, its condition, the
# parameter (with its default, which must be the one that grants nothing), and the condition's
# expression: the parameter equal to "true", or (for an ARN or an id) not empty.
CONDITIONAL = {
    "codedeploy-redeploy": ("RedeployAllowed", "AllowRedeploy", "false", "true"),
    "wavefront-token-read": ("HasWavefrontApiToken", "WavefrontApiTokenSecretArn", "", "set"),
    "notify-publish": ("HasNotifyTopic", "NotifyTopicArn", "", "set"),
    "ecs-rollback": ("HasEcsService", "EcsServiceName", "", "set"),
    "appconfig-rollback": ("HasAppConfigApplication", "AppConfigApplicationId", "", "set"),
}


def inline_policies(policies):
    """The role's inline policies by name, and the condition of each one granted under
    `Fn::If [Condition, policy, AWS::NoValue]`."""
    inline, conditional = {}, {}
    for entry in policies:
        if "Fn::If" in entry:
            condition, policy, otherwise = entry["Fn::If"]
            if otherwise != {"Ref": "AWS::NoValue"}:
                raise SystemExit(f"{policy['PolicyName']}: Fn::If must grant it or nothing")
            conditional[policy["PolicyName"]] = condition
            entry = policy
        inline[entry["PolicyName"]] = entry["PolicyDocument"]
    return inline, conditional


def check_conditional(template, conditional):
    """Exactly the CONDITIONAL policies are conditional, each on a condition that is its
    parameter equal to "true", a parameter whose default grants nothing."""
    problems = []
    expected = {name: condition for name, (condition, *_) in CONDITIONAL.items()}
    if conditional != expected:
        problems.append(f"conditional policies: template has {conditional}, expected {expected}")
    for name, (condition, parameter, default, when) in CONDITIONAL.items():
        actual = template.get("Conditions", {}).get(condition)
        wanted = {"Fn::Equals": [{"Ref": parameter}, "true"]}
        if when == "set":
            wanted = {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}
        if actual != wanted:
            problems.append(f"{name}: condition {condition} is {actual}, expected {wanted}")
        declared = template.get("Parameters", {}).get(parameter, {})
        if declared.get("Default") != default:
            problems.append(f"{name}: parameter {parameter} must default to {default!r}")
    return problems


def main():
    template_path, policy_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    template, errors = decode(str(template_path))
    if errors:
        raise SystemExit(f"{template_path}: cannot be read: {errors}")
    root = pathlib.Path(__file__).resolve().parents[2]
    role = template["Resources"]["ResponderRole"]["Properties"]
    for key in ("ManagedPolicyArns", "PermissionsBoundary"):
        if key in role:
            raise SystemExit(f"ResponderRole has {key}: it may grant only the inline policies")
    inline, conditional = inline_policies(role["Policies"])
    files = {p.stem: json.loads(p.read_text()) for p in sorted(policy_dir.glob("*.json"))}

    problems = check_function(template, root)
    problems += check_conditional(template, conditional)
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
    print(
        "ResponderFunction: rust-cargolambda, provided.al2023 on arm64, Text logs, one route, POST /webhook, "
        "the environment the rule files and the code read"
    )


if __name__ == "__main__":
    main()

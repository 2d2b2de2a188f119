"""The execution role grants what the code calls, and nothing else.

tests/deploy/permissions.json maps every AWS API operation the code calls to the IAM actions it
needs. This check finds the operations in the source itself: it lists the fluent methods of the
aws-sdk-* crates the package depends on (`Client::create_deployment()` and so on, read from the
crates' own source, so every operation of the SDK is known) and looks for calls of them in src/.
It fails when
- src/ calls an operation the table does not list (a new SDK call without a policy),
- the table lists an operation src/ no longer calls,
- policies/*.json does not grant an action a function operation (or the Lambda platform) needs,
- policies/*.json grants an action nothing needs, or one only operators need,
- an action is granted on a resource of another type than the table says ('*' included), or,
  for one the table scopes to several types (the Service Authorization Reference requires them
  all), not on a resource of each (AppConfig's StopDeployment needs its application,
  environment and deployment).

Usage: check_permissions.py TABLE POLICY_DIR SRC_DIR
"""

import json
import pathlib
import re
import subprocess
import sys

# `pub fn create_deployment(&self) -> crate::operation::create_deployment::builders::
# CreateDeploymentFluentBuilder`, in each SDK crate's src/client/*.rs.
FLUENT_METHOD = re.compile(
    r"pub fn (\w+)\(\s*&self,?\s*\)\s*->\s*crate::operation::\w+::builders::(\w+)FluentBuilder"
)
# A call of a method without arguments, across line breaks: `client\n    .list_deployments()`.
ZERO_ARGUMENT_CALL = re.compile(r"\.\s*([a-z][a-z0-9_]*)\s*\(\s*\)")
LINE_COMMENT = re.compile(r"//.*")
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
# Resources written as a bare placeholder, by what they name.
PLACEHOLDER_TYPES = {
    "${token_secret_arn}": "secretsmanager:secret",
    "${wavefront_token_secret_arn}": "secretsmanager:secret",
    "${notify_topic_arn}": "sns:topic",
}


def sdk_operations():
    """{method name: {"service:Operation", ...}} for the aws-sdk-* crates the package uses."""
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    root = metadata["resolve"]["root"]
    packages = {p["id"]: p for p in metadata["packages"]}
    node = next(n for n in metadata["resolve"]["nodes"] if n["id"] == root)
    methods = {}
    crates = []
    for dep in node["deps"]:
        package = packages[dep["pkg"]]
        normal = any(kind["kind"] is None for kind in dep["dep_kinds"])
        if not package["name"].startswith("aws-sdk-") or not normal:
            continue
        service = package["name"].removeprefix("aws-sdk-")
        client_dir = pathlib.Path(package["manifest_path"]).parent / "src" / "client"
        found = 0
        for path in sorted(client_dir.glob("*.rs")):
            for method, operation in FLUENT_METHOD.findall(path.read_text()):
                methods.setdefault(method, set()).add(f"{service}:{operation}")
                found += 1
        if found == 0:
            raise SystemExit(f"{client_dir}: no fluent methods found; has the SDK changed?")
        crates.append(f"{package['name']} ({found} operations)")
    if not crates:
        raise SystemExit("cargo metadata lists no aws-sdk-* dependency")
    return methods, crates


def calls_in(src_dir, methods):
    """{"service:Operation" candidates (a frozenset): [where, ...]} for SDK calls in src_dir."""
    calls = {}
    for path in sorted(src_dir.rglob("*.rs")):
        # Comments go, keeping their line breaks so line numbers stay right.
        text = BLOCK_COMMENT.sub(lambda m: "\n" * m.group().count("\n"), path.read_text())
        code = LINE_COMMENT.sub("", text)
        for match in ZERO_ARGUMENT_CALL.finditer(code):
            candidates = methods.get(match.group(1))
            if candidates:
                line = code.count("\n", 0, match.start()) + 1
                calls.setdefault(frozenset(candidates), []).append(f"{path}:{line}")
    return calls


def resource_type(resource):
    if resource == "*":
        return "*"
    if resource in PLACEHOLDER_TYPES:
        return PLACEHOLDER_TYPES[resource]
    parts = resource.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise SystemExit(f"cannot tell the resource type of {resource!r}")
    if parts[2] == "appconfig":
        # AppConfig nests its resources: application/ID/environment/ID/deployment/N is a
        # deployment; the type is the last name of a name/id pair.
        segments = parts[5].split("/")
        return f"appconfig:{segments[-2] if len(segments) % 2 == 0 else segments[0]}"
    return f"{parts[2]}:{re.split(r'[/:]', parts[5])[0]}"


def as_list(value):
    return value if isinstance(value, list) else [value]


def scopes(scope):
    """The resource types a table entry scopes an action to: one, or a list of several that the
    Service Authorization Reference requires at once."""
    return sorted(as_list(scope))


def main():
    table_path, policy_dir, src_dir = (pathlib.Path(a) for a in sys.argv[1:4])
    table = json.loads(table_path.read_text())
    operations = table["operations"]
    methods, crates = sdk_operations()
    calls = calls_in(src_dir, methods)

    problems = []
    called = set()
    for candidates, where in sorted(calls.items(), key=lambda c: sorted(c[0])):
        listed = candidates & set(operations)
        if not listed:
            problems.append(
                f"src/ calls {' or '.join(sorted(candidates))} ({', '.join(where)}), which "
                f"{table_path} does not list: add it with the IAM actions it needs, and grant "
                f"them in {policy_dir}/ and template.yaml"
            )
        called |= listed
    for operation in sorted(set(operations) - called):
        problems.append(f"{table_path} lists {operation}, which src/ no longer calls: remove it")

    # What the function needs: action -> resource type, and why.
    needed, operator_only = {}, set()

    def need(action, scope, why):
        if action in needed and scopes(needed[action][0]) != scopes(scope):
            problems.append(
                f"{table_path}: {action} is scoped to {needed[action][0]} for "
                f"{needed[action][1]} but to {scope} for {why}"
            )
        needed.setdefault(action, (scope, why))

    for operation, entry in operations.items():
        if entry["caller"] == "function":
            for action, scope in entry["actions"].items():
                need(action, scope, operation)
        elif entry["caller"] == "operator":
            operator_only |= set(entry["actions"])
        else:
            problems.append(f"{table_path}: {operation} has caller {entry['caller']!r}")
    for why, actions in table["platform"].items():
        for action, scope in actions.items():
            need(action, scope, why)
    operator_only -= set(needed)

    granted = {}
    granted_types = {}
    for path in sorted(policy_dir.glob("*.json")):
        for statement in json.loads(path.read_text())["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            where = f"{path.name} {statement.get('Sid', '(no Sid)')}"
            for action in as_list(statement["Action"]):
                granted.setdefault(action, []).append(where)
                if action not in needed:
                    continue
                scope = needed[action][0]
                for resource in as_list(statement["Resource"]):
                    granted_types.setdefault(action, set()).add(resource_type(resource))
                    if resource_type(resource) not in scopes(scope):
                        problems.append(
                            f"{where} grants {action} on {resource}: the table scopes it to "
                            f"{scope}"
                        )
    for action, types in sorted(granted_types.items()):
        for missing in sorted(set(scopes(needed[action][0])) - types):
            problems.append(
                f"{policy_dir}/ grants {action} on no resource of type {missing}, which the "
                f"table says it needs too"
            )
    for action in sorted(set(needed) - set(granted)):
        problems.append(f"{policy_dir}/ does not grant {action}, which {needed[action][1]} needs")
    for action in sorted(set(granted) - set(needed)):
        if action in operator_only:
            problems.append(
                f"{', '.join(granted[action])} grants {action}, which only operators need "
                f"(the function must not have it)"
            )
        else:
            problems.append(
                f"{', '.join(granted[action])} grants {action}, which no operation in "
                f"{table_path} needs"
            )
    if problems:
        raise SystemExit("\n".join(problems))
    print(
        f"{len(called)} AWS operations called in {src_dir}/ (SDK: {', '.join(crates)}): "
        f"{policy_dir}/ grants exactly the {len(needed)} IAM actions they and the platform need"
    )


if __name__ == "__main__":
    main()

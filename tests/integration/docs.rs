//! The README is the front door: what it promises must match the code.

use serde_json::{Value, json};
use wavefront_responder::telemetry::Metric;

use crate::support::*;

/// README.md, or the file `RESPONDER_TEST_README` names: set it by hand to see the checks fail
/// on a broken copy (the test command does not).
fn readme() -> String {
    let path = std::env::var("RESPONDER_TEST_README")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| repo_path("README.md"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_readme_documents_every_metric() {
    let readme = readme();
    for metric in Metric::ALL {
        assert!(
            readme.contains(&format!("`{}`", metric.name())),
            "README.md does not mention the metric {}",
            metric.name()
        );
    }
}

#[test]
fn the_readme_documents_every_alert_reason() {
    let readme = readme();
    for reason in wavefront_responder::alert::Reason::known() {
        assert!(
            readme.contains(reason),
            "README.md does not mention {reason}"
        );
    }
}

/// The keys of an audit line with every optional value present.
fn audit_keys() -> std::collections::BTreeSet<String> {
    use wavefront_responder::telemetry::{Audit, Telemetry};
    let output = Captured::default();
    let telemetry = Telemetry::to_writer(output.clone());
    let ids = ["aws-request-id".to_owned()];
    let mut batch = telemetry.batch("request-id");
    batch.audit(&Audit {
        request_id: "request-id",
        alert_id: Some("1"),
        alert_name: Some("name"),
        reason: Some("ALERT_OPENED"),
        severity: Some("SEVERE"),
        rule: Some("rule"),
        action: Some("codedeploy-rollback"),
        target: Some("app/group"),
        guard: Some(wavefront_responder::ledger::Guard::Attribution),
        outcome: "failed",
        dry_run: false,
        detail: "detail",
        aws_request_ids: &ids,
        auth: Some("token"),
        source_ip: Some("203.0.113.9"),
        user_agent: Some("agent"),
    });
    batch.finish();
    let line: Value = serde_json::from_str(output.text().trim()).expect("one audit line");
    line.as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

/// The README's CloudWatch Logs Insights queries only name fields audit lines have, it lists
/// every key, and the one-request query finds every line of the request, not only the JSON
/// audit line (METRIC lines and Lambda's START/END/REPORT lines carry the id only in text).
#[test]
fn the_readme_queries_use_the_audit_line_fields() {
    let readme = readme();
    let section = readme
        .split("### Audit lines")
        .nth(1)
        .and_then(|rest| rest.split("\n### ").next())
        .expect("README.md has an Audit lines section");
    let keys = audit_keys();
    for key in &keys {
        assert!(
            section.contains(&format!("`{key}`")) || section.contains(&format!("`\"{key}\"")),
            "README.md's Audit lines section does not list the key `{key}`"
        );
    }
    let queries = section
        .split("```")
        .nth(1)
        .expect("the section has a block of queries");
    let mut named = 0;
    for line in queries.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for clause in line.split('|') {
            let mut words = query_words(clause).into_iter();
            let Some(command) = words.next() else {
                continue;
            };
            assert!(
                ["fields", "filter", "sort", "stats", "display"].contains(&command.as_str()),
                "README.md query clause {clause:?}: unknown command"
            );
            for word in words {
                let keyword = ["and", "or", "not", "like", "in", "asc", "desc", "by", "as"];
                if word.starts_with('@') || keyword.contains(&word.as_str()) {
                    continue;
                }
                assert!(
                    keys.contains(&word),
                    "README.md query clause {clause:?} names {word}, which audit lines do not \
                     have (they have {keys:?})"
                );
                named += 1;
            }
        }
    }
    assert!(named > 0, "no fields found in the queries:\n{queries}");
    assert!(
        queries.contains("| filter @message like \""),
        "the one-request query must match the request id in @message:\n{queries}"
    );
}

/// The identifiers of a Logs Insights clause: words outside quoted strings, numbers left out.
fn query_words(clause: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    for c in clause.chars().chain([' ']) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c.is_ascii_alphanumeric() || c == '_' || c == '@' || c == '.' => word.push(c),
            None => {
                if !word.is_empty() && !word.starts_with(|c: char| c.is_ascii_digit()) {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
            }
        }
    }
    words
}

/// template.yaml as JSON, decoded the way cfn-lint decodes it (`!Ref X` is `{"Ref": "X"}`).
/// `RESPONDER_TEST_TEMPLATE` names another file: set it by hand to see the checks fail on a
/// broken copy (the test command does not).
fn template() -> Value {
    let path = std::env::var("RESPONDER_TEST_TEMPLATE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| repo_path("template.yaml"));
    let output = run_python("tests/deploy/template_json.py", &[path]);
    serde_json::from_slice(&output).expect("template_json.py prints JSON")
}

/// The template's resources of one type, by logical id.
fn resources<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, resource)| resource["Type"] == kind)
        .map(|(id, resource)| (id.as_str(), resource))
        .collect()
}

/// `{"Ref": "<id>"}`.
fn reference(id: &str) -> Value {
    json!({ "Ref": id })
}

/// The namespace parameter every metric and the alarm use.
const NAMESPACE_PARAMETER: &str = "MetricNamespace";

/// The logical id of the function's log group: the one named `/aws/lambda/${<function>}`.
fn function_log_group(template: &Value) -> String {
    let functions = resources(template, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 1, "one function: {functions:?}");
    let name = json!({ "Fn::Sub": format!("/aws/lambda/${{{}}}", functions[0].0) });
    let groups: Vec<&str> = resources(template, "AWS::Logs::LogGroup")
        .into_iter()
        .filter(|(_, group)| group["Properties"]["LogGroupName"] == name)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(groups.len(), 1, "one log group named {name}: {groups:?}");
    groups[0].to_owned()
}

/// Each metric filter, checked as a unit: the seed article's pattern for one metric name, the
/// same name as the metric it makes, in the namespace parameter, on the function's log group.
/// One filter per name in `Metric::ALL`, no other.
#[test]
fn the_template_has_a_metric_filter_for_every_metric() {
    let template = template();
    assert!(
        template["Parameters"][NAMESPACE_PARAMETER].is_object(),
        "template.yaml has no {NAMESPACE_PARAMETER} parameter"
    );
    let log_group = reference(&function_log_group(&template));
    let mut filtered = Vec::new();
    for (id, filter) in resources(&template, "AWS::Logs::MetricFilter") {
        let properties = &filter["Properties"];
        let pattern = properties["FilterPattern"].as_str().unwrap_or_default();
        let name = pattern
            .strip_prefix("[level=METRIC, timestamp, request_id, metric_name=")
            .and_then(|rest| rest.strip_suffix(", metric_value]"))
            .unwrap_or_else(|| panic!("{id}: FilterPattern {pattern:?} is not the seed pattern"));
        let metric = Metric::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .unwrap_or_else(|| panic!("{id} filters {name:?}, which the code never writes"));
        assert_eq!(properties["LogGroupName"], log_group, "{id}: LogGroupName");
        let transformations = properties["MetricTransformations"]
            .as_array()
            .unwrap_or_else(|| panic!("{id}: no MetricTransformations"));
        assert_eq!(transformations.len(), 1, "{id}: one metric per filter");
        let transformation = &transformations[0];
        assert_eq!(transformation["MetricName"], name, "{id}: MetricName");
        assert_eq!(
            transformation["MetricNamespace"],
            reference(NAMESPACE_PARAMETER),
            "{id}: MetricNamespace"
        );
        assert_eq!(
            transformation["MetricValue"], "$metric_value",
            "{id}: MetricValue"
        );
        let unit = if metric == Metric::HandlerDurationMs {
            "Milliseconds"
        } else {
            "Count"
        };
        assert_eq!(transformation["Unit"], unit, "{id}: Unit");
        filtered.push(name);
    }
    let mut expected: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
    filtered.sort_unstable();
    expected.sort_unstable();
    assert_eq!(
        filtered, expected,
        "template.yaml needs exactly one metric filter per metric"
    );
}

#[test]
fn the_alarms_watch_the_failure_metrics_in_the_metric_namespace() {
    let template = template();
    let alarms = resources(&template, "AWS::CloudWatch::Alarm");
    let watched: Vec<&str> = alarms
        .iter()
        .map(|(_, alarm)| {
            alarm["Properties"]["MetricName"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        watched,
        [Metric::ActionFailed.name(), Metric::LedgerFailed.name()],
        "one alarm per failure metric, in this order"
    );
    for (id, alarm) in alarms {
        let properties = &alarm["Properties"];
        assert_eq!(
            properties["Namespace"],
            reference(NAMESPACE_PARAMETER),
            "{id}: Namespace"
        );
        assert_eq!(properties["Statistic"], "Sum", "{id}: Statistic");
        assert_eq!(properties["Threshold"], 1, "{id}: Threshold");
        assert_eq!(
            properties["ComparisonOperator"], "GreaterThanOrEqualToThreshold",
            "{id}: ComparisonOperator"
        );
    }
}

#[test]
fn the_template_creates_the_ledger_table_the_code_expects() {
    use wavefront_responder::ledger::dynamodb::{PK, SK, TTL_ATTRIBUTE};
    let template = template();
    let table = &template["Resources"]["LedgerTable"]["Properties"];
    assert_eq!(
        table["KeySchema"],
        json!([
            { "AttributeName": PK, "KeyType": "HASH" },
            { "AttributeName": SK, "KeyType": "RANGE" },
        ]),
        "LedgerTable: KeySchema"
    );
    assert_eq!(
        table["AttributeDefinitions"],
        json!([
            { "AttributeName": PK, "AttributeType": "S" },
            { "AttributeName": SK, "AttributeType": "S" },
        ]),
        "LedgerTable: AttributeDefinitions"
    );
    assert_eq!(
        table["TimeToLiveSpecification"],
        json!({ "AttributeName": TTL_ATTRIBUTE, "Enabled": true }),
        "LedgerTable: TimeToLiveSpecification"
    );
}

//! The README is the front door: what it promises must match the code.

use wavefront_responder::telemetry::Metric;

use crate::support::*;

fn readme() -> String {
    std::fs::read_to_string(repo_path("README.md")).expect("README.md")
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

#[test]
fn the_template_has_a_metric_filter_for_every_metric() {
    let template = std::fs::read_to_string(repo_path("template.yaml")).expect("template.yaml");
    for metric in Metric::ALL {
        let pattern = format!(
            "FilterPattern: \"[level=METRIC, timestamp, request_id, metric_name={}, metric_value]\"",
            metric.name()
        );
        assert_eq!(
            template.matches(&pattern).count(),
            1,
            "template.yaml needs exactly one metric filter for {}",
            metric.name()
        );
        assert!(
            template.contains(&format!("MetricName: {}\n", metric.name())),
            "template.yaml does not name the metric {}",
            metric.name()
        );
    }
    assert_eq!(
        template.matches("Type: AWS::Logs::MetricFilter").count(),
        Metric::ALL.len()
    );
}

#[test]
fn the_template_creates_the_ledger_table_the_code_expects() {
    use wavefront_responder::ledger::dynamodb::{PK, SK, TTL_ATTRIBUTE};
    let template = std::fs::read_to_string(repo_path("template.yaml")).expect("template.yaml");
    let table = template
        .split("  LedgerTable:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("a LedgerTable resource");
    for expected in [
        format!("- AttributeName: {PK}\n          KeyType: HASH"),
        format!("- AttributeName: {SK}\n          KeyType: RANGE"),
        format!(
            "TimeToLiveSpecification:\n        AttributeName: {TTL_ATTRIBUTE}\n        Enabled: true"
        ),
    ] {
        assert!(
            table.contains(&expected),
            "LedgerTable lacks {expected:?}:\n{table}"
        );
    }
}

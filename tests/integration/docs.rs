//! The documents are held to the code: what README.md, CONTRIBUTING.md and `docs/` promise
//! must match it, and every link between them must lead somewhere.

use std::path::{Component, Path, PathBuf};

use serde_json::{Value, json};
use wavefront_responder::telemetry::Metric;

use crate::support::*;

/// The documents whose relative links must resolve.
fn documents() -> Vec<String> {
    let mut documents = vec!["README.md".to_owned(), "CONTRIBUTING.md".to_owned()];
    let docs = std::fs::read_dir(document_root().join("docs")).expect("a docs/ folder");
    let mut pages: Vec<String> = docs
        .map(|entry| entry.expect("a docs/ entry").file_name())
        .filter_map(|name| name.to_str().map(str::to_owned))
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    pages.sort_unstable();
    documents.extend(pages);
    documents
}

/// The repository, or the directory `RESPONDER_TEST_DOCS` names: point it by hand at a copy of
/// the repository with a broken document to see the checks fail (the test command does not).
fn document_root() -> PathBuf {
    std::env::var("RESPONDER_TEST_DOCS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_path(""))
}

/// The text of a document, by its path in the repository (`docs/operating.md`).
fn document(relative: &str) -> String {
    let path = document_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every metric the code writes is documented, and every metric the page lists is one the
/// code writes. (`Metric::ALL` is made with the enum itself, so it cannot miss one.)
#[test]
fn the_operating_page_documents_every_metric_and_no_other() {
    let page = document("docs/operating.md");
    for metric in Metric::ALL {
        assert!(
            page.contains(&format!("`{}`", metric.name())),
            "docs/operating.md does not mention the metric {}",
            metric.name()
        );
    }
    let listed = page
        .split_once("Metrics: ")
        .and_then(|(_, rest)| rest.split_once("per event"))
        .map(|(list, _)| list)
        .expect("docs/operating.md lists the metrics after \"Metrics: \"");
    let names: Vec<&str> = listed
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|word| word.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .collect();
    assert!(names.len() >= Metric::ALL.len() - 1, "{names:?}");
    for name in names {
        assert!(
            Metric::ALL.iter().any(|m| m.name() == name),
            "docs/operating.md lists the metric {name}, which the code never writes"
        );
    }
}

/// The keys docs/operating.md says every audit line has (`aws_request_ids` aside, which is
/// left out when there were none), from its sentence "always the keys ...".
pub fn documented_audit_keys() -> std::collections::BTreeSet<String> {
    let page = document("docs/operating.md");
    let sentence = page
        .split_once("always the keys ")
        .and_then(|(_, rest)| rest.split_once("(absent values are `null`)"))
        .map(|(list, _)| list)
        .expect("docs/operating.md lists the audit keys after \"always the keys\"");
    // The values listed in parentheses (the guards, the outcomes) are not keys.
    let mut keys = String::new();
    let mut depth = 0;
    for c in sentence.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => keys.push(c),
            _ => {}
        }
    }
    let mut keys: std::collections::BTreeSet<String> = keys
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    keys.insert("type".into());
    keys
}

/// Every audit line the front door writes, refused or accepted, has exactly the documented
/// keys. (Those of actions that ran, executed, skipped or failed, and of a duplicate, are held
/// by `end_to_end`, which calls `support::assert_audit_keys` on them.)
#[tokio::test]
async fn every_audit_line_has_exactly_the_documented_keys() {
    let documented = documented_audit_keys();
    assert_eq!(audit_keys().len(), documented.len() + 1, "{documented:?}");
    let t = TestResponder::example().await;
    let matching = fixture("alerts/checkout-opened.json");
    t.post(&[], matching.as_bytes()).await; // 401
    t.request(http::Method::GET, &[], b"{}").await; // 405
    t.post_with_token("{not json").await; // 400
    t.post_with_token(r#"{"name":"nothing matches this","reason":"ALERT_OPENED"}"#)
        .await; // no match
    t.post_with_token(&matching).await; // planned
    let audits = t.audits();
    let outcomes: Vec<&str> = audits
        .iter()
        .filter_map(|a| a["outcome"].as_str())
        .collect();
    assert_eq!(
        outcomes,
        [
            "rejected", "invalid", "invalid", "no_match", "planned", "planned"
        ],
        "{audits:?}"
    );
    for audit in &audits {
        assert_audit_keys(audit, &documented);
    }
}

#[test]
fn the_configuration_page_documents_every_alert_reason() {
    let page = document("docs/configuration.md");
    for reason in wavefront_responder::alert::Reason::known() {
        assert!(
            page.contains(reason),
            "docs/configuration.md does not mention {reason}"
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

/// The operating page's CloudWatch Logs Insights queries only name fields audit lines have, it
/// lists every key, and the one-request query finds every line of the request, not only the
/// JSON audit line (METRIC lines and Lambda's START/END/REPORT lines carry the id only in text).
#[test]
fn the_operating_page_queries_use_the_audit_line_fields() {
    let page = document("docs/operating.md");
    let section = page
        .split("\n## Audit lines\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/operating.md has an Audit lines section");
    let keys = audit_keys();
    for key in &keys {
        assert!(
            section.contains(&format!("`{key}`")) || section.contains(&format!("`\"{key}\"")),
            "docs/operating.md's Audit lines section does not list the key `{key}`"
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
                "docs/operating.md query clause {clause:?}: unknown command"
            );
            for word in words {
                let keyword = ["and", "or", "not", "like", "in", "asc", "desc", "by", "as"];
                if word.starts_with('@') || keyword.contains(&word.as_str()) {
                    continue;
                }
                assert!(
                    keys.contains(&word),
                    "docs/operating.md query clause {clause:?} names {word}, which audit lines do not \
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

/// README.md's minimal config is one a responder starts with.
#[test]
fn the_readme_minimal_config_is_valid() {
    let readme = document("README.md");
    let config = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README.md has a ```toml block: the minimal config");
    if let Err(e) = wavefront_responder::config::Config::parse(config, Path::new("README.md")) {
        panic!("README.md's minimal config is not valid: {e}");
    }
}

/// The README is the front door: a newcomer reads it in five minutes, and the reference lives
/// in `docs/`.
#[test]
fn the_readme_stays_short() {
    let lines = document("README.md").lines().count();
    assert!(
        lines <= 200,
        "README.md has {lines} lines, more than 200: move reference text into docs/"
    );
}

/// Every page in `docs/` is in README.md's index.
#[test]
fn the_readme_links_every_docs_page() {
    let linked = links(&document("README.md"));
    for page in documents().iter().filter(|d| d.starts_with("docs/")) {
        assert!(
            linked
                .iter()
                .any(|link| link.split('#').next() == Some(page.as_str())),
            "README.md does not link {page}"
        );
    }
}

/// Every relative link in README.md, CONTRIBUTING.md and `docs/` names a file or folder that
/// exists, and its `#anchor`, if any, a heading of that document.
#[test]
fn every_relative_link_in_the_documents_resolves() {
    let root = document_root();
    let mut broken = Vec::new();
    for from in documents() {
        for link in links(&document(&from)) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                from.clone()
            } else {
                let Some(target) = resolve(&from, path) else {
                    broken.push(format!("{from}: {link} leads out of the repository"));
                    continue;
                };
                target
            };
            let trimmed = target.trim_end_matches('/');
            if trimmed.is_empty() || !root.join(trimmed).exists() {
                broken.push(format!("{from}: {link}: {target} does not exist"));
                continue;
            }
            if !anchor.is_empty() {
                let headings = if target.ends_with(".md") {
                    heading_anchors(&document(&target))
                } else {
                    Vec::new()
                };
                if !headings.iter().any(|h| h == anchor) {
                    broken.push(format!(
                        "{from}: {link}: {target} has no heading #{anchor} (it has {headings:?})"
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// `path`, relative to the document `from`, as a path from the repository root (`docs/x.md`,
/// `src/plan/`), or `None` if it leads out of the repository.
fn resolve(from: &str, path: &str) -> Option<String> {
    let mut parts: Vec<String> = Path::new(from)
        .parent()
        .map(|dir| {
            dir.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    for component in Path::new(path).components() {
        match component {
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    let mut resolved = parts.join("/");
    if path.ends_with('/') {
        resolved.push('/');
    }
    Some(resolved)
}

/// The prose of a Markdown document, line by line: fenced code blocks left out, inline code
/// spans blanked.
fn prose_lines(markdown: &str) -> Vec<String> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            lines.push(without_code_spans(line));
        }
    }
    lines
}

/// `line` with the text of every inline code span (`` `x` ``, ``` ``x`` ```) removed.
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].len() - rest[start..].trim_start_matches('`').len();
        let fence = &rest[start..start + ticks];
        let after = &rest[start + ticks..];
        match after.find(fence) {
            Some(end) => rest = after[end + ticks..].trim_start_matches('`'),
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The targets of a document's inline links, `[text](target)`.
fn links(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(markdown) {
        let mut rest = line.as_str();
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].trim().to_owned());
            rest = &after[end..];
        }
    }
    targets
}

/// The anchors GitHub gives a document's headings: lower case, punctuation dropped, spaces as
/// hyphens (`## Not done with: 503` is `#not-done-with-503`).
fn heading_anchors(markdown: &str) -> Vec<String> {
    let mut fenced = false;
    let mut anchors = Vec::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim();
        let anchor: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        anchors.push(anchor);
    }
    anchors
}

#[test]
fn the_link_checker_reads_links_anchors_and_paths_as_github_does() {
    assert_eq!(
        links("see [a](docs/a.md#x), `[b](no.md)`, [`c`](src/c/)\n```\n[d](e.md)\n```"),
        ["docs/a.md#x", "src/c/"]
    );
    assert_eq!(
        heading_anchors(
            "# T\n## Not done with: 503\n```\n# not a heading\n```\n### `lambda-alias`\n### At 3 a.m.: hands off"
        ),
        [
            "t",
            "not-done-with-503",
            "lambda-alias",
            "at-3-am-hands-off"
        ]
    );
    assert_eq!(
        resolve("docs/a.md", "../src/plan/").as_deref(),
        Some("src/plan/")
    );
    assert_eq!(resolve("docs/a.md", "b.md").as_deref(), Some("docs/b.md"));
    assert_eq!(resolve("README.md", "../x"), None);
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
            .iter()
            .copied()
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
    let (alarms, others): (Vec<_>, Vec<_>) = resources(&template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .partition(|(_, alarm)| alarm["Properties"]["Namespace"] == reference(NAMESPACE_PARAMETER));
    // The one alarm on another namespace watches the web ACL (tests/deploy/check_front.py).
    let others: Vec<&str> = others.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        others,
        ["FloodAlarm"],
        "alarms outside the metric namespace"
    );
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
        [
            Metric::ActionFailed.name(),
            Metric::LedgerFailed.name(),
            Metric::EventFailed.name(),
            Metric::NotifyFailed.name(),
            Metric::CircuitOpen.name(),
            Metric::WebhookRejected.name(),
            Metric::WebhookInvalid.name(),
        ],
        "one alarm per metric that means a failure or a responder gone quiet, in this order"
    );
    // Rejected and invalid requests page only when they go on: two of the last three
    // five-minute periods (docs/operating.md says why); the others on the first one.
    let sustained = [
        Metric::WebhookRejected.name(),
        Metric::WebhookInvalid.name(),
    ];
    for (id, alarm) in &alarms {
        let properties = &alarm["Properties"];
        let window = (
            &properties["Period"],
            &properties["EvaluationPeriods"],
            &properties["DatapointsToAlarm"],
        );
        let metric = properties["MetricName"].as_str().unwrap_or_default();
        if sustained.contains(&metric) {
            assert_eq!(window, (&json!(300), &json!(3), &json!(2)), "{id}: window");
        } else {
            assert_eq!(
                window,
                (&json!(60), &json!(1), &Value::Null),
                "{id}: window"
            );
        }
    }
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
fn the_operating_page_explains_every_alarm_of_the_template() {
    let template = template();
    let page = document("docs/operating.md");
    let section = page
        .split("### When an alarm fires")
        .nth(1)
        .expect("docs/operating.md has a \"When an alarm fires\" section");
    let explained: Vec<&str> = section
        .lines()
        .filter_map(|line| line.strip_prefix("- **`"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name))
        .collect();
    let mut alarms: Vec<&str> = resources(&template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(id, alarm)| {
            let description = alarm["Properties"]["AlarmDescription"].as_str();
            assert!(
                description.is_some_and(|d| d.len() > 80),
                "{id} needs a description that says what it means and what to check first"
            );
            id
        })
        .collect();
    let mut explained_sorted = explained.clone();
    alarms.sort_unstable();
    explained_sorted.sort_unstable();
    assert_eq!(
        explained_sorted, alarms,
        "docs/operating.md \"When an alarm fires\" has one entry per alarm of template.yaml"
    );
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

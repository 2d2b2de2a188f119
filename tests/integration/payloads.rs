//! Payloads: every sample from Wavefront's documentation, and what the shipped alert target
//! template renders, parse into the alert the responder decides on.

use wavefront_responder::alert::{Alert, Reason, Severity};

use crate::support::*;

#[test]
fn the_2018_documentation_sample_parses() {
    let alert = Alert::parse(fixture("alerts/docs-2018-generic.json").as_bytes()).unwrap();
    assert_eq!(alert.id.as_deref(), Some("1460761882996"));
    assert_eq!(alert.name, "Alert on Data rate (Test)");
    assert_eq!(alert.reason, Reason::Opened);
    assert_eq!(alert.severity, Some(Severity::Smoke));
    // "09/12/2016 21:47:39 0000": the offset without its sign.
    assert_eq!(alert.started.unwrap().to_string(), "2016-09-12T21:47:39Z");
    assert_eq!(alert.ended, None);
    assert!(alert.warnings.is_empty(), "{:?}", alert.warnings);
}

#[test]
fn the_2024_documentation_sample_parses() {
    let alert = Alert::parse(fixture("alerts/docs-2024-alert-info.json").as_bytes()).unwrap();
    assert_eq!(alert.tags, ["production", "mysql"]);
    assert_eq!(
        alert.notification_id.as_deref(),
        Some("66dc2064-6bc1-437e-abe0-7c41afcd4aab")
    );
    assert_eq!(alert.started.unwrap().to_string(), "2020-09-12T21:47:39Z");
    assert!(alert.warnings.is_empty(), "{:?}", alert.warnings);
}

#[test]
fn every_alert_fixture_parses_without_warnings() {
    let dir = repo_path("tests/fixtures/alerts");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let alert = Alert::parse(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            alert.warnings.is_empty(),
            "{}: {:?}",
            path.display(),
            alert.warnings
        );
        seen += 1;
    }
    assert!(seen >= 5);
}

/// Renders the shipped template with Mustache and Wavefront's two template functions.
fn render_template(variables: &str) -> String {
    let output = run_python(
        "tests/template/render.py",
        &[
            repo_path("wavefront/alert-target-template.json.mustache"),
            repo_path("tests/fixtures/template").join(variables),
        ],
    );
    String::from_utf8(output).expect("UTF-8")
}

#[test]
fn the_template_renders_an_opened_alert_that_parses() {
    let body = render_template("opened.json");
    let alert = Alert::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{body}"));
    assert_eq!(alert.id.as_deref(), Some("1700000000001"));
    assert_eq!(alert.name, "checkout API error rate high");
    assert_eq!(alert.reason, Reason::Opened);
    assert_eq!(alert.severity, Some(Severity::Severe));
    assert_eq!(alert.tags, ["production", "checkout"]);
    assert_eq!(alert.started.unwrap().to_string(), "2026-11-25T20:41:07Z");
    assert_eq!(alert.ended, None);
    assert!(alert.warnings.is_empty(), "{:?}", alert.warnings);
}

#[test]
fn the_template_renders_a_resolved_alert_without_tags_that_parses() {
    let body = render_template("resolved-no-tags.json");
    let alert = Alert::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{body}"));
    assert_eq!(alert.reason, Reason::Resolved);
    assert!(alert.tags.is_empty());
    assert_eq!(alert.ended.unwrap().to_string(), "2026-11-25T21:02:44Z");
}

#[test]
fn the_template_escapes_quotes_backslashes_and_control_characters() {
    let body = render_template("testing-awkward-name.json");
    let alert = Alert::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{body}"));
    assert_eq!(alert.name, "checkout \"edge\" error rate\\p99 — naïve\ttab");
    assert_eq!(alert.reason, Reason::Testing);
    assert_eq!(alert.tags, ["team:\"payments\"", "env=prod"]);
    assert_eq!(alert.notification_id, None);
    assert_eq!(alert.started, None);
}

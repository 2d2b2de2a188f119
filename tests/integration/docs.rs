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

//! `serve --dry-run`, the binary as an operator runs it before going live, against the
//! recorded AWS exchanges of the replay tests served over loopback ([`ReplayServer`]): for
//! each kind of action whose service moto does not emulate, the record says what would be
//! done, and AWS saw only the reads the recording holds, in order, with the bodies it holds.

use serde_json::Value;

use crate::actions_replay::one_in_progress;
use crate::commands::{Server, binary, config_file, http_post};
use crate::replay_server::ReplayServer;
use crate::support::*;

/// A rule matching [`firing`] with `actions`, each a `[[rule.action]]` body.
fn rule_with(actions: &[String]) -> String {
    let mut text = "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n[[rule]]\nname = \"releases\"\n\
                    alert = \"checkout * error rate*\"\n"
        .to_owned();
    for action in actions {
        text.push_str(&format!("[[rule.action]]\n{action}\n"));
    }
    text
}

/// `serve --dry-run` with `config`, its AWS calls sent to `replay`; the record of [`firing`].
async fn dry_run(config: &str, replay: &ReplayServer) -> Value {
    let config = config_file(config);
    let server = Server::start_with(
        binary()
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--dry-run")
            .env("AWS_ENDPOINT_URL", replay.url())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing"),
    );
    let auth = bearer(TOKEN);
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let (status, body) = http_post(&server.address, &headers, &firing()).await;
    let (_, stderr) = server.stop();
    assert_eq!(status, 200, "{body}\n{stderr}");
    serde_json::from_str(&body).expect("a JSON record")
}

#[tokio::test]
async fn a_codedeploy_dry_run_through_the_binary_only_reads() {
    let replay = ReplayServer::start(one_in_progress("d-ABC123")).await;
    let action = "type = \"codedeploy-rollback\"\napplication = \"checkout\"\n\
                  deployment_group = \"checkout-prod\""
        .to_owned();
    let record = dry_run(&rule_with(&[action]), &replay).await;
    assert_eq!(record["dry_run"], true, "{record}");
    let action = &record["rules"][0]["actions"][0];
    assert_eq!(action["outcome"], "planned", "{record}");
    assert_eq!(
        action["detail"],
        "would stop deployment d-ABC123 with rollback"
    );
    replay.assert_requests_match();
}

#[tokio::test]
async fn an_ecs_dry_run_through_the_binary_only_reads() {
    let replay = ReplayServer::start(crate::ecs_replay::dry_run_one_in_progress("dep-1")).await;
    let action = "type = \"ecs-rollback\"\ncluster = \"prod\"\nservice = \"checkout\"".to_owned();
    let record = dry_run(&rule_with(&[action]), &replay).await;
    let action = &record["rules"][0]["actions"][0];
    assert_eq!(action["outcome"], "planned", "{record}");
    assert_eq!(
        action["detail"],
        "would stop service deployment dep-1 (IN_PROGRESS) with rollback to service revision 41"
    );
    replay.assert_requests_match();
}

const APPCONFIG: &str =
    "type = \"appconfig-rollback\"\napplication = \"checkout\"\nenvironment = \"prod\"";

const APPCONFIG_PLANNED: &str = "would stop deployment 8 (flags version 8) of checkout/prod; it is \
                                 DEPLOYING, and AppConfig would roll it back";

#[tokio::test]
async fn an_appconfig_dry_run_through_the_binary_only_reads() {
    let events = crate::appconfig_replay::dry_run_one_in_progress();
    let replay = ReplayServer::start(events).await;
    let record = dry_run(&rule_with(&[APPCONFIG.to_owned()]), &replay).await;
    let action = &record["rules"][0]["actions"][0];
    assert_eq!(action["outcome"], "planned", "{record}");
    assert_eq!(action["detail"], APPCONFIG_PLANNED);
    replay.assert_requests_match();
}

#[tokio::test]
async fn one_rule_undoing_a_configuration_and_a_service_release_plans_both() {
    let mut events = crate::appconfig_replay::dry_run_one_in_progress();
    events.extend(crate::ecs_replay::dry_run_one_in_progress("dep-1"));
    let replay = ReplayServer::start(events).await;
    let ecs = "type = \"ecs-rollback\"\ncluster = \"prod\"\nservice = \"checkout\"".to_owned();
    let record = dry_run(&rule_with(&[APPCONFIG.to_owned(), ecs]), &replay).await;
    let actions = &record["rules"][0]["actions"];
    assert_eq!(actions[0]["detail"], APPCONFIG_PLANNED, "{record}");
    assert_eq!(actions[1]["outcome"], "planned", "{record}");
    // Six reads, and neither StopDeployment nor StopServiceDeployment.
    assert_eq!(replay.sent().len(), 6, "{:?}", replay.sent());
    replay.assert_requests_match();
}

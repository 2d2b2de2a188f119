//! Actions against moto server, a real HTTP implementation of the Lambda and CodeDeploy APIs.
//! What moto cannot do (StopDeployment, deployments past `Created`, alias revision conflicts)
//! is covered in `actions_replay.rs`, as is an unknown deployment group: moto lists nothing for
//! it where AWS answers `DeploymentGroupDoesNotExistException`.

use jiff::Timestamp;
use wavefront_responder::actions::Action;
use wavefront_responder::actions::codedeploy::Rollback;
use wavefront_responder::actions::lambda_alias::{AliasShift, Destination};
use wavefront_responder::duration::HumanDuration;
use wavefront_responder::execute::ActionOutcome;

use crate::moto::{self, alias, alias_state, deployment, deployment_group};
use crate::support::run_action;

fn shift(function: &str, destination: Destination) -> Action {
    Action::LambdaAlias(AliasShift::new(function.into(), "live".into(), destination).unwrap())
}

fn rollback(application: &str, group: &str, window: Option<HumanDuration>) -> Action {
    Action::CodeDeployRollback(Rollback::new(application.into(), group.into(), window).unwrap())
}

fn version(v: &str) -> Destination {
    Destination::Version(v.into())
}

#[tokio::test]
async fn a_dry_run_reads_but_does_not_move_the_alias() {
    let aws = moto::aws().await;
    let function = moto::function_with_versions(&aws, 3).await;
    alias(&aws, &function, "live", "3", &[]).await;
    let report = run_action(
        &shift(&function, version("2")),
        &aws,
        true,
        Timestamp::now(),
    )
    .await;
    assert_eq!(report.outcome, ActionOutcome::Planned, "{report:?}");
    assert_eq!(report.detail, "would move live 3 -> 2");
    assert!(
        !report.aws_request_ids.is_empty(),
        "read calls are recorded"
    );
    assert_eq!(
        alias_state(&aws, &function, "live").await,
        ("3".into(), vec![])
    );
}

#[tokio::test]
async fn the_alias_moves_to_a_fixed_version_and_then_stays() {
    let aws = moto::aws().await;
    let function = moto::function_with_versions(&aws, 3).await;
    alias(&aws, &function, "live", "3", &[]).await;
    let action = shift(&function, version("2"));
    let report = run_action(&action, &aws, false, Timestamp::now()).await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(report.detail, "moved live 3 -> 2");
    // GetAlias, GetFunctionConfiguration, UpdateAlias.
    assert_eq!(report.aws_request_ids.len(), 3, "{report:?}");
    assert_eq!(
        alias_state(&aws, &function, "live").await,
        ("2".into(), vec![])
    );

    let again = run_action(&action, &aws, false, Timestamp::now()).await;
    assert_eq!(again.outcome, ActionOutcome::Skipped);
    assert_eq!(again.detail, "live is already at version 2");
}

#[tokio::test]
async fn the_alias_follows_the_stable_alias() {
    let aws = moto::aws().await;
    let function = moto::function_with_versions(&aws, 3).await;
    alias(&aws, &function, "live", "3", &[]).await;
    alias(&aws, &function, "stable", "1", &[]).await;
    let report = run_action(
        &shift(&function, Destination::Alias("stable".into())),
        &aws,
        false,
        Timestamp::now(),
    )
    .await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(report.detail, "moved live 3 -> 1");
    assert_eq!(alias_state(&aws, &function, "live").await.0, "1");
}

#[tokio::test]
async fn a_canary_is_dropped_and_the_primary_keeps_all_traffic() {
    let aws = moto::aws().await;
    let function = moto::function_with_versions(&aws, 3).await;
    alias(&aws, &function, "live", "2", &[("3", 0.1)]).await;
    let report = run_action(
        &shift(&function, Destination::DropCanary),
        &aws,
        false,
        Timestamp::now(),
    )
    .await;
    assert_eq!(report.outcome, ActionOutcome::Executed, "{report:?}");
    assert_eq!(
        report.detail,
        "dropped the canary of live (3 at 10%); version 2 keeps all traffic"
    );
    assert_eq!(
        alias_state(&aws, &function, "live").await,
        ("2".into(), vec![])
    );
}

#[tokio::test]
async fn moving_back_also_removes_a_canary() {
    let aws = moto::aws().await;
    let function = moto::function_with_versions(&aws, 3).await;
    alias(&aws, &function, "live", "2", &[("3", 0.25)]).await;
    let report = run_action(
        &shift(&function, version("1")),
        &aws,
        false,
        Timestamp::now(),
    )
    .await;
    assert_eq!(
        report.detail,
        "moved live 2 -> 1 and dropped its canary (3 at 25%)"
    );
    assert_eq!(
        alias_state(&aws, &function, "live").await,
        ("1".into(), vec![])
    );
}

#[tokio::test]
async fn a_version_that_does_not_exist_is_refused() {
    let aws = moto::aws().await;
    let function = moto::function_with_versions(&aws, 2).await;
    alias(&aws, &function, "live", "2", &[]).await;
    let report = run_action(
        &shift(&function, version("99")),
        &aws,
        false,
        Timestamp::now(),
    )
    .await;
    assert_eq!(report.outcome, ActionOutcome::Failed, "{report:?}");
    assert!(
        report
            .detail
            .starts_with(&format!("version 99 of {function} does not exist")),
        "{report:?}"
    );
    assert!(
        report.detail.contains("refusing to move live there"),
        "{report:?}"
    );
    assert_eq!(alias_state(&aws, &function, "live").await.0, "2");
}

#[tokio::test]
async fn a_stable_alias_on_latest_is_refused() {
    let aws = moto::aws().await;
    let function = moto::function_with_versions(&aws, 2).await;
    alias(&aws, &function, "live", "2", &[]).await;
    alias(&aws, &function, "stable", "$LATEST", &[]).await;
    let report = run_action(
        &shift(&function, Destination::Alias("stable".into())),
        &aws,
        false,
        Timestamp::now(),
    )
    .await;
    assert_eq!(report.outcome, ActionOutcome::Failed);
    assert!(report.detail.contains("points at $LATEST"), "{report:?}");
    assert_eq!(alias_state(&aws, &function, "live").await.0, "2");
}

#[tokio::test]
async fn dropping_the_canary_of_an_alias_without_one_is_skipped() {
    let aws = moto::aws().await;
    let function = moto::function_with_versions(&aws, 3).await;
    // No canary, a canary weighted 0 (which routes nothing), and an alias on $LATEST.
    for (alias_name, version, canary) in [
        ("live", "2", &[][..]),
        ("beta", "2", &[("3", 0.0)][..]),
        ("edge", "$LATEST", &[][..]),
    ] {
        alias(&aws, &function, alias_name, version, canary).await;
        let action = Action::LambdaAlias(
            AliasShift::new(function.clone(), alias_name.into(), Destination::DropCanary).unwrap(),
        );
        let report = run_action(&action, &aws, false, Timestamp::now()).await;
        assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
        assert_eq!(
            report.detail,
            format!(
                "{alias_name} has no canary (it routes all traffic to version {version}); \
                 nothing to drop"
            )
        );
        // GetAlias only: nothing written, so no breaker slot is spent on a no-op.
        assert_eq!(report.aws_request_ids.len(), 1, "{report:?}");
        assert!(!report.changed);
        assert_eq!(alias_state(&aws, &function, alias_name).await.0, version);
    }
}

#[tokio::test]
async fn a_missing_function_fails_with_the_aws_error_code_and_request_id() {
    let aws = moto::aws().await;
    let report = run_action(
        &shift(&moto::unique("no-such-function"), version("1")),
        &aws,
        false,
        Timestamp::now(),
    )
    .await;
    assert_eq!(report.outcome, ActionOutcome::Failed);
    assert!(
        report
            .detail
            .starts_with("GetAlias: ResourceNotFoundException: "),
        "{report:?}"
    );
    assert!(report.detail.contains("(request id "), "{report:?}");
    assert_eq!(report.aws_request_ids.len(), 1);
}

#[tokio::test]
async fn a_group_with_nothing_in_progress_is_skipped() {
    let aws = moto::aws().await;
    let (application, group) = deployment_group(&aws).await;
    let action = rollback(&application, &group, None);
    let report = run_action(&action, &aws, false, Timestamp::now()).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert_eq!(
        report.detail,
        format!("nothing in progress in {application}/{group}")
    );

    // With a window but no recorded success, there is nothing to undo either.
    let window = HumanDuration::parse("1h").ok();
    let action = rollback(&application, &group, window);
    let report = run_action(&action, &aws, false, Timestamp::now()).await;
    assert_eq!(report.outcome, ActionOutcome::Skipped, "{report:?}");
    assert!(
        report
            .detail
            .ends_with("; it has no successful deployment to undo"),
        "{report:?}"
    );
}

#[tokio::test]
async fn a_dry_run_names_the_deployment_it_would_stop() {
    let aws = moto::aws().await;
    let (application, group) = deployment_group(&aws).await;
    let id = deployment(&aws, &application, &group).await;
    let action = rollback(&application, &group, None);
    let report = run_action(&action, &aws, true, Timestamp::now()).await;
    assert_eq!(report.outcome, ActionOutcome::Planned, "{report:?}");
    assert_eq!(
        report.detail,
        format!("would stop deployment {id} with rollback")
    );
    // ListDeployments and BatchGetDeployments, nothing else.
    assert_eq!(report.aws_request_ids.len(), 2, "{report:?}");
}

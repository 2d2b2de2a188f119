use super::*;
use crate::ledger::attribution::StartSource;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// Deployment `number` of profile `prof1234` in `state`, started 20:00 and (when finished)
/// completed 20:30.
fn deployment(number: i32, state: State) -> Deployment {
    let completed = (!state.in_progress() && !state.undoing()).then(|| at("2026-11-25T20:30:00Z"));
    Deployment {
        number,
        state,
        profile_id: Some("prof1234".into()),
        configuration: Some("flags".into()),
        version: Some(number.to_string()),
        managed: false,
        started: Some(at("2026-11-25T20:00:00Z")),
        completed,
    }
}

fn since() -> IncidentStart {
    IncidentStart {
        at: at("2026-11-25T20:41:07Z"),
        from: StartSource::StartedTime,
    }
}

/// The steps for `deployments` at 21:00, with the incident started 20:41:07.
fn steps(deployments: &[Deployment], window: Option<&str>) -> Vec<Step> {
    let since = since();
    decide(&Situation {
        deployments,
        profile_id: None,
        revert_within: window.and_then(|w| HumanDuration::parse(w).ok()),
        since: Some(&since),
        now: at("2026-11-25T21:00:00Z"),
        target: "checkout/prod",
    })
}

fn why(step: &Step) -> &str {
    match step {
        Step::Leave { why, .. } => why,
        other => panic!("expected a step that leaves it alone, got {other:?}"),
    }
}

#[test]
fn deploying_is_stopped_without_allow_revert_and_baking_or_validating_with_it() {
    for (state, allow_revert) in [
        (State::Deploying, false),
        (State::Validating, true),
        (State::Baking, true),
    ] {
        let current = deployment(8, state);
        let listed = [current.clone(), deployment(7, State::Complete)];
        assert_eq!(
            steps(&listed, Some("1h")),
            vec![Step::Stop {
                deployment: current,
                allow_revert
            }]
        );
    }
}

#[test]
fn an_undo_under_way_is_never_stopped_and_nothing_older_is_reverted() {
    let listed = [
        deployment(8, State::RollingBack),
        deployment(7, State::Complete),
    ];
    let found = steps(&listed, Some("1h"));
    assert_eq!(found.len(), 1);
    assert_eq!(
        why(&found[0]),
        "deployment 8 (flags version 8) is ROLLING_BACK: a rollback is never stopped"
    );
    // A state AppConfig may add, named like an undo, is one.
    assert!(State::parse("REVERTING").undoing());
    assert!(State::parse("REVERTING").is_undo());
    assert!(!State::parse("PAUSED").is_undo());
}

#[test]
fn managed_deployments_and_the_fix_are_left_alone() {
    let mut managed = deployment(8, State::Deploying);
    managed.managed = true;
    assert!(why(&steps(&[managed], None)[0]).contains("MANAGED deployment"));

    let mut fix = deployment(9, State::Deploying);
    fix.started = Some(at("2026-11-25T20:45:30Z"));
    let found = steps(&[fix], None);
    assert_eq!(
        found,
        vec![Step::Leave {
            why: "deployment 9 (flags version 9) started 4m after the alert started firing \
                  (2026-11-25T20:41:07Z); it may be the fix, so it is left alone"
                .into(),
            attribution: true
        }]
    );
}

#[test]
fn a_completed_deployment_is_reverted_only_inside_the_window() {
    let last = deployment(7, State::Complete);
    // Completed 30m before 21:00.
    assert_eq!(
        steps(std::slice::from_ref(&last), Some("1h")),
        vec![Step::Revert {
            deployment: last.clone()
        }]
    );
    assert_eq!(
        why(&steps(std::slice::from_ref(&last), Some("10m"))[0]),
        "nothing in progress in checkout/prod; the last one, deployment 7 (flags version 7), \
         completed 30m ago, longer than revert_within = 10m: it is not reverted"
    );
    assert_eq!(
        why(&steps(std::slice::from_ref(&last), None)[0]),
        "nothing in progress in checkout/prod (the last one, deployment 7 (flags version 7), is \
         COMPLETE)"
    );
    // Started after the incident: maybe the fix.
    let mut fix = last.clone();
    fix.started = Some(at("2026-11-25T20:50:00Z"));
    assert!(matches!(
        steps(&[fix], Some("1h"))[0],
        Step::Leave {
            attribution: true,
            ..
        }
    ));
    // No completion time: not shown to be inside the window.
    let mut unknown = last;
    unknown.completed = None;
    assert!(why(&steps(&[unknown], Some("1h"))[0]).contains("did not give"));
}

#[test]
fn an_undone_last_deployment_is_not_reverted_nor_the_one_before_it() {
    for state in [State::RolledBack, State::Reverted] {
        let listed = [deployment(8, state), deployment(7, State::Complete)];
        let found = steps(&listed, Some("1h"));
        assert!(
            why(&found[0]).ends_with("already undone: nothing to revert"),
            "{found:?}"
        );
    }
    assert_eq!(
        why(&steps(&[], Some("1h"))[0]),
        "nothing in progress in checkout/prod, and no deployment to revert"
    );
}

#[test]
fn only_the_configured_profile_counts() {
    let mut other = deployment(8, State::Deploying);
    other.profile_id = Some("other12".into());
    let ours = deployment(7, State::Complete);
    let listed = [other, ours.clone()];
    let since = since();
    let found = decide(&Situation {
        deployments: &listed,
        profile_id: Some("prof1234"),
        revert_within: HumanDuration::parse("1h").ok(),
        since: Some(&since),
        now: at("2026-11-25T21:00:00Z"),
        target: "checkout/prod/flags",
    });
    assert_eq!(found, vec![Step::Revert { deployment: ours }]);
}

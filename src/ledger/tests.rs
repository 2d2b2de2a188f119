//! Unit tests of the ledger: admissions, releases, resolves and lapses, over the in-memory
//! store.

use super::*;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn alert(reason: Reason, started: Option<&str>) -> Alert {
    let mut alert =
        Alert::parse(br#"{"name":"checkout errors","reason":"ALERT_OPENED","alertId":"42"}"#)
            .unwrap();
    alert.reason = reason;
    alert.started = started.map(at);
    alert
}

fn attempt<'a>(incident: &'a Incident, cooldown: Option<&str>, request_id: &'a str) -> Attempt<'a> {
    Attempt {
        rule: "checkout-errors",
        target: "checkout:live",
        cooldown: cooldown.and_then(|c| HumanDuration::parse(c).ok()),
        incident,
        request_id,
        pending_for: Duration::from_secs(60),
    }
}

/// Admits `attempt` at `now`, which the test expects to be admitted.
async fn admitted(ledger: &Ledger, attempt: &Attempt<'_>, now: Timestamp) -> Claims {
    match ledger.admit(attempt, now).await.unwrap() {
        Admission::Admitted(claims) => claims,
        Admission::Refused(refusal) => panic!("refused: {}", refusal.detail),
    }
}

#[tokio::test]
async fn a_latch_its_action_never_kept_lapses() {
    // Admitted, then never kept nor given back: the request died, or its release was lost.
    let ledger = Ledger::in_memory(None);
    let incident = Incident::of(&alert(Reason::Opened, Some("2026-11-25T20:00:00Z")));
    let now = at("2026-11-25T20:01:00Z");
    let admitted = ledger.admit(&attempt(&incident, None, "r1"), now).await;
    assert!(matches!(admitted.unwrap(), Admission::Admitted(_)));
    // It lapses once the time its request could still run is over, not after the retention.
    let after = at("2026-11-25T20:02:00Z");
    let again = ledger.admit(&attempt(&incident, None, "r2"), after).await;
    assert!(matches!(again.unwrap(), Admission::Admitted(_)));
}

#[tokio::test]
async fn a_cooldown_its_action_never_kept_lapses_as_its_latch_does() {
    // Admitted with a 30-minute cooldown, then never kept nor given back.
    let ledger = Ledger::in_memory(None);
    let first = Incident::of(&alert(Reason::Opened, Some("2026-11-25T20:00:00Z")));
    let now = at("2026-11-25T20:01:00Z");
    admitted(&ledger, &attempt(&first, Some("30m"), "r1"), now).await;
    // The next firing, two minutes later: the cooldown lapsed with the latch, a minute
    // after its request could no longer run, not after the 30 minutes.
    let next = Incident::of(&alert(Reason::Opened, Some("2026-11-25T20:02:30Z")));
    let after = at("2026-11-25T20:03:00Z");
    admitted(&ledger, &attempt(&next, Some("30m"), "r2"), after).await;
}

#[tokio::test]
async fn the_latch_admits_once_per_incident() {
    let ledger = Ledger::in_memory(None);
    let first = Incident::of(&alert(Reason::Opened, Some("2026-11-25T20:00:00Z")));
    let now = at("2026-11-25T20:01:00Z");
    let claims = admitted(&ledger, &attempt(&first, None, "r1"), now).await;
    // While r1 is not done, its latch is pending: a refusal by it is not final.
    let Admission::Refused(pending) = ledger
        .admit(&attempt(&first, None, "r2"), now)
        .await
        .unwrap()
    else {
        panic!("a second action in the same incident is refused");
    };
    assert_eq!(pending.guard, Guard::IncidentLatch);
    assert_eq!(pending.pending_until, Some(at("2026-11-25T20:02:00Z")));
    assert!(
        pending.detail.starts_with(
            "request r1 is handling checkout:live for checkout-errors right now (since \
             2026-11-25T20:01:00Z)"
        ),
        "{}",
        pending.detail
    );
    // Kept, once the action changed something: for the retention, and final.
    ledger.keep(&claims, now).await.unwrap();
    let later = at("2026-11-25T20:30:00Z");
    let Admission::Refused(Refusal {
        guard,
        detail,
        pending_until,
    }) = ledger
        .admit(&attempt(&first, None, "r3"), later)
        .await
        .unwrap()
    else {
        panic!("a second action in the same incident is refused");
    };
    assert_eq!((guard, pending_until), (Guard::IncidentLatch, None));
    assert_eq!(
        detail,
        "checkout-errors already handled checkout:live in this incident (request r1 at \
         2026-11-25T20:01:00Z: its audit line says what it did); it acts again on the \
         alert's next incident"
    );
    let next = Incident::of(&alert(Reason::Opened, Some("2026-11-25T21:00:00Z")));
    assert!(matches!(
        ledger
            .admit(&attempt(&next, None, "r3"), now)
            .await
            .unwrap(),
        Admission::Admitted(_)
    ));
}

#[tokio::test]
async fn a_stopped_admission_sends_nothing_more() {
    let ledger = Ledger::in_memory(None);
    let incident = Incident::of(&alert(Reason::Opened, Some("2026-11-25T20:00:00Z")));
    let now = at("2026-11-25T20:01:00Z");
    let mut claims = Claims::new("r1");
    claims.stopper().stop();
    let stopped = ledger
        .admit_into(&attempt(&incident, Some("30m"), "r1"), now, &mut claims)
        .await;
    assert!(matches!(stopped, Err(LedgerError::Stopped)), "{stopped:?}");
    assert!(claims.is_empty());
    assert!(ledger.list().await.unwrap().is_empty());
}

/// A ledger whose breaker allows one action, and the claims that action took (incident
/// latch, 30m cooldown, the breaker's slot) as request `r1` at 20:01.
async fn one_action_admitted() -> (Ledger, Incident, Timestamp, Claims) {
    let ledger = Ledger::in_memory(Some(CircuitBreaker {
        max_actions: 1,
        window: HumanDuration::parse("1h").unwrap(),
    }));
    let incident = Incident::of(&alert(Reason::Opened, Some("2026-11-25T20:00:00Z")));
    let now = at("2026-11-25T20:01:00Z");
    let claims = admitted(&ledger, &attempt(&incident, Some("30m"), "r1"), now).await;
    (ledger, incident, now, claims)
}

#[tokio::test]
async fn only_the_circuit_slot_is_given_back_for_an_action_left_to_codedeploy() {
    let (ledger, incident, now, claims) = one_action_admitted().await;
    ledger.release_circuit_slot(&claims).await.unwrap();
    let left: Vec<String> = ledger
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key.pk)
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|pk| pk != CIRCUIT), "{left:?}");
    // The incident stays handled; the breaker's one slot is free for another change.
    assert!(matches!(
        ledger
            .peek(&attempt(&incident, Some("30m"), "r2"), now)
            .await,
        Ok(Some(Refusal {
            guard: Guard::IncidentLatch,
            ..
        }))
    ));
}

#[tokio::test]
async fn released_claims_let_a_retry_act() {
    let (ledger, incident, now, claims) = one_action_admitted().await;
    ledger.release(claims).await.unwrap();
    assert!(ledger.list().await.unwrap().is_empty());
    assert!(matches!(
        ledger
            .admit(&attempt(&incident, Some("30m"), "r2"), now)
            .await
            .unwrap(),
        Admission::Admitted(_)
    ));
}

#[tokio::test]
async fn resolved_ends_an_incident_without_a_start_time() {
    let ledger = Ledger::in_memory(None);
    let unknown = Incident::of(&alert(Reason::Opened, None));
    let now = at("2026-11-25T20:01:00Z");
    // The action acted: its claims are kept.
    let claims = admitted(&ledger, &attempt(&unknown, None, "r1"), now).await;
    ledger.keep(&claims, now).await.unwrap();
    let Admission::Refused(Refusal { detail, .. }) = ledger
        .admit(&attempt(&unknown, None, "r2"), now)
        .await
        .unwrap()
    else {
        panic!("refused until resolved");
    };
    assert!(
        detail.ends_with("it acts again after ALERT_RESOLVED"),
        "{detail}"
    );
    assert_eq!(
        ledger
            .resolve(&alert(Reason::Resolved, None), now)
            .await
            .unwrap(),
        Cleared {
            latches: 1,
            first_seen: false
        }
    );
    // The incident's first delivery, recorded for the attribution guard, goes with it.
    ledger
        .incident_start(&alert(Reason::Opened, None), "r3", now, true)
        .await
        .unwrap();
    let cleared = ledger.resolve(&alert(Reason::Resolved, None), now).await;
    assert!(cleared.unwrap().first_seen);
    let next = ledger
        .incident_start(&alert(Reason::Opened, None), "r4", now, true)
        .await
        .unwrap();
    assert_eq!(next.from, attribution::StartSource::ThisRequest);
    assert!(matches!(
        ledger
            .admit(&attempt(&unknown, None, "r3"), now)
            .await
            .unwrap(),
        Admission::Admitted(_)
    ));
}

#[tokio::test]
async fn a_latch_that_lands_after_its_incident_was_resolved_is_not_kept() {
    let ledger = Ledger::in_memory(None);
    let unknown = Incident::of(&alert(Reason::Opened, None));
    // ALERT_RESOLVED is handled at 20:02, while the latch the opening request claimed at
    // 20:01 is still on its way: the resolve does not see it.
    let resolved = ledger
        .resolve(&alert(Reason::Resolved, None), at("2026-11-25T20:02:00Z"))
        .await
        .unwrap();
    assert_eq!(resolved.latches, 0);
    let claimed = at("2026-11-25T20:01:00Z");
    let claims = admitted(&ledger, &attempt(&unknown, None, "r1"), claimed).await;
    // Its action changed something, but the incident it belongs to is over: the latch is
    // not kept for the retention, and lapses.
    ledger.keep(&claims, claimed).await.unwrap();
    let next_firing = at("2026-11-25T20:30:00Z");
    let admitted = ledger
        .admit(&attempt(&unknown, None, "r2"), next_firing)
        .await;
    assert!(matches!(admitted.unwrap(), Admission::Admitted(_)));
}

#[tokio::test]
async fn resolved_leaves_a_latch_taken_after_the_incident_ended() {
    let ledger = Ledger::in_memory(None);
    let unknown = Incident::of(&alert(Reason::Opened, None));
    let claimed = at("2026-11-25T20:01:00Z");
    // The action acted: its claims are kept.
    let claims = admitted(&ledger, &attempt(&unknown, None, "r1"), claimed).await;
    ledger.keep(&claims, claimed).await.unwrap();
    // A late ALERT_RESOLVED of an earlier firing: ended before this latch was taken.
    let mut late = alert(Reason::Resolved, None);
    late.ended = Some(at("2026-11-25T20:00:00Z"));
    let after = at("2026-11-25T20:09:00Z");
    assert_eq!(ledger.resolve(&late, after).await.unwrap().latches, 0);
    // Without an end time, the time it arrived counts: before the latch, nothing.
    let resolved = alert(Reason::Resolved, None);
    let before = at("2026-11-25T20:00:59Z");
    assert_eq!(ledger.resolve(&resolved, before).await.unwrap().latches, 0);
    assert!(matches!(
        ledger
            .peek(&attempt(&unknown, None, "r2"), after)
            .await
            .unwrap(),
        Some(Refusal {
            guard: Guard::IncidentLatch,
            ..
        })
    ));
    // This firing's own end clears it.
    let mut ended = alert(Reason::Resolved, None);
    ended.ended = Some(at("2026-11-25T20:05:00Z"));
    assert_eq!(ledger.resolve(&ended, after).await.unwrap().latches, 1);
    assert_eq!(
        ledger
            .peek(&attempt(&unknown, None, "r2"), after)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn releasing_one_action_leaves_the_claims_of_another_of_the_same_request() {
    let ledger = Ledger::in_memory(Some(CircuitBreaker {
        max_actions: 5,
        window: HumanDuration::parse("1h").unwrap(),
    }));
    let incident = Incident::of(&alert(Reason::Opened, Some("2026-11-25T20:00:00Z")));
    let now = at("2026-11-25T20:01:00Z");
    let kept = attempt(&incident, None, "r1");
    let _ = admitted(&ledger, &kept, now).await;
    // A second action of the same request on another target: admitted, then given back.
    let other = Attempt {
        target: "payments:live",
        ..attempt(&incident, None, "r1")
    };
    let claims = admitted(&ledger, &other, now).await;
    assert_eq!(ledger.list().await.unwrap().len(), 4);
    ledger.release(claims).await.unwrap();
    let left = ledger.list().await.unwrap();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(
        left.iter()
            .all(|e| e.note == "checkout-errors acted on checkout:live")
    );
    // A third action of the same request on the first one's target is refused by its
    // latch, and gives back nothing of it.
    let again = attempt(&incident, None, "r1");
    let mut claims = Claims::new("r1");
    let refusal = ledger.admit_into(&again, now, &mut claims).await.unwrap();
    assert!(matches!(
        refusal,
        Some(Refusal {
            guard: Guard::IncidentLatch,
            ..
        })
    ));
    assert!(claims.is_empty());
    ledger.release(claims).await.unwrap();
    assert_eq!(ledger.list().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_lowered_max_actions_counts_every_slot_still_taken() {
    let store: Arc<dyn Store> = Arc::new(memory::MemoryStore::default());
    let breaker = |max_actions| {
        Some(CircuitBreaker {
            max_actions,
            window: HumanDuration::parse("1h").unwrap(),
        })
    };
    let now = at("2026-11-25T20:00:00Z");
    // Five actions while the limit was 5, slots 0 to 4; the first two then gave theirs
    // back, leaving slots 2 to 4 taken.
    let before = Ledger::new(Arc::clone(&store), DEFAULT_RETENTION, breaker(5));
    let mut taken = Vec::new();
    for n in 0..5 {
        let incident = Incident::of(&alert(
            Reason::Opened,
            Some(&format!("2026-11-25T19:0{n}:00Z")),
        ));
        let Admission::Admitted(claims) = before
            .admit(&attempt(&incident, None, &format!("r{n}")), now)
            .await
            .unwrap()
        else {
            panic!("admitted");
        };
        before.keep(&claims, now).await.unwrap();
        taken.push(claims);
    }
    for claims in taken.drain(..2) {
        before.release(claims).await.unwrap();
    }
    // Redeployed with 2: slots 0 and 1 are free, yet three slots past the limit are taken.
    // Live admission counts them all, as the dry run does: the circuit is open.
    let after = Ledger::new(store, DEFAULT_RETENTION, breaker(2));
    let incident = Incident::of(&alert(Reason::Opened, Some("2026-11-25T19:30:00Z")));
    let live = after.admit(&attempt(&incident, None, "r9"), now).await;
    let Admission::Refused(refusal) = live.unwrap() else {
        panic!("refused");
    };
    assert_eq!(refusal.guard, Guard::CircuitOpen);
    assert!(
        refusal.detail.starts_with("circuit open: 3 actions"),
        "{}",
        refusal.detail
    );
    let dry = after.peek(&attempt(&incident, None, "r10"), now).await;
    assert_eq!(dry.unwrap().map(|r| r.guard), Some(Guard::CircuitOpen));
}

#[tokio::test]
async fn the_circuit_opens_after_max_actions_and_closes_with_the_window() {
    let ledger = Ledger::in_memory(Some(CircuitBreaker {
        max_actions: 2,
        window: HumanDuration::parse("1h").unwrap(),
    }));
    let now = at("2026-11-25T20:00:00Z");
    for n in 0..2 {
        let incident = Incident::of(&alert(
            Reason::Opened,
            Some(&format!("2026-11-25T19:0{n}:00Z")),
        ));
        assert!(matches!(
            ledger
                .admit(&attempt(&incident, None, "r"), now)
                .await
                .unwrap(),
            Admission::Admitted(_)
        ));
    }
    let third = Incident::of(&alert(Reason::Opened, Some("2026-11-25T19:05:00Z")));
    let Admission::Refused(Refusal { guard, detail, .. }) = ledger
        .admit(&attempt(&third, None, "r"), now)
        .await
        .unwrap()
    else {
        panic!("the circuit is open");
    };
    assert_eq!(guard, Guard::CircuitOpen);
    assert!(detail.starts_with("circuit open: 2 actions changed something in the last 1h (max_actions = 2); it closes at 2026-11-25T21:00:00Z"), "{detail}");
    // `ledger clear` cannot reach a process's memory: the advice says what works.
    assert!(
        detail.ends_with(
            "or restarting the process resets it (this ledger is in memory, where `ledger \
             clear` cannot reach it)"
        ),
        "{detail}"
    );
    // The refused attempt gave its latch back.
    assert!(matches!(
        ledger.peek(&attempt(&third, None, "r"), now).await.unwrap(),
        Some(Refusal {
            guard: Guard::CircuitOpen,
            ..
        })
    ));
    let later = at("2026-11-25T21:00:01Z");
    assert!(matches!(
        ledger
            .admit(&attempt(&third, None, "r"), later)
            .await
            .unwrap(),
        Admission::Admitted(_)
    ));
}

#[tokio::test]
async fn notifications_are_claimed_once() {
    let ledger = Ledger::in_memory(None);
    let alert = alert(Reason::Opened, Some("2026-11-25T20:00:00Z"));
    let key = notification_key(&alert).unwrap();
    assert_eq!(key.pk, "notification#42#ALERT_OPENED#1795636800000");
    let now = at("2026-11-25T20:01:00Z");
    assert_eq!(
        ledger
            .claim_notification(&key, &alert, "r1", now)
            .await
            .unwrap(),
        None
    );
    let earlier = ledger
        .claim_notification(&key, &alert, "r2", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(earlier.claimed_by, "r1");
    ledger.release_notification(&key, "r1").await.unwrap();
    assert_eq!(
        ledger
            .claim_notification(&key, &alert, "r3", now)
            .await
            .unwrap(),
        None
    );
}

#[test]
fn without_a_notification_id_or_start_time_there_is_no_key() {
    let mut a = alert(Reason::Opened, None);
    assert_eq!(notification_key(&a), None);
    a.notification_id = Some("n-1".into());
    assert_eq!(notification_key(&a).unwrap().pk, "notification#n-1");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Event {
        /// A triggering notification (OPENED, UPDATED or RETRIGGERED) of incident `n`.
        Fire { n: u8, known_start: bool },
        /// ALERT_RESOLVED of incident `n`.
        Resolve { n: u8, known_start: bool },
        /// Time passes.
        Wait { minutes: u16 },
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            4 => (0u8..3, any::<bool>()).prop_map(|(n, known_start)| Event::Fire { n, known_start }),
            1 => (0u8..3, any::<bool>()).prop_map(|(n, known_start)| Event::Resolve { n, known_start }),
            2 => (0u16..90).prop_map(|minutes| Event::Wait { minutes }),
        ]
    }

    fn the_alert(reason: Reason, n: u8, known_start: bool) -> Alert {
        let mut alert = alert(reason, None);
        if known_start {
            alert.started =
                Some(at("2026-11-25T12:00:00Z") + jiff::SignedDuration::from_hours(i64::from(n)));
        }
        alert
    }

    fn run<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    proptest! {
        /// Any interleaving of notifications acts at most once per incident, and never
        /// inside the cooldown.
        #[test]
        fn at_most_once_per_incident_and_never_inside_the_cooldown(
            events in proptest::collection::vec(event(), 1..60),
            cooldown_minutes in proptest::option::of(1u16..120),
        ) {
            let cooldown = cooldown_minutes.map(|m| HumanDuration::new(Duration::from_secs(u64::from(m) * 60)));
            let acted = run(async {
                let ledger = Ledger::in_memory(None);
                let mut now = at("2026-11-25T12:00:00Z");
                // Actions: (time, known-start incident n, or the resolve segment).
                let mut acted: Vec<(Timestamp, Option<u8>, usize)> = Vec::new();
                let mut segment = 0usize;
                for (i, event) in events.iter().enumerate() {
                    match *event {
                        Event::Wait { minutes } => now += jiff::SignedDuration::from_mins(i64::from(minutes)),
                        Event::Resolve { n, known_start } => {
                            // Any ALERT_RESOLVED ends the alert's current incident, so
                            // incidents without a start time start a new segment.
                            ledger.resolve(&the_alert(Reason::Resolved, n, known_start), now).await.unwrap();
                            segment += 1;
                        }
                        Event::Fire { n, known_start } => {
                            let incident = Incident::of(&the_alert(Reason::Opened, n, known_start));
                            let request = format!("r{i}");
                            let attempt = Attempt {
                                rule: "checkout-errors",
                                target: "checkout:live",
                                cooldown,
                                incident: &incident,
                                request_id: &request,
                                pending_for: Duration::from_secs(60),
                            };
                            // An action that acts keeps its claims.
                            if let Admission::Admitted(claims) = ledger.admit(&attempt, now).await.unwrap() {
                                ledger.keep(&claims, now).await.unwrap();
                                acted.push((now, known_start.then_some(n), segment));
                            }
                        }
                    }
                }
                acted
            });
            for n in 0u8..3 {
                let per_incident = acted.iter().filter(|a| a.1 == Some(n)).count();
                prop_assert!(per_incident <= 1, "incident {} acted {} times: {:?}", n, per_incident, acted);
            }
            let mut unknown: Vec<usize> = acted.iter().filter(|a| a.1.is_none()).map(|a| a.2).collect();
            let before = unknown.len();
            unknown.dedup();
            prop_assert_eq!(before, unknown.len(), "an incident without a start time acted twice before ALERT_RESOLVED: {:?}", acted);
            if let Some(cooldown) = cooldown {
                for pair in acted.windows(2) {
                    let gap = pair[1].0.duration_since(pair[0].0);
                    prop_assert!(gap.unsigned_abs() >= cooldown.get(), "acted {:?} apart inside a {} cooldown: {:?}", gap, cooldown, acted);
                }
            }
        }

        /// In any window, at most `max_actions` actions are admitted.
        #[test]
        fn the_circuit_breaker_never_admits_more_than_max_actions_in_any_window(
            gaps in proptest::collection::vec(0u16..40, 1..40),
            max_actions in 1u32..6,
            window_minutes in 1u16..120,
        ) {
            let window = HumanDuration::new(Duration::from_secs(u64::from(window_minutes) * 60));
            let acted = run(async {
                let ledger = Ledger::in_memory(Some(CircuitBreaker { max_actions, window }));
                let mut now = at("2026-11-25T12:00:00Z");
                let mut acted = Vec::new();
                for (i, gap) in gaps.iter().enumerate() {
                    now += jiff::SignedDuration::from_mins(i64::from(*gap));
                    // A new incident each time, so only the breaker can refuse.
                    let mut alert = alert(Reason::Opened, None);
                    alert.started = Some(now);
                    let incident = Incident::of(&alert);
                    let request = format!("r{i}");
                    let attempt = Attempt {
                        rule: "r",
                        target: "t",
                        cooldown: None,
                        incident: &incident,
                        request_id: &request,
                        pending_for: Duration::from_secs(60),
                    };
                    if let Admission::Admitted(claims) = ledger.admit(&attempt, now).await.unwrap() {
                        ledger.keep(&claims, now).await.unwrap();
                        acted.push(now);
                    }
                }
                acted
            });
            for (i, t) in acted.iter().enumerate() {
                let in_window = acted[..=i]
                    .iter()
                    .filter(|earlier| t.duration_since(**earlier).unsigned_abs() < window.get())
                    .count();
                prop_assert!(in_window <= max_actions as usize, "{} actions within {} before {}: {:?}", in_window, window, t, acted);
            }
            // And it is not stuck shut: the first action is always admitted.
            prop_assert!(!acted.is_empty());
        }
    }
}

#[test]
fn one_firing_is_one_incident_whether_its_start_came_as_a_string_or_an_epoch() {
    // The shipped template's startedTime, and another template's startedEpochMillis of the
    // same firing, which carries milliseconds the string does not.
    let by_string = Alert::parse(
        br#"{"name":"a","reason":"ALERT_OPENED","alertId":"1",
            "startedTime":"09/12/2020 21:47:39 +0000"}"#,
    )
    .unwrap();
    let by_epoch = Alert::parse(
        br#"{"name":"a","reason":"ALERT_OPENED","alertId":"1",
            "startedEpochMillis":1599947259734}"#,
    )
    .unwrap();
    assert_eq!(Incident::of(&by_string), Incident::of(&by_epoch));
}

#[test]
fn keys_stay_within_dynamodb_limits_however_long_the_alert_data() {
    // 1,024 characters (the payload's limit) of three bytes each: 3,072 bytes.
    let long = "€".repeat(1024);
    let body = serde_json::json!({
        "name": long, "reason": "ALERT_OPENED", "notificationId": long,
        "startedTime": "09/12/2020 21:47:39 +0000",
    });
    let alert = Alert::parse(body.to_string().as_bytes()).unwrap();
    let key = notification_key(&alert).unwrap();
    assert!(key.pk.len() <= MAX_PK_BYTES, "{}", key.pk.len());
    assert!(key.pk.starts_with("notification#€€"), "{}", key.pk);
    // The same id, the same key; another id with the same first thousand characters, another.
    assert_eq!(notification_key(&alert), Some(key.clone()));
    let other = serde_json::json!({
        "name": "n", "reason": "ALERT_OPENED", "notificationId": format!("{}x", "€".repeat(1023)),
    });
    let other = Alert::parse(other.to_string().as_bytes()).unwrap();
    assert_ne!(notification_key(&other), Some(key));
    // The incident, named by the alert's name when it has no id, and every key under it.
    let pk = Incident::of(&alert).pk();
    assert!(pk.len() <= MAX_PK_BYTES, "{}", pk.len());
    assert_eq!(Key::new(pk.clone(), "latch").pk, pk);
    assert!(Key::new("p", "s".repeat(5000)).sk.len() <= MAX_SK_BYTES);
    // Short keys are as they were.
    assert_eq!(Key::new("notification#n-1", "-").pk, "notification#n-1");
}

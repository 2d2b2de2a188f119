//! The ledger's semantics, run against both stores: moto server's DynamoDB and memory.
//! Then the property that matters, under concurrency: several deliveries of one alert at
//! once produce exactly one action.

use std::sync::Arc;

use jiff::Timestamp;
use wavefront_responder::alert::Alert;
use wavefront_responder::duration::HumanDuration;
use wavefront_responder::ledger::dynamodb::DynamoStore;
use wavefront_responder::ledger::memory::MemoryStore;
use wavefront_responder::ledger::{
    Admission, Attempt, CircuitBreaker, Guard, Incident, Ledger, Store, notification_key,
};

use crate::moto;

async fn dynamodb_ledger(circuit: Option<CircuitBreaker>) -> (Ledger, String) {
    let aws = moto::aws().await;
    let table = moto::ledger_table(&aws).await;
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(aws.dynamodb.clone(), &table));
    (
        Ledger::new(store, HumanDuration::parse("7d").unwrap(), circuit),
        table,
    )
}

fn memory_ledger(circuit: Option<CircuitBreaker>) -> Ledger {
    Ledger::new(
        Arc::new(MemoryStore::default()),
        HumanDuration::parse("7d").unwrap(),
        circuit,
    )
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn alert(reason: &str, started: Option<&str>, notification: Option<&str>) -> Alert {
    let mut json = serde_json::json!({"alertId": "1700000000001", "name": "checkout errors", "reason": reason});
    if let Some(started) = started {
        json["startedTime"] = started.into();
    }
    if let Some(id) = notification {
        json["notificationId"] = id.into();
    }
    Alert::parse(json.to_string().as_bytes()).unwrap()
}

fn attempt<'a>(
    incident: &'a Incident,
    target: &'a str,
    cooldown: Option<&str>,
    request_id: &'a str,
) -> Attempt<'a> {
    Attempt {
        rule: "checkout-errors",
        target,
        cooldown: cooldown.and_then(|c| HumanDuration::parse(c).ok()),
        incident,
        request_id,
    }
}

fn breaker(max_actions: u32, window: &str) -> Option<CircuitBreaker> {
    Some(CircuitBreaker {
        max_actions,
        window: HumanDuration::parse(window).unwrap(),
    })
}

fn refused(admission: Admission) -> (Guard, String) {
    match admission {
        Admission::Refused { guard, detail } => (guard, detail),
        Admission::Admitted(_) => panic!("expected a refusal"),
    }
}

/// The suite: the same assertions for every store.
async fn semantics(ledger: Ledger) {
    let now = at("2026-11-25T20:00:00Z");

    // De-duplication: one winner per notification; released, it can be claimed again.
    let opened = alert(
        "ALERT_OPENED",
        Some("11/25/2026 19:58:00 +0000"),
        Some("n-1"),
    );
    let key = notification_key(&opened).unwrap();
    assert!(
        ledger
            .claim_notification(&key, &opened, "r1", now)
            .await
            .unwrap()
            .is_none()
    );
    let earlier = ledger
        .claim_notification(&key, &opened, "r2", now)
        .await
        .unwrap();
    assert_eq!(earlier.map(|e| e.claimed_by).as_deref(), Some("r1"));

    // Once per incident and target.
    let incident = Incident::of(&opened);
    assert!(matches!(
        ledger
            .admit(&attempt(&incident, "checkout:live", None, "r1"), now)
            .await
            .unwrap(),
        Admission::Admitted(_)
    ));
    let (guard, _) = refused(
        ledger
            .admit(&attempt(&incident, "checkout:live", None, "r2"), now)
            .await
            .unwrap(),
    );
    assert_eq!(guard, Guard::IncidentLatch);
    // Another target of the same rule is its own latch.
    assert!(matches!(
        ledger
            .admit(
                &attempt(&incident, "checkout/checkout-prod", None, "r2"),
                now
            )
            .await
            .unwrap(),
        Admission::Admitted(_)
    ));

    // Cooldown: a new incident inside it is refused; after it, admitted.
    let first = Incident::of(&alert(
        "ALERT_OPENED",
        Some("11/25/2026 19:00:00 +0000"),
        None,
    ));
    let second = Incident::of(&alert(
        "ALERT_OPENED",
        Some("11/25/2026 20:10:00 +0000"),
        None,
    ));
    let third = Incident::of(&alert(
        "ALERT_OPENED",
        Some("11/25/2026 20:40:00 +0000"),
        None,
    ));
    assert!(matches!(
        ledger
            .admit(&attempt(&first, "payments:live", Some("30m"), "r3"), now)
            .await
            .unwrap(),
        Admission::Admitted(_)
    ));
    let (guard, detail) = refused(
        ledger
            .admit(
                &attempt(&second, "payments:live", Some("30m"), "r4"),
                at("2026-11-25T20:10:00Z"),
            )
            .await
            .unwrap(),
    );
    assert_eq!(guard, Guard::Cooldown);
    assert!(
        detail.contains("cooldown 30m ends at 2026-11-25T20:30:00Z"),
        "{detail}"
    );
    // The refused attempt took no latch for its incident: it may act once the cooldown ends.
    assert!(matches!(
        ledger
            .admit(
                &attempt(&second, "payments:live", Some("30m"), "r5"),
                at("2026-11-25T20:30:01Z")
            )
            .await
            .unwrap(),
        Admission::Admitted(_)
    ));
    let (guard, _) = refused(
        ledger
            .admit(
                &attempt(&third, "payments:live", Some("30m"), "r6"),
                at("2026-11-25T20:40:00Z"),
            )
            .await
            .unwrap(),
    );
    assert_eq!(guard, Guard::Cooldown);

    // ALERT_RESOLVED ends an incident that had no start time.
    let unknown = Incident::of(&alert("ALERT_OPENED", None, None));
    assert!(matches!(
        ledger
            .admit(&attempt(&unknown, "search:live", None, "r7"), now)
            .await
            .unwrap(),
        Admission::Admitted(_)
    ));
    assert_eq!(
        ledger
            .resolve(&alert("ALERT_RESOLVED", None, None))
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        ledger
            .admit(&attempt(&unknown, "search:live", None, "r8"), now)
            .await
            .unwrap(),
        Admission::Admitted(_)
    ));

    // Operators see every entry and can clear them.
    let entries = ledger.list().await.unwrap();
    assert!(entries.len() >= 6, "{entries:?}");
    assert!(entries.iter().any(|e| e.key.pk == "notification#n-1"));
    assert!(ledger.clear(false).await.unwrap() >= 6);
    assert!(ledger.list().await.unwrap().is_empty());
}

/// The circuit breaker for every store: a sliding window of `max_actions` slots.
async fn circuit(ledger: Ledger) {
    let start = at("2026-11-25T20:00:00Z");
    let incident = |n: u32| {
        Incident::of(&alert(
            "ALERT_OPENED",
            Some(&format!("11/25/2026 19:{:02}:00 +0000", n)),
            None,
        ))
    };
    for n in 0..3 {
        let i = incident(n);
        let when = start + jiff::SignedDuration::from_mins(i64::from(n) * 10);
        assert!(matches!(
            ledger
                .admit(&attempt(&i, "checkout:live", None, "r"), when)
                .await
                .unwrap(),
            Admission::Admitted(_)
        ));
    }
    let blocked = incident(10);
    let (guard, detail) = refused(
        ledger
            .admit(
                &attempt(&blocked, "checkout:live", None, "r"),
                at("2026-11-25T20:30:00Z"),
            )
            .await
            .unwrap(),
    );
    assert_eq!(guard, Guard::CircuitOpen);
    assert!(
        detail.contains("it closes at 2026-11-25T21:00:00Z"),
        "{detail}"
    );
    assert!(detail.contains("ledger clear --circuit"), "{detail}");
    // The first action leaves the window at 21:00: one slot frees up.
    assert!(matches!(
        ledger
            .admit(
                &attempt(&blocked, "checkout:live", None, "r"),
                at("2026-11-25T21:00:00Z")
            )
            .await
            .unwrap(),
        Admission::Admitted(_)
    ));
    // An operator reset closes it at once.
    let reset = incident(20);
    assert!(matches!(
        ledger
            .admit(
                &attempt(&reset, "checkout:live", None, "r"),
                at("2026-11-25T21:01:00Z")
            )
            .await
            .unwrap(),
        Admission::Refused {
            guard: Guard::CircuitOpen,
            ..
        }
    ));
    assert_eq!(ledger.clear(true).await.unwrap(), 3);
    assert!(matches!(
        ledger
            .admit(
                &attempt(&reset, "checkout:live", None, "r"),
                at("2026-11-25T21:01:00Z")
            )
            .await
            .unwrap(),
        Admission::Admitted(_)
    ));
}

#[tokio::test]
async fn ledger_semantics_in_memory() {
    semantics(memory_ledger(None)).await;
}

#[tokio::test]
async fn ledger_semantics_in_dynamodb() {
    semantics(dynamodb_ledger(None).await.0).await;
}

#[tokio::test]
async fn circuit_breaker_in_memory() {
    circuit(memory_ledger(breaker(3, "1h"))).await;
}

#[tokio::test]
async fn circuit_breaker_in_dynamodb() {
    circuit(dynamodb_ledger(breaker(3, "1h")).await.0).await;
}

#[tokio::test]
async fn dynamodb_items_carry_the_ttl_attribute() {
    let (ledger, table) = dynamodb_ledger(None).await;
    let aws = moto::aws().await;
    let opened = alert(
        "ALERT_OPENED",
        Some("11/25/2026 19:58:00 +0000"),
        Some("n-ttl"),
    );
    let now = at("2026-11-25T20:00:00Z");
    let key = notification_key(&opened).unwrap();
    let expires = || async {
        let item = aws
            .dynamodb
            .get_item()
            .table_name(&table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S("notification#n-ttl".into()),
            )
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("-".into()))
            .send()
            .await
            .unwrap()
            .item
            .expect("the claim is stored");
        item["expires_at"].as_n().unwrap().parse::<i64>().unwrap()
    };
    // Claimed while handled: 15 minutes; remembered once handled: the 7-day retention.
    ledger
        .claim_notification(&key, &opened, "r1", now)
        .await
        .unwrap();
    assert_eq!(expires().await, now.as_second() + 15 * 60);
    ledger
        .confirm_notification(&key, &opened, "r1", now)
        .await
        .unwrap();
    assert_eq!(expires().await, now.as_second() + 7 * 24 * 3600);
    let ttl = aws
        .dynamodb
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description.unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    // An expired claim counts as absent even before DynamoDB deletes it.
    let later = at("2026-12-03T20:00:01Z");
    assert!(
        ledger
            .claim_notification(&key, &opened, "r2", later)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_table_that_does_not_exist_is_an_error_that_names_it() {
    let aws = moto::aws().await;
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(aws.dynamodb.clone(), "no-such-ledger"));
    let ledger = Ledger::new(store, HumanDuration::parse("1h").unwrap(), None);
    let opened = alert("ALERT_OPENED", None, Some("n-x"));
    let err = ledger
        .claim_notification(
            &notification_key(&opened).unwrap(),
            &opened,
            "r",
            Timestamp::now(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("ledger PutItem failed: ResourceNotFoundException"),
        "{err}"
    );
}

/// Eight instances admit eight different incidents at once; the breaker allows three.
async fn concurrent_circuit_claims(ledgers: Vec<Ledger>) {
    let now = at("2026-11-25T20:00:00Z");
    let mut tasks = tokio::task::JoinSet::new();
    for (n, ledger) in ledgers.into_iter().enumerate() {
        tasks.spawn(async move {
            let incident = Incident::of(&alert(
                "ALERT_OPENED",
                Some(&format!("11/25/2026 19:{:02}:00 +0000", n)),
                None,
            ));
            let target = format!("service-{n}:live");
            let request = format!("r{n}");
            let attempt = attempt(&incident, &target, None, &request);
            matches!(
                ledger.admit(&attempt, now).await.unwrap(),
                Admission::Admitted(_)
            )
        });
    }
    let mut admitted = 0;
    while let Some(result) = tasks.join_next().await {
        admitted += usize::from(result.unwrap());
    }
    assert_eq!(admitted, 3, "the breaker's three slots, no more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_never_overfill_the_circuit_in_memory() {
    let shared = memory_ledger(breaker(3, "1h"));
    concurrent_circuit_claims(vec![shared; 8]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_never_overfill_the_circuit_in_dynamodb() {
    let (first, table) = dynamodb_ledger(breaker(3, "1h")).await;
    let aws = moto::aws().await;
    let mut ledgers = vec![first];
    for _ in 1..8 {
        let store: Arc<dyn Store> = Arc::new(DynamoStore::new(aws.dynamodb.clone(), &table));
        ledgers.push(Ledger::new(
            store,
            HumanDuration::parse("7d").unwrap(),
            breaker(3, "1h"),
        ));
    }
    concurrent_circuit_claims(ledgers).await;
}

#[tokio::test]
async fn an_attempt_cut_short_gives_back_what_it_held() {
    let ledger = memory_ledger(breaker(2, "1h"));
    let now = at("2026-11-25T20:00:00Z");
    let incident = Incident::of(&alert(
        "ALERT_OPENED",
        Some("11/25/2026 19:58:00 +0000"),
        None,
    ));
    let ours = attempt(&incident, "checkout:live", Some("30m"), "cut-short");
    assert!(matches!(
        ledger.admit(&ours, now).await.unwrap(),
        Admission::Admitted(_)
    ));
    // Someone else's claim on another target stays.
    let other = Incident::of(&alert(
        "ALERT_OPENED",
        Some("11/25/2026 19:00:00 +0000"),
        None,
    ));
    let theirs = attempt(&other, "payments:live", None, "other");
    assert!(matches!(
        ledger.admit(&theirs, now).await.unwrap(),
        Admission::Admitted(_)
    ));
    assert_eq!(ledger.list().await.unwrap().len(), 5);

    ledger.release_attempt(&ours).await.unwrap();
    let left: Vec<String> = ledger
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.claimed_by)
        .collect();
    assert_eq!(
        left,
        ["other", "other"],
        "latch and slot of the other request"
    );
    assert!(matches!(
        ledger.admit(&ours, now).await.unwrap(),
        Admission::Admitted(_)
    ));
}

//! The ledger's semantics, run against both stores: moto server's DynamoDB and memory.
//! Then the property that matters, under concurrency: several deliveries of one alert at
//! once produce exactly one action.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jiff::Timestamp;
use wavefront_responder::alert::Alert;
use wavefront_responder::duration::HumanDuration;
use wavefront_responder::ledger::dynamodb::DynamoStore;
use wavefront_responder::ledger::memory::MemoryStore;
use wavefront_responder::ledger::{
    Admission, Attempt, BoxFuture, CircuitBreaker, Claims, Entry, Guard, Incident, Key, Ledger,
    LedgerError, Refusal, Store, notification_key,
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
        pending_for: std::time::Duration::from_secs(60),
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
        Admission::Refused(Refusal { guard, detail, .. }) => (guard, detail),
        Admission::Admitted(_) => panic!("expected a refusal"),
    }
}

/// Admits an action that then acts: it keeps its claims.
async fn acted(ledger: &Ledger, attempt: &Attempt<'_>, now: Timestamp) {
    let Admission::Admitted(claims) = ledger.admit(attempt, now).await.unwrap() else {
        panic!("{attempt:?} is admitted");
    };
    ledger.keep(&claims, now).await.unwrap();
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
    acted(
        &ledger,
        &attempt(&incident, "checkout:live", None, "r1"),
        now,
    )
    .await;
    let (guard, _) = refused(
        ledger
            .admit(&attempt(&incident, "checkout:live", None, "r2"), now)
            .await
            .unwrap(),
    );
    assert_eq!(guard, Guard::IncidentLatch);
    // Another target of the same rule is its own latch.
    acted(
        &ledger,
        &attempt(&incident, "checkout/checkout-prod", None, "r2"),
        now,
    )
    .await;

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
    acted(
        &ledger,
        &attempt(&first, "payments:live", Some("30m"), "r3"),
        now,
    )
    .await;
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
    acted(
        &ledger,
        &attempt(&second, "payments:live", Some("30m"), "r5"),
        at("2026-11-25T20:30:01Z"),
    )
    .await;
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
    acted(&ledger, &attempt(&unknown, "search:live", None, "r7"), now).await;
    // A late one, of an incident that ended before this latch was taken, leaves it.
    let mut late = alert("ALERT_RESOLVED", None, None);
    late.ended = Some(at("2026-11-25T19:30:00Z"));
    assert_eq!(ledger.resolve(&late, now).await.unwrap().latches, 0);
    assert_eq!(
        ledger
            .resolve(&alert("ALERT_RESOLVED", None, None), now)
            .await
            .unwrap()
            .latches,
        1
    );
    acted(&ledger, &attempt(&unknown, "search:live", None, "r8"), now).await;

    // Operators see the entries and can clear them. (An expired one, like the delivery n-1
    // that was never confirmed, is listed until it is dropped: by DynamoDB's TTL, or, in
    // memory, by the next claim a minute on.)
    let entries = ledger.list().await.unwrap();
    assert!(entries.len() >= 6, "{entries:?}");
    assert!(
        entries
            .iter()
            .any(|e| e.key.pk.starts_with("incident#1700000000001#")),
        "{entries:?}"
    );
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
    // How to reset it depends on where it lives: `ledger clear` reaches a table only.
    if ledger.describe().starts_with("in memory") {
        assert!(
            detail.ends_with(
                "or restarting the process resets it (this ledger is in memory, where `ledger \
                 clear` cannot reach it)"
            ),
            "{detail}"
        );
    } else {
        assert!(
            detail.ends_with(
                "or an operator resets it with `wavefront-responder ledger clear --circuit`"
            ),
            "{detail}"
        );
    }
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
        Admission::Refused(Refusal {
            guard: Guard::CircuitOpen,
            ..
        })
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

/// A store whose `silent_at`th claim (0-based) is written but never answered: the answer is
/// lost after the write landed, and the caller is cut off waiting.
#[derive(Debug)]
struct Unanswered {
    inner: Arc<dyn Store>,
    silent_at: usize,
    claims: AtomicUsize,
}

impl Store for Unanswered {
    fn claim<'a>(
        &'a self,
        entry: &'a Entry,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<Entry>, LedgerError>> {
        Box::pin(async move {
            let result = self.inner.claim(entry, now).await;
            if self.claims.fetch_add(1, Ordering::SeqCst) == self.silent_at {
                std::future::pending::<()>().await;
            }
            result
        })
    }

    fn renew<'a>(&'a self, entry: &'a Entry) -> BoxFuture<'a, Result<(), LedgerError>> {
        self.inner.renew(entry)
    }

    fn release<'a>(
        &'a self,
        key: &'a Key,
        claimed_by: &'a str,
        claim_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), LedgerError>> {
        self.inner.release(key, claimed_by, claim_id)
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [Key],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Entry>, LedgerError>> {
        self.inner.get_many(keys, now)
    }

    fn query<'a>(&'a self, pk: &'a str) -> BoxFuture<'a, Result<Vec<Entry>, LedgerError>> {
        self.inner.query(pk)
    }

    fn scan(&self) -> BoxFuture<'_, Result<Vec<Entry>, LedgerError>> {
        self.inner.scan()
    }

    fn put<'a>(&'a self, entry: &'a Entry) -> BoxFuture<'a, Result<(), LedgerError>> {
        self.inner.put(entry)
    }

    fn delete<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<(), LedgerError>> {
        self.inner.delete(key)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn in_process(&self) -> bool {
        self.inner.in_process()
    }
}

/// Two actions of one request: the first changed something and keeps its claims; the second
/// is cut off after its circuit slot was written but before the write answered. Giving back
/// the second's claims leaves the first's latch and slot, and another request's, alone.
async fn an_action_cut_short_gives_back_only_its_own_claims(store: Arc<dyn Store>) {
    // The first action's claims (latch, slot) and the other request's (latch, slot) are
    // answered; the second action's third claim, its slot, lands unanswered.
    let unanswered = Arc::new(Unanswered {
        inner: store,
        silent_at: 6,
        claims: AtomicUsize::new(0),
    });
    let ledger = Ledger::new(
        unanswered,
        HumanDuration::parse("7d").unwrap(),
        breaker(5, "1h"),
    );
    let now = at("2026-11-25T20:00:00Z");
    let incident = Incident::of(&alert(
        "ALERT_OPENED",
        Some("11/25/2026 19:58:00 +0000"),
        None,
    ));
    let first = attempt(&incident, "checkout:live", None, "req-1");
    let Admission::Admitted(_kept) = ledger.admit(&first, now).await.unwrap() else {
        panic!("the first action is admitted");
    };
    let other = Incident::of(&alert(
        "ALERT_OPENED",
        Some("11/25/2026 19:00:00 +0000"),
        None,
    ));
    let theirs = attempt(&other, "payments:live", None, "req-0");
    assert!(matches!(
        ledger.admit(&theirs, now).await.unwrap(),
        Admission::Admitted(_)
    ));

    let second = attempt(&incident, "checkout/checkout-prod", Some("30m"), "req-1");
    let mut claims = Claims::new("req-1");
    let admission = ledger.admit_into(&second, now, &mut claims);
    let cut = tokio::time::timeout(std::time::Duration::from_millis(300), admission).await;
    assert!(cut.is_err(), "the slot's write never answers");
    // Latch, cooldown and slot were written for the second action.
    assert_eq!(ledger.list().await.unwrap().len(), 7);

    ledger.release(claims).await.unwrap();
    let mut left: Vec<(String, String)> = ledger
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.claimed_by, e.note))
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            (
                "req-0".into(),
                "checkout-errors acted on payments:live".into()
            ),
            (
                "req-0".into(),
                "checkout-errors acted on payments:live".into()
            ),
            (
                "req-1".into(),
                "checkout-errors acted on checkout:live".into()
            ),
            (
                "req-1".into(),
                "checkout-errors acted on checkout:live".into()
            ),
        ],
        "the latch and slot of the first action, and of the other request"
    );
    // Given back, the second action may act on a retry.
    assert!(matches!(
        ledger
            .admit(
                &attempt(&incident, "checkout/checkout-prod", Some("30m"), "req-2"),
                now
            )
            .await
            .unwrap(),
        Admission::Admitted(_)
    ));
}

#[tokio::test]
async fn an_action_cut_short_gives_back_only_its_own_claims_in_memory() {
    an_action_cut_short_gives_back_only_its_own_claims(Arc::new(MemoryStore::default())).await;
}

#[tokio::test]
async fn an_action_cut_short_gives_back_only_its_own_claims_in_dynamodb() {
    let aws = moto::aws().await;
    let table = moto::ledger_table(&aws).await;
    an_action_cut_short_gives_back_only_its_own_claims(Arc::new(DynamoStore::new(
        aws.dynamodb.clone(),
        &table,
    )))
    .await;
}

/// A DynamoDB write the SDK sends twice, the first having landed, is the claimer's own: the
/// second finds it and the claim succeeds, instead of a "duplicate" of itself.
#[tokio::test]
async fn a_claim_that_finds_itself_holds_it() {
    let (ledger, _) = dynamodb_ledger(None).await;
    let opened = alert("ALERT_OPENED", None, Some("n-self"));
    let key = notification_key(&opened).unwrap();
    let now = at("2026-11-25T20:00:00Z");
    for _ in 0..2 {
        assert_eq!(
            ledger
                .claim_notification(&key, &opened, "req-self", now)
                .await
                .unwrap(),
            None
        );
    }
    let earlier = ledger
        .claim_notification(&key, &opened, "req-other", now)
        .await
        .unwrap();
    assert_eq!(earlier.map(|e| e.claimed_by).as_deref(), Some("req-self"));
}

/// Giving back an action's claims tries every one of them: a `DeleteItem` throttled past the
/// SDK's retries (the circuit slot's, or any) does not leave the cooldown and the latch held
/// for days. The error returned is the first one.
#[tokio::test]
async fn a_release_that_fails_still_tries_every_claim() {
    let moto = moto::aws().await;
    let table = moto::ledger_table(&moto).await;
    let proxy = crate::proxy::Proxy::start().await;
    let proxied = proxy.aws().await;
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(proxied.dynamodb.clone(), &table));
    let ledger = Ledger::new(store, HumanDuration::parse("7d").unwrap(), breaker(5, "1h"));
    let now = at("2026-11-25T20:00:00Z");
    let incident = Incident::of(&alert(
        "ALERT_OPENED",
        Some("11/25/2026 19:58:00 +0000"),
        None,
    ));
    let Admission::Admitted(claims) = ledger
        .admit(&attempt(&incident, "checkout:live", Some("30m"), "r1"), now)
        .await
        .unwrap()
    else {
        panic!("admitted");
    };
    proxy.take_operations();
    proxy.inject(
        "DeleteItem",
        crate::proxy::Fault::Throttle,
        crate::proxy::Times::Always,
    );
    let err = ledger.release(claims).await.unwrap_err().to_string();
    assert!(
        err.starts_with("ledger DeleteItem failed: ProvisionedThroughputExceededException"),
        "{err}"
    );
    // The slot, the cooldown and the latch: each tried, three attempts each.
    let deletes = proxy.operations();
    assert_eq!(deletes, vec!["DeleteItem"; 9], "{deletes:?}");
}

/// DynamoDB refuses a partition key over 2,048 bytes: an alert whose id and notification id
/// are long (1,024 characters of three bytes each, within the payload's limits) is still
/// de-duplicated and latched.
#[tokio::test]
async fn long_alert_ids_fit_dynamodb_keys() {
    let (ledger, _) = dynamodb_ledger(None).await;
    let long = "€".repeat(1024);
    let body = serde_json::json!({
        "alertId": long, "name": "checkout errors", "reason": "ALERT_OPENED",
        "notificationId": long, "startedTime": "09/12/2020 21:47:39 +0000",
    });
    let opened = Alert::parse(body.to_string().as_bytes()).unwrap();
    let key = notification_key(&opened).unwrap();
    let now = at("2026-01-01T00:00:00Z");
    let first = ledger.claim_notification(&key, &opened, "r1", now).await;
    assert_eq!(first.unwrap(), None);
    let again = ledger.claim_notification(&key, &opened, "r2", now).await;
    assert_eq!(again.unwrap().map(|e| e.claimed_by), Some("r1".to_owned()));
    let incident = Incident::of(&opened);
    acted(
        &ledger,
        &attempt(&incident, "checkout:live", None, "r1"),
        now,
    )
    .await;
    let latched = ledger
        .admit(&attempt(&incident, "checkout:live", None, "r2"), now)
        .await
        .unwrap();
    assert!(
        matches!(latched, Admission::Refused(ref r) if r.guard == Guard::IncidentLatch),
        "{latched:?}"
    );
}

//! AWS misbehaving under a live action, through the fault-injecting proxy in front of moto:
//! throttling, 5xx answers, stalls, connections closed mid-request and an emulator that
//! vanishes, on the Lambda calls of a `lambda-alias` action and on the ledger's DynamoDB
//! calls, with the responder's production retry and timeout settings.
//!
//! Every test checks the same things: the request ends inside its time budget, the status
//! (200, or 502 when the action failed), the action's outcome and a detail an on-call engineer
//! can act on, exactly one audit line saying the same, and, read back from moto directly, that
//! the alias did not move when the outcome says it did not. `end_to_end.rs` covers an emulator
//! gone before the request and a whole service stalled; these cover faults on one operation,
//! mid-action.

use std::time::{Duration, Instant};

use crate::moto::Aws;
use serde_json::Value;
use wavefront_responder::execute::calls::UNANSWERED_CHANGE;
use wavefront_responder::ledger::Ledger;

use crate::moto::{self, alias, alias_state};
use crate::proxy::{self, ANY, Fault, LedgerKind, Proxy, Times};
use crate::support::*;
use wavefront_responder::execute::Timing;

/// A time budget (seconds) in which the SDK's three attempts and their jittered backoff (at
/// most 1 s + 2 s) finish: the faults decide these outcomes, not the budget.
const ROOMY: u64 = 8;
/// A time budget for stalls: the budget is what ends them.
const SHORT: u64 = 2;

/// How far past the budget a run may go, and how long a cut-off write gets, for the tests
/// whose delayed write must land after the cut-off and inside the grace: both far wider than
/// the service's (2 s, 0.5 s), so that with a write delayed [`PAST_THE_CUT_OFF`] beyond the
/// budget the window holds on any machine, however loaded.
const WIDE: Timing = Timing {
    after_deadline: Duration::from_secs(20),
    claim_grace: Duration::from_secs(15),
};

/// How far past the budget a delayed write lands in the tests that use [`WIDE`]: seconds after
/// the cut-off, seconds before the end of the grace, and, with budgets of at most [`SHORT`],
/// inside the SDK's 5 s per attempt (past it, the SDK would send the write again).
const PAST_THE_CUT_OFF: Duration = Duration::from_secs(2);

/// A responder whose AWS calls all go through a fault-injecting proxy, one rule moving
/// `live` from version 2 back to 1, and a way to read AWS back without the proxy.
struct Scene {
    /// Straight to moto: for reading back what really changed.
    moto: Aws,
    proxy: Proxy,
    function: String,
    budget: Duration,
    /// The executor's overrun and claim grace.
    timing: Timing,
    t: TestResponder,
    /// The responder's ledger, read without the proxy.
    ledger: Ledger,
}

impl Scene {
    async fn new(kind: LedgerKind, budget_secs: u64) -> Self {
        Self::timed(kind, budget_secs, Timing::default()).await
    }

    /// [`Scene::new`], its executor with `timing`.
    async fn timed(kind: LedgerKind, budget_secs: u64, timing: Timing) -> Self {
        let moto = moto::aws().await;
        let function = moto::function_with_versions(&moto, 2).await;
        alias(&moto, &function, "live", "2", &[]).await;
        let config = checkout_rule(
            &format!("{budget_secs}s"),
            &[move_live_action(&function, r#"to_version = "1""#)],
        );
        let proxy = Proxy::start().await;
        let (t, ledger) = proxy.responder_timed(config, kind, timing).await;
        Self {
            moto,
            proxy,
            function,
            budget: Duration::from_secs(budget_secs),
            timing,
            t,
            ledger,
        }
    }

    /// Sends the checkout alert, firing since after the release was made; checks the answer
    /// came inside the budget and that exactly one audit line agrees with the action's record.
    async fn fire(&self) -> Reply {
        let body = firing();
        let started = Instant::now();
        let reply = self.t.post_with_token(&body).await;
        let elapsed = started.elapsed();
        // A correctness bound, not a benchmark: the budget, plus the second settling the
        // ledger may take after it, plus slack for a loaded machine. A call left to the SDK's
        // own timeouts takes 10 s.
        let bound = self.budget + self.timing.after_deadline + Duration::from_secs(3);
        assert!(
            elapsed < bound,
            "answered after {elapsed:?}, budget {:?}: {}",
            self.budget,
            reply.text
        );
        let audits = self.t.audits();
        assert_eq!(audits.len(), 1, "one audit line per decision: {audits:?}");
        let action = action(&reply);
        assert_eq!(audits[0]["outcome"], action["outcome"], "{}", reply.text);
        assert_eq!(audits[0]["detail"], action["detail"], "{}", reply.text);
        assert_eq!(audits[0]["target"], format!("{}:live", self.function));
        reply
    }

    /// Checks the operations the proxy saw, retries included: `calls`, separated by spaces,
    /// as [`proxy::assert_calls`] compares them, ledger calls sent at once in brackets (see
    /// [`sent_at_once`]).
    #[track_caller]
    fn assert_calls(&self, calls: &str) {
        let (seen, calls) = sent_at_once(&self.proxy.operations(), calls);
        proxy::assert_calls(&seen, &calls);
    }

    /// Where `live` points, read from moto, not through the proxy.
    async fn live(&self) -> String {
        alias_state(&self.moto, &self.function, "live").await.0
    }

    /// Partition keys of the ledger's entries, read without the proxy.
    async fn held(&self) -> Vec<String> {
        ledger_keys(&self.ledger).await
    }
}

fn action(reply: &Reply) -> &Value {
    &reply.json["rules"][0]["actions"][0]
}

fn detail(reply: &Reply) -> &str {
    action(reply)["detail"].as_str().unwrap_or_default()
}

#[track_caller]
fn executed(reply: &Reply) {
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(action(reply)["outcome"], "executed", "{}", reply.text);
    assert_eq!(detail(reply), "moved live 2 -> 1");
}

/// Checks the action, and so the request, failed with a detail that starts with `detail_start`.
#[track_caller]
fn failed(reply: &Reply, detail_start: &str) {
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.json["outcome"], "failed", "{}", reply.text);
    assert_eq!(action(reply)["outcome"], "failed", "{}", reply.text);
    assert!(detail(reply).starts_with(detail_start), "{}", reply.text);
}

#[track_caller]
fn detail_ends(reply: &Reply, detail_end: &str) {
    assert!(detail(reply).ends_with(detail_end), "{}", reply.text);
}

/// Checks the request's notes say `note`.
#[track_caller]
fn notes_say(reply: &Reply, note: &str) {
    let notes = reply.json["notes"].to_string();
    assert!(notes.contains(note), "{}", reply.text);
}

/// The Lambda calls of moving `live` to version 1: read the alias; at once, check version 1
/// exists and read when version 2, which `live` routes traffic to, was published (the
/// attribution guard); then update.
const MOVE: &str = "GetAlias GetFunctionConfiguration GetFunctionConfiguration UpdateAlias";

// --- Lambda: throttling ---------------------------------------------------------------------

#[tokio::test]
async fn throttled_reads_are_retried_and_the_alias_moves() {
    let s = Scene::new(LedgerKind::Memory, ROOMY).await;
    s.proxy.inject("GetAlias", Fault::Throttle, Times::First(2));
    let reply = s.fire().await;
    executed(&reply);
    // Two throttled attempts, then the SDK's third succeeds.
    s.assert_calls(
        "GetAlias GetAlias GetAlias GetFunctionConfiguration GetFunctionConfiguration UpdateAlias",
    );
    assert_eq!(s.live().await, "1");
}

#[tokio::test]
async fn an_update_throttled_past_the_retries_fails_naming_the_call_and_moves_nothing() {
    let s = Scene::new(LedgerKind::Memory, ROOMY).await;
    s.proxy
        .inject("UpdateAlias", Fault::Throttle, Times::Always);
    let reply = s.fire().await;
    failed(
        &reply,
        "UpdateAlias: TooManyRequestsException: Rate exceeded (request id fault-",
    );
    // Three attempts in all (the SDK's standard retries), no more.
    s.assert_calls(&format!("{MOVE} UpdateAlias UpdateAlias"));
    assert_eq!(s.live().await, "2");
    // Nothing changed: the claims were given back and the delivery forgotten, so Wavefront's
    // retry of this 502 can act.
    assert_eq!(s.held().await, Vec::<String>::new());
}

// --- Lambda: 5xx ----------------------------------------------------------------------------

#[tokio::test]
async fn server_errors_that_pass_are_retried_and_the_alias_moves() {
    let s = Scene::new(LedgerKind::Memory, ROOMY).await;
    s.proxy.inject(
        "GetFunctionConfiguration",
        Fault::Status(500),
        Times::First(1),
    );
    s.proxy
        .inject("UpdateAlias", Fault::Status(503), Times::First(1));
    let reply = s.fire().await;
    executed(&reply);
    // The first of the two version reads is answered 500, and retried.
    s.assert_calls(
        "GetAlias GetFunctionConfiguration GetFunctionConfiguration GetFunctionConfiguration \
         UpdateAlias UpdateAlias",
    );
    assert_eq!(s.live().await, "1");
}

#[tokio::test]
async fn server_errors_past_the_retries_fail_the_action_and_move_nothing() {
    let s = Scene::new(LedgerKind::Memory, ROOMY).await;
    s.proxy
        .inject("GetAlias", Fault::Status(503), Times::Always);
    let reply = s.fire().await;
    failed(
        &reply,
        "GetAlias: ServiceException: Service unavailable, try again later (request id fault-",
    );
    s.assert_calls("GetAlias GetAlias GetAlias");
    assert_eq!(s.live().await, "2");
    assert_eq!(s.held().await, Vec::<String>::new());
}

// --- Lambda: a stall ------------------------------------------------------------------------

#[tokio::test]
async fn a_stalled_update_fails_in_time_says_it_may_have_been_applied_and_keeps_its_claims() {
    let s = Scene::new(LedgerKind::Memory, SHORT).await;
    s.proxy.inject("UpdateAlias", Fault::Stall, Times::Always);
    let reply = s.fire().await;
    failed(&reply, "ran out of time (it had ");
    detail_ends(
        &reply,
        "while UpdateAlias was under way: it may have been applied; check before acting by hand",
    );
    s.assert_calls(MOVE);
    // The stalled request never reached moto.
    assert_eq!(s.live().await, "2");
    // The responder cannot know that: it keeps the incident latch, the cooldown and the
    // breaker's slot, so a retry does not act a second time, and forgets only the delivery.
    let held = s.held().await;
    assert_eq!(held.len(), 3, "{held:?}");
    assert_eq!(held[0], "circuit", "{held:?}");
    let cooldown = format!("cooldown#checkout-errors#{}:live", s.function);
    assert_eq!(held[1], cooldown, "{held:?}");
    assert!(held[2].starts_with("incident#1700000000001#"), "{held:?}");
}

// --- Lambda: connections closed mid-request -------------------------------------------------

#[tokio::test]
async fn connections_closed_mid_request_are_retried_and_the_alias_moves() {
    let s = Scene::new(LedgerKind::Memory, ROOMY).await;
    s.proxy.inject("GetAlias", Fault::Close, Times::First(1));
    s.proxy.inject("UpdateAlias", Fault::Close, Times::First(2));
    let reply = s.fire().await;
    executed(&reply);
    s.assert_calls(&format!("GetAlias {MOVE} UpdateAlias UpdateAlias"));
    assert_eq!(s.live().await, "1");
}

#[tokio::test]
async fn connections_closed_past_the_retries_fail_the_action_and_move_nothing() {
    let s = Scene::new(LedgerKind::Memory, ROOMY).await;
    s.proxy.inject("UpdateAlias", Fault::Close, Times::Always);
    let reply = s.fire().await;
    failed(&reply, "UpdateAlias: no answer from AWS: ");
    // Closed before reaching moto, but the responder cannot tell: it may have been applied.
    detail_ends(&reply, UNANSWERED_CHANGE);
    s.assert_calls(&format!("{MOVE} UpdateAlias UpdateAlias"));
    assert_eq!(s.live().await, "2");
}

// --- Lambda: the emulator vanishes mid-request ----------------------------------------------

#[tokio::test]
async fn an_emulator_that_vanishes_during_the_update_fails_the_action_and_keeps_its_claims() {
    let s = Scene::new(LedgerKind::Memory, ROOMY).await;
    s.proxy.inject("UpdateAlias", Fault::Vanish, Times::Always);
    let reply = s.fire().await;
    failed(&reply, "UpdateAlias: no answer from AWS: ");
    detail_ends(&reply, UNANSWERED_CHANGE);
    // The retries found the port closed: only the first attempt arrived.
    s.assert_calls(MOVE);
    // It vanished before forwarding the update, but the responder cannot know that: with no
    // answer, the update may have been applied, so it keeps the incident latch, the cooldown
    // and the breaker's slot (a retry does not act twice) and forgets only the delivery.
    assert_eq!(s.live().await, "2");
    let held = s.held().await;
    assert_eq!(held.len(), 3, "{held:?}");
    assert_eq!(held[0], "circuit", "{held:?}");
    let cooldown = format!("cooldown#checkout-errors#{}:live", s.function);
    assert_eq!(held[1], cooldown, "{held:?}");
    assert!(held[2].starts_with("incident#1700000000001#"), "{held:?}");
}

// --- The ledger (DynamoDB) ------------------------------------------------------------------

/// The ledger's calls before one live action that moves the alias: claim the delivery while
/// reading the freezes; claim the incident latch; claim the cooldown while reading the circuit
/// breaker; claim a slot.
const CLAIMS: &str = "[PutItem BatchGetItem] PutItem [PutItem Query] PutItem";

/// The ledger's calls after an action that changed something, at once: confirm the delivery,
/// and keep the action's latch and cooldown.
const SETTLE: &str = "[PutItem PutItem PutItem]";

#[tokio::test]
async fn throttled_ledger_writes_are_retried_and_the_action_runs() {
    let s = Scene::new(LedgerKind::DynamoDb, ROOMY).await;
    s.proxy.inject("PutItem", Fault::Throttle, Times::First(2));
    let reply = s.fire().await;
    executed(&reply);
    // The delivery's claim, throttled twice, beside the read of the freezes.
    s.assert_calls(&format!(
        "[PutItem PutItem PutItem BatchGetItem] PutItem [PutItem Query] PutItem {MOVE} {SETTLE}"
    ));
    assert_eq!(s.live().await, "1");
    let held = s.held().await;
    assert_eq!(held.len(), 4, "slot, cooldown, latch, delivery: {held:?}");
    assert!(held[3].starts_with("notification#"), "{held:?}");
}

#[tokio::test]
async fn the_action_reads_and_writes_only_after_a_slow_admission() {
    // Reading the circuit breaker takes 300 ms: the action waits for it and for the slot's
    // claim before it reads or writes anything.
    let s = Scene::new(LedgerKind::DynamoDb, ROOMY).await;
    s.proxy.inject(
        "Query",
        Fault::Delay(Duration::from_millis(300)),
        Times::Nth(1),
    );
    let reply = s.fire().await;
    executed(&reply);
    let calls = s.proxy.operations();
    let at = |operation: &str, nth: usize| {
        calls
            .iter()
            .enumerate()
            .filter(|(_, c)| *c == operation)
            .nth(nth)
            .map(|(i, _)| i)
            .unwrap_or_else(|| panic!("no {operation} #{nth} in {calls:?}"))
    };
    // The incident latch is the second PutItem, the cooldown the third, and the circuit slot
    // the fourth, claimed once the breaker's Query answered; the action's calls come after.
    let slot = at("PutItem", 3);
    assert!(at("Query", 0) < slot, "{calls:?}");
    assert!(at("GetAlias", 0) > slot, "{calls:?}");
    assert!(at("UpdateAlias", 0) > slot, "{calls:?}");
    s.assert_calls(&format!("{CLAIMS} {MOVE} {SETTLE}"));
    assert_eq!(s.live().await, "1");
}

#[tokio::test]
async fn a_read_that_stalls_after_the_admission_fails_in_time_and_gives_back_the_claims() {
    // The action's first read, once the ledger admitted it, never answers: the action's share
    // ends before it could decide anything.
    let s = Scene::new(LedgerKind::DynamoDb, SHORT).await;
    s.proxy.inject("GetAlias", Fault::Stall, Times::Always);
    let reply = s.fire().await;
    failed(&reply, "ran out of time (it had ");
    detail_ends(&reply, "of the time budget) before changing anything");
    // What was left of its share once it was admitted: never nothing.
    assert!(!detail(&reply).contains("it had 0.0s"), "{}", reply.text);
    // Nothing changed: the slot, the cooldown and the latch are given back, and the delivery
    // forgotten.
    s.assert_calls(&format!(
        "{CLAIMS} GetAlias DeleteItem DeleteItem DeleteItem DeleteItem"
    ));
    assert_eq!(s.live().await, "2");
    assert_eq!(s.held().await, Vec::<String>::new());
}

#[tokio::test]
async fn a_ledger_throttled_past_the_retries_runs_nothing() {
    let s = Scene::new(LedgerKind::DynamoDb, ROOMY).await;
    s.proxy.inject("PutItem", Fault::Throttle, Times::Always);
    let reply = s.fire().await;
    failed(
        &reply,
        "not run: ledger PutItem failed: ProvisionedThroughputExceededException: The level of \
         configured provisioned throughput for the table was exceeded.",
    );
    detail_ends(&reply, "; nothing acts without the ledger");
    // Three attempts at claiming the delivery (the freezes read beside them), and not one
    // Lambda call.
    s.assert_calls("[PutItem PutItem PutItem BatchGetItem]");
    assert_eq!(s.live().await, "2");
    assert_eq!(s.held().await, Vec::<String>::new());
}

#[tokio::test]
async fn ledger_server_errors_that_pass_are_retried_and_the_action_runs() {
    let s = Scene::new(LedgerKind::DynamoDb, ROOMY).await;
    // The circuit breaker's read is answered 500 twice.
    s.proxy.inject("Query", Fault::Status(500), Times::Nth(1));
    s.proxy.inject("Query", Fault::Status(500), Times::Nth(2));
    let reply = s.fire().await;
    executed(&reply);
    s.assert_calls(&format!(
        "[PutItem BatchGetItem] PutItem [PutItem Query Query Query] PutItem {MOVE} {SETTLE}"
    ));
    assert_eq!(s.live().await, "1");
}

#[tokio::test]
async fn ledger_server_errors_past_the_retries_run_nothing_and_give_back_the_claims() {
    let s = Scene::new(LedgerKind::DynamoDb, ROOMY).await;
    // The circuit breaker's read fails on every attempt.
    for attempt in 1..=3 {
        s.proxy
            .inject("Query", Fault::Status(503), Times::Nth(attempt));
    }
    let reply = s.fire().await;
    failed(
        &reply,
        "not run: ledger Query failed: ServiceUnavailable: Service unavailable, try again later",
    );
    // The latch and the cooldown, taken before the breaker failed, are given back, then the
    // delivery. The action, never admitted, read nothing and wrote nothing.
    s.assert_calls(
        "[PutItem BatchGetItem] PutItem [PutItem Query Query Query] DeleteItem DeleteItem \
         DeleteItem",
    );
    assert_eq!(s.live().await, "2");
    assert_eq!(s.held().await, Vec::<String>::new());
}

#[tokio::test]
async fn freezes_that_cannot_be_read_run_nothing() {
    let s = Scene::new(LedgerKind::DynamoDb, ROOMY).await;
    // The read of the freezes, beside the delivery's claim, fails on every attempt: no action
    // may run without knowing whether people on call froze the responder.
    s.proxy
        .inject("BatchGetItem", Fault::Status(503), Times::Always);
    let reply = s.fire().await;
    failed(
        &reply,
        "not run: the freezes could not be read (ledger BatchGetItem failed: ServiceUnavailable: \
         Service unavailable, try again later); nothing acts without the ledger",
    );
    // No latch, cooldown or slot was claimed, nothing was read in Lambda, and the delivery
    // was given back so Wavefront's retry can act.
    s.assert_calls("[PutItem BatchGetItem BatchGetItem BatchGetItem] DeleteItem");
    assert_eq!(s.live().await, "2");
    assert_eq!(s.held().await, Vec::<String>::new());
}

#[tokio::test]
async fn a_stalled_ledger_runs_nothing_and_answers_inside_the_budget() {
    let s = Scene::new(LedgerKind::DynamoDb, SHORT).await;
    s.proxy.inject(ANY, Fault::Stall, Times::Always);
    let reply = s.fire().await;
    let whole = "not run: the ledger did not answer in time; nothing acts without the ledger";
    failed(&reply, whole);
    assert_eq!(detail(&reply), whole);
    // The delivery's claim and the read of the freezes beside it stalled, then giving the
    // delivery back did: no Lambda call was made.
    s.assert_calls("[PutItem BatchGetItem] DeleteItem");
    assert_eq!(s.live().await, "2");
    notes_say(
        &reply,
        "could not be settled (the ledger did not answer in time)",
    );
}

#[tokio::test]
async fn a_ledger_that_stalls_after_the_action_still_answers_inside_the_budget() {
    let s = Scene::new(LedgerKind::DynamoDb, SHORT).await;
    // The fifth PutItem (after the delivery, the latch, the cooldown and the slot) confirms
    // the delivery, after the alias moved.
    s.proxy.inject("PutItem", Fault::Stall, Times::Nth(5));
    let reply = s.fire().await;
    executed(&reply);
    notes_say(&reply, "this delivery's ledger entry could not be settled");
    assert_eq!(s.live().await, "1");
}

#[tokio::test]
async fn a_ledger_that_vanishes_mid_claim_runs_nothing() {
    let s = Scene::new(LedgerKind::DynamoDb, ROOMY).await;
    // The second PutItem claims the incident latch.
    s.proxy.inject("PutItem", Fault::Vanish, Times::Nth(2));
    let reply = s.fire().await;
    failed(
        &reply,
        "not run: ledger PutItem failed: no answer from AWS: ",
    );
    s.assert_calls("[PutItem BatchGetItem] PutItem");
    assert_eq!(s.live().await, "2");
    // The delivery could not be forgotten: the record says so, and for how long.
    notes_say(
        &reply,
        "a repeat within 15 minutes is answered as a duplicate",
    );
    let held = s.held().await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(held[0].starts_with("notification#"), "{held:?}");
}

#[tokio::test]
async fn a_ledger_write_that_lands_after_the_cut_off_is_still_given_back() {
    // A one-second budget; the incident latch's write reaches DynamoDB seconds after the
    // cut-off, inside the (widened) grace, as a request on a slow network would. Given back at
    // once, the release would land first and the late write would hold the latch for the
    // retention.
    let s = Scene::timed(LedgerKind::DynamoDb, 1, WIDE).await;
    s.proxy.inject(
        "PutItem",
        Fault::Delay(Duration::from_secs(1) + PAST_THE_CUT_OFF),
        Times::Nth(2),
    );
    let reply = s.fire().await;
    let whole = "not run: the ledger did not answer in time";
    failed(&reply, whole);
    // The late write answered while the admission was let finish: nothing may still land.
    assert_eq!(detail(&reply), whole);
    // The latch (late), and no new call after the cut-off (no cooldown, no circuit query, no
    // slot, which could land after being given back); then the latch and the delivery are
    // given back.
    s.assert_calls("[PutItem BatchGetItem] PutItem DeleteItem DeleteItem");
    assert_eq!(s.live().await, "2");
    // Long after the late write: nothing holds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.held().await, Vec::<String>::new());
}

#[tokio::test]
async fn a_latch_that_lands_after_it_was_given_back_holds_for_a_minute_not_the_retention() {
    // The latch's write reaches DynamoDB 6 s after it was sent: seconds after the cut-off (1 s)
    // and the grace it gets (0.5 s) and the whole run (at most 2 s past the budget), so the
    // release overtakes it, and the late write lands for good.
    let late = Duration::from_secs(6);
    let s = Scene::new(LedgerKind::DynamoDb, 1).await;
    s.proxy.inject("PutItem", Fault::Delay(late), Times::Nth(2));
    let sent_after = tokio::time::Instant::now();
    let reply = s.fire().await;
    failed(&reply, "not run: the ledger did not answer in time");
    // Once the late write has landed (it was sent after `sent_after`), a re-send of the
    // incident finds the latch, pending: the request that claimed it might still give it back,
    // so the refusal is not final. It is answered 503, and its notification is given back for
    // Wavefront to send again.
    tokio::time::sleep_until(sent_after + late + Duration::from_secs(2)).await;
    let resent = opened_as("resent-3s-later", "ALERT_RETRIGGERED");
    let reply = s.t.post_with_token(&resent).await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.json["outcome"], "in_progress");
    assert_eq!(action(&reply)["guard"], "incident_latch");
    let wait: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=70).contains(&wait), "Retry-After {wait}");
    assert!(
        !s.held().await.iter().any(|k| k.contains("resent-3s-later")),
        "the re-send's notification was given back"
    );
    assert_eq!(s.live().await, "2");
    // It lapses within about a minute of the first request's end, not after the retention:
    // a re-send two minutes later acts.
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(2);
    let authorization = bearer(TOKEN);
    let headers = [("authorization", authorization.as_str())];
    let body = opened_as("resent-2m-later", "ALERT_RETRIGGERED");
    let reply =
        s.t.request_at(http::Method::POST, &headers, body.as_bytes(), later)
            .await;
    assert_eq!(action(&reply)["outcome"], "executed", "{}", reply.text);
    assert_eq!(s.live().await, "1");
}

#[tokio::test]
async fn claims_count_from_when_the_action_ran_not_from_when_the_request_arrived() {
    // The delivery's claim takes 1.2 s to answer: the action's latch and cooldown are claimed
    // after it, and their time (and the cooldown's end) counts from then.
    let s = Scene::new(LedgerKind::DynamoDb, ROOMY).await;
    s.proxy.inject(
        "PutItem",
        Fault::Delay(Duration::from_millis(1200)),
        Times::Nth(1),
    );
    let arrived = jiff::Timestamp::now();
    let reply = s.fire().await;
    executed(&reply);
    let entries = s.ledger.list().await.unwrap();
    let cooldown = entries
        .iter()
        .find(|e| e.key.pk.starts_with("cooldown#"))
        .expect("the cooldown is kept");
    let claimed = jiff::Timestamp::from_millisecond(cooldown.claimed_at).unwrap();
    assert!(
        claimed.duration_since(arrived) >= jiff::SignedDuration::from_millis(1200),
        "claimed at {claimed}, the request arrived at {arrived}"
    );
    // The default 15 minutes, from when it was claimed, rounded up to a whole second.
    let ends = jiff::Timestamp::from_second(cooldown.expires_at).unwrap();
    let lasts = ends.duration_since(claimed);
    assert!(
        lasts >= jiff::SignedDuration::from_mins(15)
            && lasts < jiff::SignedDuration::from_secs(901),
        "{lasts}"
    );
}

#[tokio::test]
async fn a_refusal_that_answers_after_the_cut_off_is_a_skip_with_its_guard() {
    // A first delivery acts; then Wavefront re-sends the incident (a new notification) and the
    // latch's refusal reaches the responder seconds after the budget, inside the grace.
    let s = Scene::timed(LedgerKind::DynamoDb, SHORT, WIDE).await;
    let reply = s.fire().await;
    executed(&reply);
    // Counted from now: the second delivery's PutItems, its claim (beside the read of the
    // freezes), then the latch's, delayed past the budget.
    s.proxy.inject(
        "PutItem",
        Fault::Delay(Duration::from_secs(SHORT) + PAST_THE_CUT_OFF),
        Times::Nth(2),
    );
    s.proxy.take_operations();
    let resent = opened_as("resent-after-the-cut-off", "ALERT_RETRIGGERED");
    let again = s.t.post_with_token(&resent).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(action(&again)["outcome"], "skipped", "{}", again.text);
    assert_eq!(action(&again)["guard"], "incident_latch", "{}", again.text);
    assert!(
        detail(&again).starts_with("checkout-errors already handled "),
        "{}",
        again.text
    );
    // The refused latch took nothing; the delivery is confirmed, so a repeat is a duplicate.
    s.assert_calls("[PutItem BatchGetItem] PutItem PutItem");
    assert_eq!(s.live().await, "1");
}

#[tokio::test]
async fn an_admission_that_completes_after_the_cut_off_does_not_act_and_gives_back_its_claims() {
    // The circuit slot, the admission's last write (the fourth PutItem, after the delivery,
    // the latch and the cooldown), reaches DynamoDB seconds after the one-second budget,
    // inside the (widened) grace a write in flight gets.
    let s = Scene::timed(LedgerKind::DynamoDb, 1, WIDE).await;
    s.proxy.inject(
        "PutItem",
        Fault::Delay(Duration::from_secs(1) + PAST_THE_CUT_OFF),
        Times::Nth(4),
    );
    let reply = s.fire().await;
    failed(
        &reply,
        "ran out of time before acting: the ledger admitted it only after its ",
    );
    detail_ends(
        &reply,
        "of the time budget ended; its claims are given back",
    );
    // The action read nothing (it reads only once admitted); the slot, the cooldown, the
    // latch and the delivery are given back.
    s.assert_calls(&format!(
        "{CLAIMS} DeleteItem DeleteItem DeleteItem DeleteItem"
    ));
    assert_eq!(s.live().await, "2");
    assert_eq!(s.held().await, Vec::<String>::new());
}

#[tokio::test]
async fn a_release_that_stalls_does_not_keep_the_actions_other_claims() {
    // The update is throttled past the retries: nothing changed, so the latch, the cooldown
    // and the slot are given back; the first of those three DeleteItems stalls.
    let s = Scene::new(LedgerKind::DynamoDb, ROOMY).await;
    s.proxy
        .inject("UpdateAlias", Fault::Throttle, Times::Always);
    s.proxy.inject("DeleteItem", Fault::Stall, Times::Nth(1));
    let reply = s.fire().await;
    failed(
        &reply,
        "UpdateAlias: TooManyRequestsException: Rate exceeded",
    );
    detail_ends(
        &reply,
        "; its ledger claims could not be given back and hold until they expire",
    );
    s.assert_calls(&format!(
        "{CLAIMS} {MOVE} UpdateAlias UpdateAlias DeleteItem DeleteItem DeleteItem DeleteItem"
    ));
    assert_eq!(s.live().await, "2");
    // The other claims were given back all the same, and the delivery: one claim is left, the
    // one whose release stalled (which one depends on which DeleteItem arrived first).
    let held = s.held().await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(
        held[0] == "circuit"
            || held[0].starts_with("cooldown#checkout-errors#")
            || held[0].starts_with("incident#"),
        "{held:?}"
    );
}

// --- ALERT_RESOLVED -------------------------------------------------------------------------

/// The checkout alert resolved: the rule does not match it, it only clears latches.
fn resolved() -> String {
    opened_as("resolved-1", "ALERT_RESOLVED")
}

/// Checks a failed `ALERT_RESOLVED` answered 502, saying why, with a `ledger_failed` METRIC
/// line and one audit line, and gave its delivery back so Wavefront's retry can act.
async fn resolve_failed(s: &Scene, why: &str) {
    let started = Instant::now();
    let reply = s.t.post_with_token(&resolved()).await;
    assert!(started.elapsed() < s.budget + Duration::from_secs(3));
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.json["outcome"], "failed", "{}", reply.text);
    let message = reply.json["message"].as_str().unwrap_or_default();
    let because = format!("ALERT_RESOLVED could not clear incident latches: {why}");
    assert!(message.starts_with(&because), "{}", reply.text);
    notes_say(&reply, &because);
    let metrics = s.t.metric_names();
    assert_eq!(
        metrics.iter().filter(|m| *m == "ledger_failed").count(),
        1,
        "{metrics:?}"
    );
    let audits = s.t.audits();
    assert_eq!(audits.len(), 1, "{audits:?}");
    assert_eq!(audits[0]["outcome"], "failed");
    assert_eq!(audits[0]["detail"], message);
    // Nothing is held but when the incident ended, written before the latches are looked for
    // (it only keeps a late latch from being kept, so a retry finds no harm in it), and the
    // delivery was given back.
    let left: Vec<_> = s
        .ledger
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key.sk)
        .collect();
    assert_eq!(left, ["resolved"]);
}

#[tokio::test]
async fn a_resolve_the_ledger_fails_answers_502_so_wavefront_retries() {
    let s = Scene::new(LedgerKind::DynamoDb, ROOMY).await;
    s.proxy.inject("Query", Fault::Status(503), Times::Always);
    resolve_failed(
        &s,
        "ledger Query failed: ServiceUnavailable: Service unavailable, try again later",
    )
    .await;
    // Claimed, when it ended written, three attempts at reading the incident's latches, then
    // given back.
    s.assert_calls("PutItem PutItem Query Query Query DeleteItem");
}

#[tokio::test]
async fn a_resolve_the_ledger_does_not_answer_in_time_answers_502() {
    let s = Scene::new(LedgerKind::DynamoDb, SHORT).await;
    s.proxy.inject("Query", Fault::Stall, Times::Always);
    resolve_failed(&s, "the ledger did not answer in time").await;
    s.assert_calls("PutItem PutItem Query DeleteItem");
}

#[tokio::test]
async fn an_action_cut_off_in_the_ledger_gives_back_its_claims_and_not_an_earlier_actions() {
    let moto = moto::aws().await;
    let function = moto::function_with_versions(&moto, 2).await;
    alias(&moto, &function, "live", "2", &[]).await;
    let config = checkout_rule(
        &format!("{SHORT}s"),
        &[
            move_live_action(&function, r#"to_version = "1""#),
            rollback_action("checkout", "checkout-prod"),
        ],
    );
    let proxy = Proxy::start().await;
    // PutItems: the delivery, the first action's latch, cooldown and slot, then the second
    // action's latch, which stalls until the budget runs out.
    proxy.inject("PutItem", Fault::Stall, Times::Nth(5));
    let (t, ledger) = proxy.responder(config, LedgerKind::DynamoDb).await;
    let started = Instant::now();
    let reply = t.post_with_token(&firing()).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(SHORT + 3),
        "answered after {elapsed:?}"
    );
    assert_eq!(reply.status, 502, "{}", reply.text);
    let actions = &reply.json["rules"][0]["actions"];
    assert_eq!(actions[0]["outcome"], "executed", "{}", reply.text);
    assert_eq!(actions[1]["outcome"], "failed", "{}", reply.text);
    // The latch's write never answered: given back, it could still land, and the record
    // says so.
    assert_eq!(
        actions[1]["detail"],
        "not run: the ledger did not answer in time; a ledger claim still being written when \
         time ran out may land after it was given back, and then holds until it expires"
    );
    assert_eq!(t.audits().len(), 2);
    // The second action gives back its latch only (no query for the request's slots); then
    // the delivery is forgotten.
    let (seen, calls) = sent_at_once(
        &proxy.operations(),
        &format!("{CLAIMS} {MOVE} PutItem DeleteItem [DeleteItem PutItem PutItem]"),
    );
    proxy::assert_calls(&seen, &calls);
    assert_eq!(alias_state(&moto, &function, "live").await.0, "1");
    // The first action changed the alias: its latch, its cooldown and its circuit slot stay.
    let held = ledger.list().await.unwrap();
    let mut held: Vec<(&str, &str)> = held
        .iter()
        .map(|e| (e.key.pk.as_str(), e.note.as_str()))
        .collect();
    held.sort_unstable();
    let acted = format!("checkout-errors acted on {function}:live");
    let cooling = format!("checkout-errors cooling down on {function}:live");
    let cooldown = format!("cooldown#checkout-errors#{function}:live");
    assert_eq!(held.len(), 3, "{held:?}");
    assert_eq!(held[0], ("circuit", acted.as_str()), "{held:?}");
    assert_eq!(held[1], (cooldown.as_str(), cooling.as_str()), "{held:?}");
    assert!(held[2].0.starts_with("incident#1700000000001#"), "{held:?}");
    assert_eq!(held[2].1, acted, "{held:?}");
}

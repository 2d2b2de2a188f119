//! One action's run: the "still firing?" check, the freeze, the ledger's admission (incident
//! latch, cooldown, circuit breaker), the action itself within its share of the time budget,
//! and giving back what it claimed when it changed nothing.

use std::time::Duration;

use jiff::Timestamp;
use tokio::time::Instant;

use super::calls::{Calls, Report};
use super::delivery::{Limits, release_until};
use super::firing::{Firing, Verdict};
use super::handover::{HandedOver, Uncertain};
use super::{ActionOutcome, Context, Executor, LEDGER_LATE, run_action};
use crate::actions::Action;
use crate::actions::lambda_alias::AliasShift;
use crate::ledger::attribution::IncidentStart;
use crate::ledger::freeze::Freeze;
use crate::ledger::{Attempt, Claims, Guard, LedgerError, Refusal};
use crate::plan::rules::OnWavefrontError;

/// Said when claims could not be given back.
const CLAIMS_HELD: &str = "; its ledger claims could not be given back and hold until they expire";

/// Said when the circuit-breaker slot of an action that changed nothing could not be given
/// back.
const SLOT_HELD: &str = "; its circuit-breaker slot could not be given back and counts until \
                         the window passes";

/// Said when a claim cut off mid-write was given back before the write answered.
const CLAIM_IN_FLIGHT: &str = "; a ledger claim still being written when time ran out may \
                               land after it was given back, and then holds until it expires";

/// How long a `lambda-alias` action holds back when it cannot tell whether CodeDeploy is
/// moving its alias back, unless the cause says how long: a later delivery tries again.
const UNCERTAIN_FOR: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

/// How an admission ended: within the action's share of the time budget, after it (in the
/// grace a write in flight gets), or not at all.
enum AdmissionTiming<T> {
    InTime(T),
    Late(T),
    Unanswered,
}

/// One action run: ledger admission, the action itself, and giving back claims.
pub(super) struct Run<'a> {
    pub executor: &'a Executor,
    pub action: &'a Action,
    pub attempt: &'a Attempt<'a>,
    pub dry_run: bool,
    pub now: Timestamp,
    /// When the incident started, for the attribution guard (`None`: the rule turns it off).
    pub since: Option<IncidentStart>,
    /// The freeze that holds this rule back, if one does.
    pub freeze: Option<&'a Freeze>,
    /// The run's deadlines: when a cut-off claim may finish, and giving back claims must end.
    pub limits: Limits,
    /// What to do when the alert's status cannot be read, if the rule sets `require_firing`.
    pub require_firing: Option<OnWavefrontError>,
}

/// What one action's run came to.
#[derive(Debug)]
pub(super) struct Ran {
    pub report: Report,
    /// What held it back, if anything did.
    pub guard: Option<Guard>,
    /// The claims it keeps (it changed something, or left its target to a rollback of its
    /// own), to be made lasting once the request is done with its actions.
    pub kept: Option<Claims>,
    /// When the claim that refused it lapses, if the request holding that claim may still give
    /// it back: the refusal is then not final.
    pub pending_until: Option<Timestamp>,
}

impl Ran {
    fn with(report: Report, guard: Option<Guard>) -> Self {
        Self {
            report,
            guard,
            kept: None,
            pending_until: None,
        }
    }
}

impl Run<'_> {
    /// Runs the action within `share` of the time budget; `firing` is the request's "still
    /// firing?" check, which the action asks if its rule sets `require_firing`.
    pub async fn within(
        &self,
        share: Duration,
        handed_over: &mut HandedOver,
        firing: &mut Firing<'_>,
    ) -> Ran {
        // The "still firing?" check comes before everything the ledger does: an action it
        // holds back was never admitted, so it leaves no incident latch, cooldown or breaker
        // slot behind, and has nothing to give back (a give-back that failed would hold them).
        // A live action a freeze holds back changes nothing either way: no need to ask.
        let frozen = self.freeze.is_some() && !self.dry_run;
        let mut note = None;
        let mut share = share;
        if let Some(on_error) = self.require_firing.filter(|_| !frozen && !share.is_zero()) {
            let started = Instant::now();
            match firing.verdict(on_error, share).await {
                Verdict::Hold(why) if self.dry_run => {
                    let report = skipped(format!("would be skipped: {why}"));
                    return Ran::with(report, Some(Guard::NotFiring));
                }
                Verdict::Hold(why) => return Ran::with(skipped(why), Some(Guard::NotFiring)),
                Verdict::Act(sentence) => note = Some(sentence),
            }
            share = share.saturating_sub(started.elapsed());
        }
        let mut ran = self.guarded_within(share, handed_over).await;
        if let Some(note) = note {
            ran.report.detail.push_str(&note);
        }
        ran
    }

    /// Runs the action within `share` of the time budget, through the freeze and the ledger's
    /// guards.
    async fn guarded_within(&self, share: Duration, handed_over: &mut HandedOver) -> Ran {
        match self.freeze {
            // Frozen: no claim, no call. A dry run still says what it would do.
            Some(freeze) if !self.dry_run => Ran::with(
                skipped(format!("frozen: {}", frozen(freeze))),
                Some(Guard::Frozen),
            ),
            Some(freeze) => {
                let mut ran = self.dry_within(share, handed_over).await;
                ran.report.detail.push_str(&format!(
                    "; frozen: a live run would skip it ({})",
                    frozen(freeze)
                ));
                ran.guard = ran.guard.or(Some(Guard::Frozen));
                ran
            }
            None if self.dry_run => self.dry_within(share, handed_over).await,
            None => match (self.action, &handed_over.uncertain) {
                (Action::LambdaAlias(shift), Some(uncertain)) => self.uncertain(shift, uncertain),
                _ => self.live_within(share, handed_over).await,
            },
        }
    }

    /// A live `lambda-alias` action after a `codedeploy-rollback` that could not tell which
    /// aliases CodeDeploy may be moving back: it leaves its alias alone, claims nothing, and
    /// holds the request up (answered 503), so that a later delivery acts once that is known.
    fn uncertain(&self, shift: &AliasShift, uncertain: &Uncertain) -> Ran {
        let detail = format!(
            "{}, so CodeDeploy may be moving {} back: leaving the alias alone for now, since two \
             movers must not race",
            uncertain.why,
            shift.target()
        );
        let until = uncertain
            .until
            .unwrap_or_else(|| self.now.checked_add(UNCERTAIN_FOR).unwrap_or(self.now));
        Ran {
            pending_until: Some(until),
            ..Ran::with(skipped(detail), None)
        }
    }

    /// A dry run: reads what the ledger would do and, if it would admit the action, makes the
    /// action's reads to say exactly what it would do. A ledger that cannot be read is
    /// reported: live actions would not run.
    async fn dry_within(&self, share: Duration, handed_over: &mut HandedOver) -> Ran {
        if share.is_zero() {
            return Ran::with(Calls::default().out_of_time(share), None);
        }
        let started = Instant::now();
        let peek = self.executor.ledger.peek(self.attempt, self.now);
        let refusal = match tokio::time::timeout(share, peek).await {
            Ok(Ok(None)) => None,
            Ok(Ok(Some(refusal))) => Some((
                skipped(format!("would be skipped: {}", refusal.detail)),
                Some(refusal.guard),
            )),
            Ok(Err(err)) => Some((failed(format!("{err}; a live action would not run")), None)),
            Err(_) => {
                let why = format!("{LEDGER_LATE}; a live action would not run");
                Some((failed(why), None))
            }
        };
        if let Some((report, guard)) = refusal {
            return Ran::with(report, guard);
        }
        let left = share.saturating_sub(started.elapsed());
        let report = self.run_action(left, handed_over, Calls::default()).await;
        Ran::with(report, None)
    }

    /// A live run: the ledger's admission, the action, and giving back what it claimed when it
    /// changed nothing.
    async fn live_within(&self, share: Duration, handed_over: &mut HandedOver) -> Ran {
        if share.is_zero() {
            return Ran::with(Calls::default().out_of_time(share), None);
        }
        let started = Instant::now();
        let ledger = &self.executor.ledger;
        let mut calls = Calls::default();
        // The claims are ours, not the admission's: cut off, it still says what it may hold.
        let mut claims = Claims::new(self.attempt.request_id);
        let stopper = claims.stopper();
        let admission = {
            let admit = ledger.admit_into(self.attempt, self.now, &mut claims);
            tokio::pin!(admit);
            match tokio::time::timeout(share, admit.as_mut()).await {
                Ok(result) => AdmissionTiming::InTime(result),
                // Cut off mid-admission: a claim may be on its way. Let that write finish,
                // briefly, so giving it back cannot overtake it, but send no new one.
                Err(_) => {
                    stopper.stop();
                    match tokio::time::timeout_at(self.limits.grace_until(), admit).await {
                        Ok(result) => AdmissionTiming::Late(result),
                        Err(_) => AdmissionTiming::Unanswered,
                    }
                }
            }
        };
        let mut ran = match admission {
            AdmissionTiming::InTime(Ok(None)) => {
                let left = share.saturating_sub(started.elapsed());
                let report = self.run_action(left, handed_over, calls).await;
                return self.admitted(report, claims).await;
            }
            // Refused, in time or by the write that answered after the cut-off.
            AdmissionTiming::InTime(Ok(Some(refusal)))
            | AdmissionTiming::Late(Ok(Some(refusal))) => {
                let left = share.saturating_sub(started.elapsed());
                self.refused(refusal, left, &mut calls, handed_over).await
            }
            admission => Ran::with(failed(not_admitted(admission, share, &claims)), None),
        };
        ran.report = with_reads(ran.report, calls);
        // Nothing changed: give back what this action took (and only that), so a retry may
        // act and is not refused as "already acted".
        if !claims.is_empty() {
            self.give_back(&mut ran.report, ledger.release(claims), CLAIMS_HELD)
                .await;
        }
        ran
    }

    /// An admitted action's end: it keeps its claims if it changed something (or may have),
    /// and if it left its target to a rollback of its own, all but the breaker's slot;
    /// otherwise it gives them back.
    async fn admitted(&self, mut report: Report, claims: Claims) -> Ran {
        let ledger = &self.executor.ledger;
        if report.changed {
            // Changed something, or may have: the claims stay, so nothing acts again.
            return Ran {
                kept: Some(claims),
                ..Ran::with(report, None)
            };
        }
        if report.left_to_codedeploy {
            // Left to CodeDeploy's rollback: the incident is handled, so its latch and cooldown
            // stay (a re-delivery must not move the alias under the rollback); it changed
            // nothing, so the breaker's slot is given back.
            let slot = ledger.release_circuit_slot(&claims);
            self.give_back(&mut report, slot, SLOT_HELD).await;
            return Ran {
                kept: Some(claims),
                ..Ran::with(report, None)
            };
        }
        self.give_back(&mut report, ledger.release(claims), CLAIMS_HELD)
            .await;
        Ran::with(report, None)
    }

    /// A refusal by the ledger. A `codedeploy-rollback` held by its incident latch or cooldown
    /// still sees which Lambda deployments are under way, so a later lambda-alias action of
    /// this request leaves their aliases alone; held by another request still handling it,
    /// which may be stopping a deployment right now, it cannot tell, and they leave every
    /// alias alone.
    async fn refused(
        &self,
        refusal: Refusal,
        left: Duration,
        calls: &mut Calls,
        handed_over: &mut HandedOver,
    ) -> Ran {
        let mut report = skipped(refusal.detail);
        if let (Action::CodeDeployRollback(rollback), Guard::IncidentLatch | Guard::Cooldown) =
            (self.action, refusal.guard)
        {
            if let Some(until) = refusal.pending_until {
                let why = format!(
                    "another request is handling {} right now and may be stopping a deployment",
                    rollback.target()
                );
                handed_over.cannot_tell(why, Some(until));
            } else {
                let observed = tokio::time::timeout(
                    left,
                    rollback.observe(&self.executor.clients, calls, handed_over),
                )
                .await;
                match observed {
                    Ok(note) => report.detail.push_str(&note),
                    Err(_) => {
                        let why = format!(
                            "the deployments under way in {} could not be read in time",
                            rollback.target()
                        );
                        handed_over.cannot_tell(why, None);
                    }
                }
            }
        }
        Ran {
            pending_until: refusal.pending_until,
            ..Ran::with(report, Some(refusal.guard))
        }
    }

    /// What the action itself needs to know.
    fn context(&self) -> Context<'_> {
        Context {
            dry_run: self.dry_run,
            now: self.now,
            since: self.since,
            ledger: &self.executor.ledger,
            request_id: self.attempt.request_id,
        }
    }

    /// Gives claims back with `release`, in the time releases get; if they are not given back,
    /// the report says so with `held`.
    async fn give_back(
        &self,
        report: &mut Report,
        release: impl Future<Output = Result<(), LedgerError>>,
        held: &str,
    ) {
        let released =
            tokio::time::timeout_at(release_until(self.limits.releases_by), release).await;
        if !matches!(released, Ok(Ok(()))) {
            report.detail.push_str(held);
        }
    }

    /// Runs the action within `left`, what is left of its share of the time budget, recording
    /// its calls in `calls`.
    async fn run_action(
        &self,
        left: Duration,
        handed_over: &mut HandedOver,
        mut calls: Calls,
    ) -> Report {
        if left.is_zero() {
            return calls.out_of_time(left);
        }
        let handed_before = handed_over.len();
        let clients = &self.executor.clients;
        let context = self.context();
        let run = run_action(self.action, clients, &context, &mut calls, handed_over);
        let result = tokio::time::timeout(left, run).await;
        match result {
            Ok((outcome, detail)) => calls.report(outcome, detail),
            Err(_) => {
                let report = calls.out_of_time(left);
                // Cut off before it changed anything (a stop not yet sent, or found
                // completed): no rollback of its own is under way, so what it handed over to
                // one is withdrawn and later actions may still act. Rollbacks it found under
                // way keep their aliases.
                if !report.changed {
                    handed_over.withdraw_ours_since(handed_before);
                }
                report
            }
        }
    }
}

/// Why an admission neither admitted nor refused the action in time.
fn not_admitted(
    admission: AdmissionTiming<Result<Option<Refusal>, LedgerError>>,
    share: Duration,
    claims: &Claims,
) -> String {
    match admission {
        // Stopped after the write in flight answered: nothing can still land.
        AdmissionTiming::Late(Err(LedgerError::Stopped)) => {
            format!("not run: {LEDGER_LATE}")
        }
        AdmissionTiming::InTime(Err(err)) | AdmissionTiming::Late(Err(err)) => {
            format!("not run: {err}; nothing acts without the ledger")
        }
        AdmissionTiming::Late(Ok(None)) => format!(
            "ran out of time before acting: the ledger admitted it only after its {:.1}s of the \
             time budget ended; its claims are given back",
            share.as_secs_f64()
        ),
        AdmissionTiming::Unanswered if !claims.is_empty() => {
            format!("not run: {LEDGER_LATE}{CLAIM_IN_FLIGHT}")
        }
        _ => format!("not run: {LEDGER_LATE}"),
    }
}

/// `report`, with the request ids of the reads its action made before it stopped short of
/// acting: refused, failed or cut off in the ledger, or a dry run the ledger would refuse.
fn with_reads(mut report: Report, calls: Calls) -> Report {
    let mut ids = calls.into_request_ids();
    ids.append(&mut report.aws_request_ids);
    report.aws_request_ids = ids;
    report
}

fn skipped(detail: String) -> Report {
    Calls::default().report(ActionOutcome::Skipped, detail)
}

fn failed(detail: String) -> Report {
    Calls::default().report(ActionOutcome::Failed, detail)
}

/// What a freeze record says, and how to lift it.
fn frozen(freeze: &Freeze) -> String {
    format!(
        "{freeze}; nothing is changed until it ends or `{}` lifts it",
        freeze.scope.lift_command()
    )
}

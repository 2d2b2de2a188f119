//! The composition root: a [`Responder`] holds the parts of the request flow and runs one
//! request through them: [`crate::front_door`] → [`crate::auth`] → [`crate::alert`] →
//! [`crate::plan`] → [`crate::execute`] → [`crate::record`] → [`crate::announce`]. It is
//! served on AWS Lambda ([`lambda`]) and as a plain HTTP server for `serve` ([`local`]).
//!
//! The answer is a refusal ([`Refusal::status`]), or 200 with the record, 502 when an action
//! failed, so Wavefront's own webhook metrics show the failure, or 503 when another request's
//! claim held it up.

pub mod lambda;
pub mod local;
mod secrets;

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Response, StatusCode, header};
use tokio::time::Instant;

use crate::alert::Alert;
use crate::announce::notify::{Channel, NOTIFY_WITHIN, Notified};
use crate::announce::{Announced, Announcer, EVENT_WITHIN, Event};
use crate::auth::{AuthSetupError, Authenticator};
use crate::aws::Home;
use crate::config::Config;
use crate::execute::{Execution, Executor};
use crate::front_door::{self, Inbound, Refusal, json_response};
use crate::plan::Plan;
use crate::plan::rules::Rules;
use crate::record::Record;
use crate::secret::Resolver;
use crate::telemetry::{Audit, Batch, Metric, RequestContext, Telemetry};
use crate::text::truncate;
use crate::wavefront::Wavefront;
use secrets::{AuthFailure, Secrets, SecretsRefresh};

pub use secrets::{Env, UNCONFIRMED_SECRETS_ACCEPTED_FOR};

/// Time kept back from Lambda's deadline to write the record and answer, by default
/// ([`Options::answer_margin`]).
pub const ANSWER_MARGIN: Duration = Duration::from_secs(1);
/// Longest user agent kept in audit lines.
const MAX_USER_AGENT_CHARS: usize = 256;

/// Everything needed to answer requests. Built once per process (per Lambda instance).
#[derive(Debug)]
pub struct Responder {
    rules: Rules,
    /// What requests are verified with, kept fresh.
    secrets: Arc<Secrets>,
    telemetry: Telemetry,
    dry_run: bool,
    /// `None` in plan-only mode: actions are described, AWS is never called.
    executor: Option<Executor>,
    time_budget: Duration,
    /// Kept back from Lambda's deadline to write the record and answer.
    answer_margin: Duration,
    /// Wavefront's API, when `[wavefront]` is configured and its token could be read: the
    /// executor's "still firing?" check reads alerts with it, and events are posted with it.
    wavefront: Option<Wavefront>,
    /// Why there is no client although `[wavefront]` is set (the start-up warning).
    wavefront_unusable: Option<String>,
    /// How long posting a request's Wavefront event may take ([`Options::event_within`]).
    event_within: Duration,
    /// Where chat notifications go, when `[notify]` is set, its topic resolved and an SNS
    /// client given.
    notify: Option<Channel>,
    /// How long publishing a request's notification may take ([`Options::notify_within`]).
    notify_within: Duration,
}

/// How a responder runs its actions.
#[derive(Clone, Debug)]
pub struct Options {
    /// Every action is a dry run, whatever the config says.
    pub force_dry_run: bool,
    /// Runs actions against AWS; `None` only describes them (plan-only: no AWS calls at all).
    pub executor: Option<Executor>,
    /// On Lambda, the time kept back from the invocation's deadline to write the record and
    /// answer ([`ANSWER_MARGIN`]); the actions keep back the executor's own overrun besides
    /// ([`crate::execute::Timing::after_deadline`]). A test widens it, so that its bounds on
    /// when the answer comes hold whatever the machine's load.
    pub answer_margin: Duration,
    /// Reads `secretsmanager:` secrets; without it they are skipped.
    pub secrets_manager: Option<aws_sdk_secretsmanager::Client>,
    /// How soon after the last read a failed authentication may re-read the secrets.
    pub refresh_after_failure: Duration,
    /// How long a request waits for a re-read of the secrets, at most: one that takes longer
    /// goes on in the background while the request is verified with the secrets read before.
    pub secrets_wait: Duration,
    /// How long after a rotation a Secrets Manager secret's previous version is accepted.
    pub previous_secret_for: Duration,
    /// How long the values read from Secrets Manager stay accepted after the last read of
    /// them that succeeded, while re-reads fail ([`UNCONFIRMED_SECRETS_ACCEPTED_FOR`]).
    pub unconfirmed_secrets_accepted_for: Duration,
    /// How long posting a request's Wavefront event may take at most ([`EVENT_WITHIN`]); a
    /// test shortens it.
    pub event_within: Duration,
    /// Publishes chat notifications (`[notify]`); without it none are sent.
    pub sns: Option<aws_sdk_sns::Client>,
    /// How long publishing a request's chat notification may take at most
    /// ([`NOTIFY_WITHIN`]); a test shortens it.
    pub notify_within: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            force_dry_run: false,
            executor: None,
            answer_margin: ANSWER_MARGIN,
            secrets_manager: None,
            refresh_after_failure: secrets::REREAD_AFTER_FAILURE_AT_MOST_EVERY,
            secrets_wait: secrets::SECRETS_WAIT,
            previous_secret_for: crate::secret::PREVIOUS_VERSION_FOR,
            unconfirmed_secrets_accepted_for: UNCONFIRMED_SECRETS_ACCEPTED_FOR,
            event_within: EVENT_WITHIN,
            sns: None,
            notify_within: NOTIFY_WITHIN,
        }
    }
}

/// A responder and the start-up warnings to log.
#[derive(Debug)]
pub struct Setup {
    pub responder: Responder,
    pub warnings: Vec<String>,
}

impl Responder {
    /// Resolves secrets and builds the responder.
    pub async fn setup(
        config: Config,
        env: Env,
        telemetry: Telemetry,
        options: Options,
    ) -> Result<Setup, AuthSetupError> {
        let resolver = Resolver {
            env: &*env,
            secrets_manager: options.secrets_manager.as_ref(),
            previous_for: options.previous_secret_for,
        };
        // The webhook's secrets and Wavefront's token are read at once: with Secrets Manager,
        // each is a round trip of the cold start.
        let wavefront = async {
            match &config.wavefront {
                Some(settings) => Some(wavefront_client(settings, resolver).await),
                None => None,
            }
        };
        let (auth, wavefront) = tokio::join!(
            Authenticator::from_config(&config.auth, resolver),
            wavefront
        );
        let auth = auth?;
        let mut warnings = auth.warnings.clone();
        let (wavefront, wavefront_unusable) = match wavefront.transpose() {
            Ok(client) => (client, None),
            Err(why) => {
                warnings.push(why.clone());
                (None, Some(why))
            }
        };
        let notify = config.notify.as_ref().and_then(|settings| {
            match Channel::new(settings, &*env, options.sns.clone()) {
                Ok((channel, warning)) => {
                    warnings.extend(warning);
                    Some(channel)
                }
                Err(why) => {
                    warnings.push(why);
                    None
                }
            }
        });
        let refresh = match &options.secrets_manager {
            Some(client) if config.auth.uses_secrets_manager() => {
                let baseline = auth.warnings.clone();
                let client = client.clone();
                Some(SecretsRefresh::new(&config.auth, env, client, baseline, &options).await?)
            }
            _ => None,
        };
        // Only the rules are kept, and secret references for re-reading: the authenticator
        // holds digests and keys, never the secrets themselves.
        Ok(Setup {
            responder: Self {
                dry_run: options.force_dry_run || config.dry_run,
                rules: config.rules,
                secrets: Arc::new(Secrets::new(auth.authenticator, refresh)),
                telemetry,
                executor: options.executor,
                time_budget: config.time_budget.get(),
                answer_margin: options.answer_margin,
                wavefront,
                wavefront_unusable,
                event_within: options.event_within,
                notify,
                notify_within: options.notify_within,
            },
            warnings,
        })
    }

    /// Answers one request and writes its METRIC and audit lines.
    pub async fn handle(&self, request: Inbound<'_>) -> Response<String> {
        let started = Instant::now();
        let mut batch = self.telemetry.batch(request.request_id);
        batch.metric(Metric::WebhookReceived, 1.0);
        let user_agent = request
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| truncate(ua, MAX_USER_AGENT_CHARS));
        let mut context = RequestContext {
            auth: None,
            source_ip: request.source_ip,
            user_agent,
        };
        let response = match self.admit(&request, &mut context).await {
            Err(refusal) => {
                let metric = match refusal {
                    Refusal::Unauthorized { .. } | Refusal::SecretsUnconfirmed { .. } => {
                        Metric::WebhookRejected
                    }
                    _ => Metric::WebhookInvalid,
                };
                batch.metric(metric, 1.0);
                batch.audit(&Audit {
                    outcome: refusal.outcome(),
                    dry_run: self.dry_run,
                    detail: &refusal.detail(),
                    ..Audit::request(request.request_id, &context)
                });
                refusal.into_response(request.request_id)
            }
            Ok(alert) => {
                let plan = Plan::new(request.request_id, &alert, &self.rules, self.dry_run);
                let (execution, limit) = match &self.executor {
                    Some(executor) => {
                        let (deadline, cap) = self.deadlines(executor, started, request.time_left);
                        let wavefront = self.wavefront.as_ref();
                        let at = request.received_at;
                        let run = executor.execute_until(&plan, at, deadline, cap, wavefront);
                        // The executor's own hard limit: the event never makes the answer later
                        // than the actions alone could have.
                        let limit = deadline + executor.timing().after_deadline;
                        let limit = cap.map_or(limit, |cap| cap.min(limit));
                        // Boxed: the run's state is large, and only requests with actions need it.
                        (Box::pin(run).await, limit)
                    }
                    None => (Execution::planned(&plan), started),
                };
                let record = Record::new(&plan, execution);
                record.write(&mut batch, &context);
                let home = request.function_arn.and_then(Home::of_function);
                self.announce(&record, &alert, limit, home, &mut batch)
                    .await;
                answer(&record, request.received_at)
            }
        };
        batch.metric(
            Metric::HandlerDurationMs,
            (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        );
        batch.finish();
        tracing::debug!(
            request_id = request.request_id,
            status = response.status().as_u16(),
            "request handled"
        );
        response
    }

    /// When the actions must end, and the hard limit besides ([`Margins::deadlines`]): on
    /// Lambda, this responder's time to answer is kept back, and before it the overrun
    /// `executor` itself runs with, whatever it was set to.
    fn deadlines(
        &self,
        executor: &Executor,
        started: Instant,
        time_left: Option<Duration>,
    ) -> (Instant, Option<Instant>) {
        let margins = Margins {
            answer: self.answer_margin,
            overrun: executor.timing().after_deadline,
        };
        margins.deadlines(started, self.time_budget, time_left)
    }

    /// Posts the Wavefront event of `record`, if it has one and `[wavefront]` is set, and
    /// publishes its chat notification, if it has one and `[notify]` is set, at once: after the
    /// actions, each within its own bound ([`Options::event_within`],
    /// [`Options::notify_within`]) and never past `limit`, the time the actions alone could
    /// have taken at most (their deadline and the executor's overrun, and on Lambda the time to
    /// answer kept back). Neither changes the answer. When `[wavefront]` is set but its token
    /// could not be read at start-up, an event it would have posted is an `event_failed`, so
    /// the alarm says the events are off.
    async fn announce(
        &self,
        record: &Record<'_>,
        alert: &Alert,
        limit: Instant,
        home: Option<Home<'_>>,
        batch: &mut Batch<'_>,
    ) {
        let Some(executor) = &self.executor else {
            return;
        };
        let ledger = executor.ledger();
        let event = async {
            let Some(wavefront) = &self.wavefront else {
                return match &self.wavefront_unusable {
                    Some(why) if Event::of(record, &alert.tags).is_some() => {
                        Announced::Failed(why.clone())
                    }
                    _ => Announced::Nothing,
                };
            };
            let until = limit.min(Instant::now() + self.event_within);
            let announcer = Announcer {
                wavefront,
                ledger,
                until,
            };
            announcer.post(record, alert).await
        };
        let chat = async {
            let Some(channel) = &self.notify else {
                return Notified::Nothing;
            };
            let until = limit.min(Instant::now() + self.notify_within);
            channel
                .notifier(ledger, until, home)
                .send(record, alert)
                .await
        };
        let (announced, chat) = tokio::join!(event, chat);
        announced.write(record.request_id, batch);
        chat.write(record.request_id, batch);
    }

    /// Applies the HTTP rules and authentication, then parses the alert.
    async fn admit(
        &self,
        request: &Inbound<'_>,
        context: &mut RequestContext<'_>,
    ) -> Result<Alert, Refusal> {
        front_door::check_request(request)?;
        let method = self
            .secrets
            .authenticate(request)
            .await
            .map_err(|failure| match failure {
                AuthFailure::Rejected(rejection) => Refusal::Unauthorized {
                    why: rejection.to_string(),
                },
                AuthFailure::Unconfirmed(unconfirmed) => Refusal::SecretsUnconfirmed {
                    why: unconfirmed.to_string(),
                },
            })?;
        context.auth = Some(method.as_str());
        front_door::check_content_type(request.headers)?;
        Alert::parse(request.body).map_err(|e| Refusal::BadPayload(e.to_string()))
    }
}

/// The client of `[wavefront]`, or why there is none (a start-up warning: the responder runs
/// on without events, and `require_firing` rules follow their `on_wavefront_error`).
pub async fn wavefront_client(
    settings: &crate::wavefront::Settings,
    resolver: Resolver<'_>,
) -> Result<Wavefront, String> {
    let off = "Wavefront events are off and require_firing rules follow on_wavefront_error";
    let token = (settings.token(resolver).await).map_err(|why| format!("{why}: {off}"))?;
    Ok(Wavefront::new(settings.url.clone(), token))
}

/// What a request on Lambda keeps back from the invocation's deadline: the time to write the
/// record and answer, and before it the executor's overrun past its own deadline (letting
/// cut-off claims finish, giving back claims, settling the delivery). By default [`ANSWER_MARGIN`]
/// and [`crate::execute::AFTER_DEADLINE`]: 3 s in all.
#[derive(Clone, Copy, Debug)]
struct Margins {
    /// The time to write the record and answer ([`Options::answer_margin`]).
    answer: Duration,
    /// How far the executor's run may go past its deadline
    /// ([`crate::execute::Timing::after_deadline`]).
    overrun: Duration,
}

impl Margins {
    /// When the actions of a request that started at `started` must end, and the hard limit
    /// besides. Off Lambda (no `time_left`), the time budget alone. On Lambda, everything ends
    /// `answer` before the invocation's deadline and the actions `overrun` before that: with
    /// under both margins left the budget is 0, and the executor's overrun is cut short too, so
    /// the record and the audit line are written in time.
    fn deadlines(
        self,
        started: Instant,
        budget: Duration,
        time_left: Option<Duration>,
    ) -> (Instant, Option<Instant>) {
        match time_left {
            Some(left) => {
                let cap = left.saturating_sub(self.answer);
                let actions = budget.min(cap.saturating_sub(self.overrun));
                (started + actions, Some(started + cap))
            }
            None => (started + budget, None),
        }
    }
}

/// The answer to an accepted request: 502 when an action failed, so Wavefront's retry may act;
/// 503 with `Retry-After` when another request's claim, which it may still give back, held it
/// up; 200 otherwise.
fn answer(record: &Record<'_>, now: jiff::Timestamp) -> Response<String> {
    if record.failed() {
        return json_response(StatusCode::BAD_GATEWAY, record);
    }
    let Some(until) = record.retry() else {
        return json_response(StatusCode::OK, record);
    };
    let mut response = json_response(StatusCode::SERVICE_UNAVAILABLE, record);
    // Whole seconds until the claim in the way lapses; at least one, at most 15 minutes.
    let wait = until.duration_since(now).as_secs().clamp(1, 900);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    /// The service's margins: 1 s to answer, 2 s of overrun before it.
    fn service() -> Margins {
        Margins {
            answer: ANSWER_MARGIN,
            overrun: crate::execute::AFTER_DEADLINE,
        }
    }

    /// [`Margins::deadlines`] with a 20 s budget, as times after the start.
    fn deadlines(margins: Margins, time_left: Option<Duration>) -> (Duration, Option<Duration>) {
        let started = Instant::now();
        let (deadline, cap) = margins.deadlines(started, 20 * SECOND, time_left);
        (deadline - started, cap.map(|cap| cap - started))
    }

    #[test]
    fn off_lambda_the_time_budget_alone_applies() {
        assert_eq!(deadlines(service(), None), (20 * SECOND, None));
    }

    #[test]
    fn on_lambda_the_time_to_answer_is_kept_back_and_the_overrun_before_it() {
        let ms = Duration::from_millis;
        // Time to spare: the whole budget; everything ends 1 s before Lambda's deadline.
        assert_eq!(
            deadlines(service(), Some(60 * SECOND)),
            (20 * SECOND, Some(59 * SECOND))
        );
        // 3.5 s left: 0.5 s for the actions, then 2 s of overrun, then 1 s to answer.
        assert_eq!(
            deadlines(service(), Some(ms(3500))),
            (ms(500), Some(ms(2500)))
        );
        // Less than both margins: no budget, and the overrun is cut short.
        assert_eq!(deadlines(service(), Some(ms(1500))), (ms(0), Some(ms(500))));
        // Less than the time to answer: nothing runs at all.
        assert_eq!(deadlines(service(), Some(ms(500))), (ms(0), Some(ms(0))));
        assert_eq!(deadlines(service(), Some(ms(0))), (ms(0), Some(ms(0))));
    }

    #[test]
    fn the_margins_kept_back_are_the_ones_given() {
        let wide = Margins {
            answer: 2 * SECOND,
            overrun: 5 * SECOND,
        };
        assert_eq!(
            deadlines(wide, Some(9 * SECOND)),
            (2 * SECOND, Some(7 * SECOND))
        );
        assert_eq!(
            deadlines(wide, Some(3 * SECOND)),
            (Duration::ZERO, Some(SECOND))
        );
    }
}

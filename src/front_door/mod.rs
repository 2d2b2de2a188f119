//! The front door: one HTTP handler for every way a request arrives, and the rules of HTTP
//! that apply before any alert is looked at.
//!
//! [`Responder::handle`] takes a method, headers and body and answers, in this order:
//! 405 unless POST; 413 over 64 KiB; 401 unless [`crate::auth`] accepts the caller; 415 unless
//! the body is labelled JSON (or text/plain, as Wavefront may send JSON with that label); 400
//! when the payload is unusable; otherwise 200 with the decision record, or 502 when an action
//! failed, so Wavefront's own webhook metrics show the failure.
//!
//! - [`lambda`]: AWS Lambda, through `lambda_http` (API Gateway REST and HTTP APIs, ALB,
//!   function URLs).
//! - [`local`]: the same handler as a plain HTTP server, for `serve`.

pub mod lambda;
pub mod local;

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use jiff::Timestamp;
use serde::Serialize;

use crate::alert::Alert;
use crate::auth::{AuthMethod, AuthSetupError, Authenticator, Rejection};
use crate::config::{AuthConfig, Config};
use crate::decision::{Decision, RequestContext};
use crate::execute::Executor;
use crate::rules::Rules;
use crate::secret::Resolver;
use crate::telemetry::{Audit, Metric, Telemetry};
use crate::text::truncate;

/// Largest body accepted: Wavefront alert payloads are a few KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Time kept back from Lambda's deadline to write the record and answer.
const ANSWER_MARGIN: Duration = Duration::from_secs(1);
/// Time kept back from Lambda's deadline in all: the executor's own overrun (letting cut-off
/// claims finish, giving back claims, settling the delivery), then the answer.
const LAMBDA_MARGIN: Duration = ANSWER_MARGIN.saturating_add(crate::execute::AFTER_DEADLINE);
/// Longest user agent kept in audit lines.
const MAX_USER_AGENT_CHARS: usize = 256;

/// One request, whichever door it came through.
#[derive(Debug)]
pub struct Inbound<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The AWS request id on Lambda; a generated id locally.
    pub request_id: &'a str,
    /// The caller's address, as the front door saw it.
    pub source_ip: Option<&'a str>,
    /// When the request arrived: signature timestamps are checked against it.
    pub received_at: Timestamp,
    /// Set when the front door could not read the whole body.
    pub body_error: Option<BodyError>,
    /// On Lambda, the time left before the invocation's deadline.
    pub time_left: Option<Duration>,
}

/// Why a front door has no complete body to hand over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than [`MAX_BODY_BYTES`]; reading stopped there.
    TooLarge,
    /// The connection failed while the body was being read.
    Unreadable,
}

/// Everything needed to answer requests. Built once per process (per Lambda instance).
#[derive(Debug)]
pub struct Responder {
    rules: Rules,
    /// Swapped whole when Secrets Manager secrets are re-read.
    auth: RwLock<Arc<Authenticator>>,
    /// Present when some secret comes from Secrets Manager.
    refresh: Option<Refresh>,
    telemetry: Telemetry,
    dry_run: bool,
    /// `None` in plan-only mode: actions are described, AWS is never called.
    executor: Option<Executor>,
    time_budget: Duration,
}

/// How a responder runs its actions.
#[derive(Clone, Debug)]
pub struct Options {
    /// Every action is a dry run, whatever the config says.
    pub force_dry_run: bool,
    /// Runs actions against AWS; `None` only describes them (plan-only: no AWS calls at all).
    pub executor: Option<Executor>,
    /// Reads `secretsmanager:` secrets; without it they are skipped.
    pub secrets_manager: Option<aws_sdk_secretsmanager::Client>,
    /// How soon after the last read a failed authentication may re-read the secrets.
    pub refresh_after_failure: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            force_dry_run: false,
            executor: None,
            secrets_manager: None,
            refresh_after_failure: REFRESH_INTERVAL,
        }
    }
}

/// The environment, as the responder reads it (injected, so tests do not touch the process's).
pub type Env = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Re-reads Secrets Manager secrets: when a request fails authentication, so a rotated secret
/// is picked up without a redeploy (at most once a minute, so failing requests cannot turn into
/// a stream of Secrets Manager calls), and every ten minutes anyway, so a secret revoked there
/// stops working on warm instances too.
struct Refresh {
    /// Only secret references: whatever a literal held was never kept here.
    config: AuthConfig,
    env: Env,
    client: aws_sdk_secretsmanager::Client,
    /// When the secrets were last read.
    last: tokio::sync::Mutex<Instant>,
    /// The start-up warnings (`env:` references not set): a re-read that warns about more
    /// than these lost a secret, and is not used.
    baseline: Vec<String>,
    after_failure: Duration,
}

impl fmt::Debug for Refresh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Refresh")
    }
}

/// How often secrets may be re-read after failed authentications.
const REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// How old the secrets may get before they are re-read anyway.
const REFRESH_EVERY: Duration = Duration::from_secs(600);

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
        };
        let auth = Authenticator::from_config(&config.auth, resolver).await?;
        let uses_secrets_manager = config.auth.uses_secrets_manager();
        let refresh = match options.secrets_manager {
            Some(client) if uses_secrets_manager => Some(Refresh {
                config: config.auth.clone(),
                env,
                client,
                last: tokio::sync::Mutex::new(Instant::now()),
                baseline: auth.warnings.clone(),
                after_failure: options.refresh_after_failure,
            }),
            _ => None,
        };
        // Only the rules are kept, and secret references for re-reading: the authenticator
        // holds digests and keys, never the secrets themselves.
        Ok(Setup {
            responder: Self {
                dry_run: options.force_dry_run || config.dry_run,
                rules: config.rules,
                auth: RwLock::new(Arc::new(auth.authenticator)),
                refresh,
                telemetry,
                executor: options.executor,
                time_budget: config.time_budget.get(),
            },
            warnings: auth.warnings,
        })
    }

    /// Answers one request and writes its METRIC and audit lines.
    pub async fn handle(&self, request: Inbound<'_>) -> Response<String> {
        let started = tokio::time::Instant::now();
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
                let metric = if refusal.status == StatusCode::UNAUTHORIZED {
                    Metric::WebhookRejected
                } else {
                    Metric::WebhookInvalid
                };
                batch.metric(metric, 1.0);
                batch.audit(&Audit {
                    request_id: request.request_id,
                    alert_id: None,
                    alert_name: None,
                    reason: None,
                    severity: None,
                    rule: None,
                    action: None,
                    target: None,
                    guard: None,
                    outcome: refusal.outcome,
                    dry_run: self.dry_run,
                    detail: &refusal.detail,
                    aws_request_ids: &[],
                    auth: context.auth,
                    source_ip: context.source_ip,
                    user_agent: context.user_agent,
                });
                refusal.into_response(request.request_id)
            }
            Ok(alert) => {
                let mut decision =
                    Decision::for_alert(request.request_id, &alert, &self.rules, self.dry_run);
                if let Some(executor) = &self.executor {
                    // On Lambda, nothing may run into the time kept to answer: with under
                    // LAMBDA_MARGIN left the budget is 0, and the executor's overrun is cut
                    // short too, so the record and the audit line are written in time.
                    let (budget, cap) = match request.time_left {
                        Some(left) => (
                            self.time_budget.min(left.saturating_sub(LAMBDA_MARGIN)),
                            Some(started + left.saturating_sub(ANSWER_MARGIN)),
                        ),
                        None => (self.time_budget, None),
                    };
                    // Boxed: the run's state is large, and only requests with actions need it.
                    Box::pin(executor.execute_until(
                        &mut decision,
                        &alert,
                        &self.rules,
                        request.received_at,
                        started + budget,
                        cap,
                    ))
                    .await;
                }
                decision.record(&mut batch, &context);
                decision_response(&decision, request.received_at)
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

    /// Applies the HTTP rules and authentication, then parses the alert.
    async fn admit(
        &self,
        request: &Inbound<'_>,
        context: &mut RequestContext<'_>,
    ) -> Result<Alert, Refusal> {
        if request.method != Method::POST {
            return Err(Refusal::invalid(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "method {} is not allowed; alert targets send POST",
                    request.method
                ),
            ));
        }
        if request.body_error == Some(BodyError::Unreadable) {
            return Err(Refusal::invalid(
                StatusCode::BAD_REQUEST,
                "the body could not be read to its end".into(),
            ));
        }
        if request.body_error == Some(BodyError::TooLarge) || request.body.len() > MAX_BODY_BYTES {
            return Err(Refusal::invalid(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over the {MAX_BODY_BYTES}-byte limit"),
            ));
        }
        match self.authenticate(request).await {
            Ok(method) => context.auth = Some(method.as_str()),
            Err(rejection) => {
                return Err(Refusal {
                    status: StatusCode::UNAUTHORIZED,
                    outcome: "rejected",
                    // For the audit line only; the caller just sees "unauthorized".
                    detail: rejection.to_string(),
                    public: "unauthorized".into(),
                });
            }
        }
        check_content_type(request.headers)?;
        Alert::parse(request.body)
            .map_err(|e| Refusal::invalid(StatusCode::BAD_REQUEST, e.to_string()))
    }
}

impl Responder {
    fn authenticator(&self) -> Arc<Authenticator> {
        // A poisoned lock still holds a whole authenticator: swaps replace it in one step.
        Arc::clone(&self.auth.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Verifies a request. Secrets Manager secrets are re-read first when they are ten
    /// minutes old, and after a failure a rotated secret would explain (at most once a minute),
    /// then the request is verified again.
    async fn authenticate(&self, request: &Inbound<'_>) -> Result<AuthMethod, Rejection> {
        let verify =
            |auth: &Authenticator| auth.verify(request.headers, request.body, request.received_at);
        let Some(refresh) = &self.refresh else {
            return verify(&self.authenticator());
        };
        // Re-reads only when the secrets are older than that (checked under its lock).
        self.refresh_secrets(refresh, REFRESH_EVERY).await;
        let first = verify(&self.authenticator());
        if !matches!(
            first,
            Err(Rejection::UnknownToken | Rejection::BadSignature)
        ) {
            return first;
        }
        if self.refresh_secrets(refresh, refresh.after_failure).await {
            verify(&self.authenticator())
        } else {
            first
        }
    }

    /// Re-reads the secrets unless they were read less than `min_age` ago (another request
    /// may just have); swaps the authenticator only when every reference resolved, so a
    /// Secrets Manager outage never drops a working secret. Returns whether it swapped.
    async fn refresh_secrets(&self, refresh: &Refresh, min_age: Duration) -> bool {
        let mut last = refresh.last.lock().await;
        if last.elapsed() < min_age {
            return false;
        }
        *last = Instant::now();
        let resolver = Resolver {
            env: &*refresh.env,
            secrets_manager: Some(&refresh.client),
        };
        match Authenticator::from_config(&refresh.config, resolver).await {
            Ok(setup) if setup.warnings.iter().all(|w| refresh.baseline.contains(w)) => {
                *self.auth.write().unwrap_or_else(|e| e.into_inner()) =
                    Arc::new(setup.authenticator);
                tracing::info!("re-read the Secrets Manager secrets");
                true
            }
            Ok(setup) => {
                for warning in setup
                    .warnings
                    .iter()
                    .filter(|w| !refresh.baseline.contains(w))
                {
                    tracing::warn!("keeping the secrets read before: {warning}");
                }
                false
            }
            Err(err) => {
                tracing::warn!("keeping the secrets read before: {err}");
                false
            }
        }
    }
}

/// A request answered before any rule ran.
struct Refusal {
    status: StatusCode,
    outcome: &'static str,
    /// For the audit line.
    detail: String,
    /// For the caller.
    public: String,
}

impl Refusal {
    fn invalid(status: StatusCode, message: String) -> Self {
        Self {
            status,
            outcome: "invalid",
            detail: message.clone(),
            public: message,
        }
    }

    fn into_response(self, request_id: &str) -> Response<String> {
        #[derive(Serialize)]
        struct Body<'a> {
            request_id: &'a str,
            outcome: &'a str,
            error: &'a str,
        }
        let mut response = json_response(
            self.status,
            &Body {
                request_id,
                outcome: self.outcome,
                error: &self.public,
            },
        );
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }
}

/// JSON, or JSON labelled text/plain (Wavefront lets a template pick that label), or no label
/// at all. Forms, HTML and everything else are refused.
fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let accepted = essence == "application/json"
        || essence == "text/plain"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if accepted {
        Ok(())
    } else {
        Err(Refusal::invalid(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "content type \"{}\" is not supported; set the alert target's content type to \
                 application/json",
                truncate(&essence, 64)
            ),
        ))
    }
}

/// The answer to an accepted request: 502 when an action failed, so Wavefront's retry may act;
/// 503 with `Retry-After` when another request's claim, which it may still give back, held it
/// up; 200 otherwise.
fn decision_response(decision: &Decision<'_>, now: jiff::Timestamp) -> Response<String> {
    if decision.failed() {
        return json_response(StatusCode::BAD_GATEWAY, decision);
    }
    let Some(until) = decision.retry() else {
        return json_response(StatusCode::OK, decision);
    };
    let mut response = json_response(StatusCode::SERVICE_UNAVAILABLE, decision);
    // Whole seconds until the claim in the way lapses; at least one, at most 15 minutes.
    let wait = until.duration_since(now).as_secs().clamp(1, 900);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    response
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response<String> {
    let body = serde_json::to_string(body).unwrap_or_else(|err| {
        tracing::error!(%err, "cannot serialize a response");
        r#"{"error":"internal error"}"#.to_owned()
    });
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

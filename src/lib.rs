//! wavefront-responder: undo a bad release when a Wavefront alert fires.
//!
//! Wavefront calls this service's URL (an alert target webhook) when an alert changes state.
//! A request flows one way: front door → auth → alert → plan → execute → record → announce,
//! composed in `app`. Each module below may use only the modules listed before it
//! (`tests/structure.rs` holds the same order and enforces it):
//!
//! - [`duration`]: human durations in config (`"30m"`, `"1h"`).
//! - [`text`]: shortening and counting words in the sentences the responder writes.
//! - [`aws`]: the SDK settings every AWS client shares (TLS, retries, timeouts), and AWS errors
//!   as sentences.
//! - [`secret`]: where secrets come from (`env:`, `secretsmanager:`) and a wrapper that never
//!   prints them.
//! - [`wavefront`]: Wavefront's REST API: the `[wavefront]` settings and a client that calls
//!   it with the API token, bounded in time and size.
//! - [`front_door`]: one request, whichever way it arrived, and the rules of HTTP that apply
//!   before any alert is looked at; the one place a refusal becomes a status code.
//! - [`auth`]: proves the caller holds a shared token or a Standard Webhooks signing secret.
//!   No unauthenticated request gets past it.
//! - [`alert`]: the Wavefront alert model, parsed leniently from whatever the alert target's
//!   body template rendered.
//! - [`actions`]: what each remediation action is (CodeDeploy rollback, Lambda alias shift,
//!   AppConfig rollback, ECS rollback): its config, validation and plan sentence. No AWS call.
//! - [`ledger`]: what has been handled and done (de-duplication, one action per incident,
//!   cooldowns, the circuit breaker), the freezes set by people on call, and what the
//!   attribution guard needs, in memory or in DynamoDB.
//! - [`telemetry`]: METRIC log lines in the CloudWatch metric-filter format and JSON audit
//!   lines.
//! - [`plan`]: which rules an alert matches and why, and what would be done: pure, no I/O.
//! - [`execute`]: runs a plan against AWS through the ledger's guards, within the time
//!   budget: the only code that calls CodeDeploy, Lambda, AppConfig and ECS.
//! - [`record`]: built once from the plan and its execution: the HTTP response body, the
//!   audit and METRIC lines.
//! - [`announce`]: tells people what the responder did: Wavefront events and chat
//!   notifications through SNS, best effort.
//! - [`config`]: the TOML file users write, parsed once at start-up into each part's
//!   validated settings.
//! - [`app`]: the composition root: the responder that runs a request through the flow, served
//!   on AWS Lambda and as a local HTTP server.
//! - `commands` (the binary's, `src/commands/`): `serve`, `check`, `explain`, `ledger`,
//!   `freeze`, `unfreeze` and `register`.

pub mod actions;
pub mod alert;
pub mod announce;
pub mod app;
pub mod auth;
pub mod aws;
pub mod config;
pub mod duration;
pub mod execute;
pub mod front_door;
pub mod ledger;
pub mod plan;
pub mod record;
pub mod secret;
pub mod telemetry;
pub mod text;
pub mod wavefront;

//! wavefront-responder: undo a bad release when a Wavefront alert fires.
//!
//! Wavefront calls this service's URL (an alert target webhook) when an alert changes state.
//! A request flows one way through these modules:
//!
//! - [`front_door`]: HTTP in and out. One handler serves AWS Lambda (API Gateway REST and HTTP
//!   APIs, ALB, function URLs) and the local `serve` command; it owns status codes and limits.
//! - [`auth`]: proves the caller holds a shared token or a Standard Webhooks signing secret.
//!   No unauthenticated request gets past it.
//! - [`alert`]: the Wavefront alert model, parsed leniently from whatever the alert target's
//!   body template rendered.
//! - [`rules`]: matches an alert against the configured rules and says why each rule matched
//!   or not. Pure code: no I/O.
//! - [`actions`]: the remediation actions rules can run (CodeDeploy rollback, Lambda alias
//!   shift): their config, what they would do, and running them against AWS within a time
//!   budget, guarded by the ledger. With the ledger's DynamoDB store, the only code that talks
//!   to AWS.
//! - [`ledger`]: what has been handled and done (de-duplication, one action per incident,
//!   cooldowns, the circuit breaker), the freezes set by people on call, and what the
//!   attribution guard needs, in memory or in DynamoDB.
//! - [`decision`]: the record of everything decided for one request, returned as the HTTP
//!   response body and written as audit lines.
//! - [`telemetry`]: METRIC log lines in the CloudWatch metric-filter format and JSON audit lines.
//! - [`config`]: the TOML file users write, parsed once at start-up into validated types.
//! - [`duration`]: human durations in config (`"30m"`, `"1h"`).
//! - [`secret`]: where secrets come from (`env:` references) and a wrapper that never prints them.

pub mod actions;
pub mod alert;
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

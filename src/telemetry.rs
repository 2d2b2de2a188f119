//! Telemetry and audit: the two line formats this service writes to stdout, one line each.
//!
//! - **METRIC lines** in the format of the seed article's CloudWatch metric filter
//!   `[level=METRIC, timestamp, request_id, metric_name, metric_value]`:
//!   `[METRIC]<TAB>2026-11-25T20:58:15.123Z<TAB><request id><TAB><metric name> <value>`.
//!   The filter splits on whitespace and reads `[METRIC]` as `METRIC`, so each line yields
//!   exactly those five fields. One filter per metric name turns them into CloudWatch metrics.
//! - **Audit lines**: one JSON object per decision with `"type":"audit"`, for CloudWatch Logs
//!   Insights.
//!
//! Everything else (start-up messages, warnings) goes through `tracing` to stderr, so neither
//! format is ever interleaved with free text. The writer is injectable so tests read exact
//! lines. All lines of one request are written with one `write_all`, so concurrent requests
//! never interleave within a line.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde::Serialize;

use crate::ledger::Guard;

/// Declares [`Metric`] from one list of variants and names, so [`Metric::ALL`] (which the
/// deployment template's filters and the docs are checked against) cannot miss one.
macro_rules! metrics {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// The metrics this service emits. The names are the CloudWatch metric names.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Metric {
            $($(#[$doc])* $variant,)*
        }

        impl Metric {
            /// Every metric, for documentation and the deployment template.
            pub const ALL: &[Metric] = &[$(Self::$variant,)*];

            /// The metric name as written in METRIC lines.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }
    };
}

metrics! {
    /// Every request, before anything is checked.
    WebhookReceived => "webhook_received",
    /// Failed authentication (401).
    WebhookRejected => "webhook_rejected",
    /// Refused before any rule ran: wrong method, too large, wrong content type, bad payload.
    WebhookInvalid => "webhook_invalid",
    /// A rule matched an alert (one line per rule).
    RuleMatched => "rule_matched",
    /// An action was planned (dry run, or not executed).
    ActionPlanned => "action_planned",
    /// An action changed something in AWS.
    ActionExecuted => "action_executed",
    /// An action found nothing to do or was not allowed to act.
    ActionSkipped => "action_skipped",
    /// An action failed.
    ActionFailed => "action_failed",
    /// Time spent handling the request, in milliseconds.
    HandlerDurationMs => "handler_duration_ms",
    /// A notification already handled arrived again; nothing ran.
    WebhookDuplicate => "webhook_duplicate",
    /// A delivery another request's pending claim held up (the same notification being
    /// handled, or an action's latch or cooldown): answered 503 for Wavefront to send again.
    WebhookInProgress => "webhook_in_progress",
    /// An action was not run because the circuit breaker is open.
    CircuitOpen => "circuit_open",
    /// An action that would have changed something was skipped because of a freeze.
    ActionFrozen => "action_frozen",
    /// An action left alone what it found to undo because it began after the incident started
    /// (the attribution guard).
    ActionHeld => "action_held",
    /// The ledger could not do what a request needed although no action failed: an
    /// `ALERT_RESOLVED` that could not clear incident latches (answered 502).
    LedgerFailed => "ledger_failed",
    /// A Wavefront event said what a request did (an action executed, failed, or was refused
    /// by the circuit breaker, a freeze or the attribution guard).
    EventPosted => "event_posted",
    /// Such an event could not be posted (Wavefront failed or did not answer in time, the
    /// ledger could not mark it, or no time was left): the charts miss it.
    EventFailed => "event_failed",
    /// A chat notification through SNS said what a request did (by default: an action
    /// executed, failed, or was refused; `[notify] on`).
    NotifySent => "notify_sent",
    /// Such a notification could not be published (SNS failed or did not answer in time, the
    /// ledger could not mark it, or no time was left): the chat misses it.
    NotifyFailed => "notify_failed",
}

/// One audit line. Absent values are written as `null` so every line has every key, which
/// keeps Logs Insights queries simple.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Audit<'a> {
    pub request_id: &'a str,
    pub alert_id: Option<&'a str>,
    pub alert_name: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub severity: Option<&'a str>,
    pub rule: Option<&'a str>,
    pub action: Option<&'a str>,
    pub target: Option<&'a str>,
    /// What held an action back: a ledger guard, a freeze or the attribution guard.
    pub guard: Option<Guard>,
    pub outcome: &'a str,
    pub dry_run: bool,
    pub detail: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub aws_request_ids: &'a [String],
    pub auth: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl<'a> Audit<'a> {
    /// The audit line of a request from `context`, about nothing yet: the fields of an
    /// alert, a rule and an action are filled in by who writes it.
    pub fn request(request_id: &'a str, context: &RequestContext<'a>) -> Self {
        Self {
            request_id,
            alert_id: None,
            alert_name: None,
            reason: None,
            severity: None,
            rule: None,
            action: None,
            target: None,
            guard: None,
            outcome: "",
            dry_run: false,
            detail: "",
            aws_request_ids: &[],
            auth: context.auth,
            source_ip: context.source_ip,
            user_agent: context.user_agent,
        }
    }
}

/// Who sent a request, for audit lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestContext<'a> {
    /// How the caller proved who they are, once they did.
    pub auth: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

#[derive(Serialize)]
struct AuditLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: &'a str,
    #[serde(flatten)]
    audit: &'a Audit<'a>,
}

/// Where lines go. Cloning shares the writer.
#[derive(Clone)]
pub struct Telemetry {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Telemetry {
    /// Lines go to stdout (on Lambda: CloudWatch Logs).
    pub fn stdout() -> Self {
        Self::to_writer(std::io::stdout())
    }

    /// Lines go to `writer`.
    pub fn to_writer(writer: impl Write + Send + 'static) -> Self {
        Self {
            out: Arc::new(Mutex::new(Box::new(writer))),
        }
    }

    /// Starts collecting the lines of one request. Every line of the batch carries the time
    /// it was started: one clock read and one formatting per request.
    pub fn batch<'a>(&'a self, request_id: &'a str) -> Batch<'a> {
        Batch {
            telemetry: self,
            request_id,
            timestamp: format!("{:.3}", Timestamp::now()),
            buffer: String::with_capacity(1024),
        }
    }

    fn write(&self, text: &str) {
        // A poisoned lock only means another request panicked mid-write; keep logging.
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(err) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            tracing::error!(%err, "cannot write METRIC and audit lines");
        }
    }
}

/// The lines of one request, written together by [`Batch::finish`] (or when dropped).
pub struct Batch<'a> {
    telemetry: &'a Telemetry,
    request_id: &'a str,
    /// ISO-8601 UTC with milliseconds, like `2026-11-25T20:41:09.312Z`.
    timestamp: String,
    buffer: String,
}

impl Batch<'_> {
    /// Adds a METRIC line.
    pub fn metric(&mut self, metric: Metric, value: f64) {
        // Writing to a String cannot fail.
        let _ = writeln!(
            self.buffer,
            "[METRIC]\t{}\t{}\t{} {value}",
            self.timestamp,
            self.request_id,
            metric.name()
        );
    }

    /// Adds an audit line.
    pub fn audit(&mut self, audit: &Audit<'_>) {
        let line = AuditLine {
            kind: "audit",
            timestamp: &self.timestamp,
            audit,
        };
        match serde_json::to_string(&line) {
            Ok(json) => {
                self.buffer.push_str(&json);
                self.buffer.push('\n');
            }
            Err(err) => tracing::error!(%err, "cannot serialize an audit line"),
        }
    }

    /// Writes every line collected.
    pub fn finish(mut self) {
        self.flush();
    }

    fn flush(&mut self) {
        if !self.buffer.is_empty() {
            self.telemetry.write(&self.buffer);
            self.buffer.clear();
        }
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Splits a log line the way a CloudWatch space-delimited filter does: on whitespace, with
/// `[...]` and `"..."` each one field (brackets and quotes removed). For the tests and the
/// fuzz checks (the `test-support` feature), so they use one definition.
#[cfg(any(test, feature = "test-support"))]
pub fn metric_filter_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let close = match c {
            '[' => Some(']'),
            '"' => Some('"'),
            _ => None,
        };
        let mut field = String::new();
        if let Some(close) = close {
            chars.next();
            for c in chars.by_ref() {
                if c == close {
                    break;
                }
                field.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                field.push(c);
                chars.next();
            }
        }
        fields.push(field);
    }
    fields
}

/// A writer that keeps everything written in memory, for whoever reads the lines back: the
/// tests, and the fuzz targets' checks (the `test-support` feature).
#[cfg(any(test, feature = "test-support"))]
#[derive(Clone, Debug, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

#[cfg(any(test, feature = "test-support"))]
impl Captured {
    /// Everything written so far, as bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Everything written so far, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    /// Forgets what was written.
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(any(test, feature = "test-support"))]
impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lines_split_into_the_filter_fields() {
        let captured = Captured::default();
        let telemetry = Telemetry::to_writer(captured.clone());
        let mut batch = telemetry.batch("aba1328d-5831-11e8-833f-b5cd5e8c0a59");
        batch.metric(Metric::HandlerDurationMs, 1.25);
        batch.metric(Metric::WebhookReceived, 1.0);
        batch.finish();
        let text = captured.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let fields = metric_filter_fields(lines[0]);
        assert_eq!(fields.len(), 5, "{fields:?}");
        assert_eq!(fields[0], "METRIC");
        assert!(fields[1].parse::<Timestamp>().is_ok(), "{}", fields[1]);
        assert!(
            fields[1].ends_with('Z') && fields[1].len() == 24,
            "{}",
            fields[1]
        );
        assert_eq!(fields[2], "aba1328d-5831-11e8-833f-b5cd5e8c0a59");
        assert_eq!(fields[3], "handler_duration_ms");
        assert_eq!(fields[4], "1.25");
        assert!(lines[0].starts_with("[METRIC]\t"));
        assert!(lines[1].ends_with("\twebhook_received 1"), "{}", lines[1]);
    }

    #[test]
    fn audit_lines_are_single_json_objects_with_every_key() {
        let captured = Captured::default();
        let telemetry = Telemetry::to_writer(captured.clone());
        let mut batch = telemetry.batch("req-1");
        batch.audit(&Audit {
            request_id: "req-1",
            alert_id: None,
            alert_name: Some("line\nbreak"),
            reason: Some("ALERT_OPENED"),
            severity: None,
            rule: None,
            action: None,
            target: None,
            guard: None,
            outcome: "no_match",
            dry_run: false,
            detail: "no rule matched",
            aws_request_ids: &[],
            auth: Some("token"),
            source_ip: Some("203.0.113.9"),
            user_agent: None,
        });
        drop(batch);
        let text = captured.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        let value: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(value["type"], "audit");
        assert_eq!(value["alert_name"], "line\nbreak");
        assert_eq!(value["alert_id"], serde_json::Value::Null);
        for key in [
            "request_id",
            "alert_id",
            "alert_name",
            "reason",
            "rule",
            "action",
            "target",
            "outcome",
            "dry_run",
            "detail",
            "timestamp",
        ] {
            assert!(value.get(key).is_some(), "missing {key}: {text}");
        }
    }

    #[test]
    fn filter_split_keeps_bracketed_and_quoted_text_whole() {
        assert_eq!(
            metric_filter_fields("[METRIC]  a \"b c\" [d e]\tf"),
            ["METRIC", "a", "b c", "d e", "f"]
        );
    }
}

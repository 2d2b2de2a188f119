//! Tells people what the responder did: one Wavefront event per request in which a live action
//! executed, failed, or was refused by the circuit breaker, a freeze or the attribution guard
//! ([`Event::of`] decides and builds it from the record), posted with `POST /api/v2/event`;
//! and one chat notification per such request, published to an SNS topic in the custom
//! notification format of Amazon Q Developer in chat applications ([`chat`], [`notify`]). Both
//! say what happened with one function, the event's name and the notification's title.
//!
//! Best effort: it runs after the actions, so it never delays them, within [`EVENT_WITHIN`] and
//! never past the time the request keeps to answer; it never changes the answer. Each attempt
//! writes a METRIC line, `event_posted` or `event_failed`, and a failure a warning that says
//! why (never the token: [`crate::wavefront`]'s errors do not hold it).
//!
//! The ledger marks the event before it is posted (`Ledger::claim_announcement`), so a re-delivery
//! that runs again does not post it twice.

pub mod chat;
mod event;
pub mod notify;

use std::time::Duration;

use http::Method;
use jiff::Timestamp;
use tokio::time::{Instant, timeout_at};

pub use event::{EVENT_TYPE, Event, MAX_DETAILS_CHARS, MAX_NAME_CHARS, Severity};

use crate::alert::Alert;
use crate::ledger::{Announcement, Key, Ledger, notification_key};
use crate::record::Record;
use crate::telemetry::{Batch, Metric};
use crate::wavefront::{Permission, Wavefront, WavefrontError};

/// How long posting an event may take at most, the ledger's mark included.
pub const EVENT_WITHIN: Duration = Duration::from_secs(2);

/// Where a request's event goes, and by when.
#[derive(Clone, Copy, Debug)]
pub struct Announcer<'a> {
    pub wavefront: &'a Wavefront,
    /// Where the events posted are marked: the executor's ledger.
    pub ledger: &'a Ledger,
    /// When everything must be done, the ledger's mark included.
    pub until: Instant,
}

/// What came of one request's event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Announced {
    /// Nothing in the request is worth an event.
    Nothing,
    /// Posted.
    Posted(Event),
    /// An earlier delivery of the same notification posted the same event: not posted again.
    AlreadyPosted,
    /// Not posted, and why.
    Failed(String),
}

impl Announced {
    /// Writes the METRIC line and the log line of what came of a request's event.
    pub fn write(&self, request_id: &str, batch: &mut Batch<'_>) {
        match self {
            Announced::Nothing => {}
            Announced::Posted(event) => {
                batch.metric(Metric::EventPosted, 1.0);
                tracing::debug!(request_id, name = event.name, "Wavefront event posted");
            }
            Announced::AlreadyPosted => {
                tracing::debug!(
                    request_id,
                    "Wavefront event already posted for this delivery"
                );
            }
            Announced::Failed(why) => {
                batch.metric(Metric::EventFailed, 1.0);
                tracing::warn!(request_id, "Wavefront event not posted: {why}");
            }
        }
    }
}

impl Announcer<'_> {
    /// Marks and posts the event of `record`, if it has one, by [`Announcer::until`].
    pub async fn post(&self, record: &Record<'_>, alert: &Alert) -> Announced {
        let Some(event) = Event::of(record, &alert.tags) else {
            return Announced::Nothing;
        };
        if Instant::now() >= self.until {
            return Announced::Failed("no time was left in the request's budget".to_owned());
        }
        let now = Timestamp::now();
        // Without a notification key a re-delivery cannot be recognised, by the ledger nor
        // here: the event is posted unmarked (the record notes the missing key).
        let notification = notification_key(alert);
        if let Some(key) = &notification {
            let mark = self.ledger.claim_announcement(
                key,
                Announcement::Event,
                &event.name,
                record.request_id,
                now,
            );
            match timeout_at(self.until, mark).await {
                Ok(Ok(None)) => {}
                Ok(Ok(Some(_))) => return Announced::AlreadyPosted,
                // Unmarked, it is not posted: the ledger cannot say whether an earlier delivery
                // posted it, and an event twice on the charts reads as a second rollback, which
                // misleads the people on call more than a missing one, which `event_failed`
                // (and its alarm) reports.
                Ok(Err(err)) => {
                    return Announced::Failed(format!("the ledger could not mark it ({err})"));
                }
                Err(_) => {
                    return Announced::Failed(
                        "the ledger did not answer in time to mark it".to_owned(),
                    );
                }
            }
        }
        let within = self.until.saturating_duration_since(Instant::now());
        let body = event.body(now.as_millisecond());
        let posted = self
            .wavefront
            .call(
                Method::POST,
                "/api/v2/event",
                Some(&body),
                Permission::Events,
                within,
            )
            .await;
        match posted {
            Ok(_) => Announced::Posted(event),
            Err(err) => {
                if let (Some(key), true) = (&notification, refused(&err)) {
                    self.give_back(key, &event.name, record.request_id).await;
                }
                Announced::Failed(err.to_string())
            }
        }
    }

    /// Gives back the mark of an event Wavefront refused, so a re-delivery may post it; a mark
    /// not given back only means that a re-delivery does not post it either.
    async fn give_back(&self, key: &Key, name: &str, request_id: &str) {
        let release =
            (self.ledger).release_announcement(key, Announcement::Event, name, request_id);
        match timeout_at(self.until, release).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(request_id, "event mark not given back: {err}"),
            Err(_) => tracing::warn!(request_id, "event mark not given back in time"),
        }
    }
}

/// Whether the event is certainly not on the charts: Wavefront refused it, or it was never
/// sent (no connection, no request). An event whose call timed out or whose connection was
/// lost after sending may be on the charts: its mark stays.
fn refused(err: &WavefrontError) -> bool {
    matches!(
        err,
        WavefrontError::Unauthorized
            | WavefrontError::Forbidden { .. }
            | WavefrontError::Failed { .. }
            | WavefrontError::NotConnected { .. }
            | WavefrontError::BadRequest { .. }
            | WavefrontError::Tls { .. }
    )
}

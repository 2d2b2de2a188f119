//! Chat notifications: the `[notify]` settings, and the publishing of a request's
//! [`Message`] to an SNS topic, best effort.
//!
//! Like the Wavefront event, a notification is sent after the actions, within its own bound
//! and never past the time the request keeps to answer, and never changes the answer; each
//! attempt writes `notify_sent` or `notify_failed`. The ledger marks it before it is sent
//! (`Ledger::claim_announcement` with [`Announcement::Notification`]), so a re-delivery that
//! runs again does not put the same message in the chat twice.

use std::time::Duration;

use aws_sdk_sns::Client;
use aws_sdk_sns::config::Region;
use aws_sdk_sns::config::http::HttpResponse;
use aws_sdk_sns::error::SdkError;
use jiff::Timestamp;
use tokio::time::{Instant, timeout_at};

use super::chat::{AlertLink, Kind, Message};
use crate::alert::Alert;
use crate::aws::Home;
use crate::ledger::{Announcement, Ledger, notification_key};
use crate::record::Record;
use crate::telemetry::{Batch, Metric};

/// How long publishing a notification may take at most, the ledger's mark included.
pub const NOTIFY_WITHIN: Duration = Duration::from_secs(2);

/// The kinds of requests `[notify] on` selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcomes(Vec<Kind>);

impl Default for Outcomes {
    /// Executed, failed and refused: what changed something, or should have.
    fn default() -> Self {
        Self(vec![Kind::Executed, Kind::Failed, Kind::Refused])
    }
}

impl Outcomes {
    /// The kinds named, or the first name that is none.
    pub fn parse<'n>(names: impl IntoIterator<Item = &'n str>) -> Result<Self, String> {
        let mut kinds = Vec::new();
        for name in names {
            let kind = Kind::ALL
                .into_iter()
                .find(|k| k.as_str() == name)
                .ok_or_else(|| {
                    let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                    format!(
                        "\"{name}\" is not an outcome to notify on; use {}",
                        known.join(", ")
                    )
                })?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        Ok(Self(kinds))
    }

    pub fn contains(&self, kind: Kind) -> bool {
        self.0.contains(&kind)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|k| k.as_str()).collect()
    }
}

/// Where `[notify] sns_topic` points: an ARN, or `env:NAME` (the template sets the variable).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topic {
    Arn(String),
    Env(String),
}

impl Topic {
    /// `arn:aws:sns:<region>:<account>:<name>` or `env:NAME`, or why not.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(variable) = text.strip_prefix("env:") {
            let valid = !variable.is_empty()
                && variable
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            return valid
                .then(|| Self::Env(variable.to_owned()))
                .ok_or_else(|| format!("\"{text}\" is not env:NAME with a variable name"));
        }
        if is_topic_arn(text) && text.ends_with(".fifo") {
            Err(format!(
                "\"{text}\" is a FIFO topic, which refuses a message without a message group \
                 id: use a standard topic"
            ))
        } else if is_topic_arn(text) {
            Ok(Self::Arn(text.to_owned()))
        } else {
            Err(format!(
                "\"{text}\" is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME) nor env:NAME"
            ))
        }
    }

    /// The ARN, reading the environment for `env:` references; `None` when the variable is
    /// unset or empty (the template's topic is optional).
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        match self {
            Self::Arn(arn) => Some(arn.clone()),
            Self::Env(variable) => {
                env(variable).filter(|v| is_topic_arn(v.trim()) && !v.trim().ends_with(".fifo"))
            }
        }
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Arn(arn) => f.write_str(arn),
            Self::Env(variable) => write!(f, "env:{variable}"),
        }
    }
}

/// The Region of a topic ARN.
fn topic_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|region| !region.is_empty())
}

fn is_topic_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    matches!(parts.as_slice(),
        ["arn", partition, "sns", region, account, name]
            if partition.starts_with("aws")
                && !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && (1..=256).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
}

/// The `[notify]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub topic: Topic,
    pub on: Outcomes,
}

/// The `[notify]` table resolved, with its client: built once per process.
#[derive(Clone, Debug)]
pub struct Channel {
    sns: Client,
    /// The topic, or why there is none (the start-up warning): then every notification the
    /// responder would have sent is a `notify_failed`, so the alarm says they are off.
    topic_arn: Result<String, String>,
    on: Outcomes,
}

impl Channel {
    /// The channel of `settings`, reading `env` for an `env:` topic, and the start-up warning
    /// when the topic is not set; or why there is no channel at all (plan-only mode, which
    /// makes no AWS calls and so sends nothing).
    pub fn new(
        settings: &Settings,
        env: &dyn Fn(&str) -> Option<String>,
        sns: Option<Client>,
    ) -> Result<(Self, Option<String>), String> {
        let sns = sns.ok_or_else(|| {
            "[notify] is set, but plan-only mode makes no AWS calls: chat notifications are off"
                .to_owned()
        })?;
        let topic_arn = settings.topic.resolve(env).ok_or_else(|| {
            format!(
                "[notify] sns_topic {} is not set to a topic ARN: chat notifications are off, \
                 and each one not sent counts as notify_failed",
                settings.topic
            )
        });
        let warning = topic_arn.as_ref().err().cloned();
        // SNS takes a Publish in the topic's own Region only.
        let sns = match topic_arn.as_deref().ok().and_then(topic_region) {
            Some(region) => Client::from_conf(
                sns.config()
                    .to_builder()
                    .region(Region::new(region.to_owned()))
                    .build(),
            ),
            None => sns,
        };
        let on = settings.on.clone();
        Ok((Self { sns, topic_arn, on }, warning))
    }

    /// The topic notifications are published to, if it is set.
    pub fn topic_arn(&self) -> Option<&str> {
        self.topic_arn.as_deref().ok()
    }

    /// Sends a request's notification, marked in `ledger`, by `until`; its ARNs are completed
    /// from `home`, the responder's own function's, when it is known (on Lambda).
    pub fn notifier<'a>(
        &'a self,
        ledger: &'a Ledger,
        until: Instant,
        home: Option<Home<'a>>,
    ) -> Notifier<'a> {
        Notifier {
            sns: &self.sns,
            topic_arn: self.topic_arn.as_deref().map_err(String::as_str),
            on: &self.on,
            ledger,
            until,
            home,
        }
    }
}

/// Where a request's notification goes, and by when.
#[derive(Clone, Copy, Debug)]
pub struct Notifier<'a> {
    pub sns: &'a Client,
    /// The topic, or why it is not set.
    pub topic_arn: Result<&'a str, &'a str>,
    pub on: &'a Outcomes,
    /// Where the notifications sent are marked: the executor's ledger.
    pub ledger: &'a Ledger,
    /// When everything must be done, the ledger's mark included.
    pub until: Instant,
    /// Where the responder acts, for the ARNs of `relatedResources`.
    pub home: Option<Home<'a>>,
}

/// What came of one request's notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notified {
    /// Nothing in the request is selected by `[notify] on`.
    Nothing,
    /// Published: the title.
    Sent(String),
    /// An earlier delivery of the same notification sent the same message.
    AlreadySent,
    /// Not sent, and why.
    Failed(String),
}

impl Notified {
    /// Writes the METRIC line and the log line of what came of a request's notification.
    pub fn write(&self, request_id: &str, batch: &mut Batch<'_>) {
        match self {
            Self::Nothing => {}
            Self::Sent(title) => {
                batch.metric(Metric::NotifySent, 1.0);
                tracing::debug!(request_id, title, "chat notification sent");
            }
            Self::AlreadySent => {
                tracing::debug!(
                    request_id,
                    "chat notification already sent for this delivery"
                );
            }
            Self::Failed(why) => {
                batch.metric(Metric::NotifyFailed, 1.0);
                tracing::warn!(request_id, "chat notification not sent: {why}");
            }
        }
    }
}

impl Notifier<'_> {
    /// Marks and publishes the notification of `record`, if it has one, by
    /// [`Notifier::until`].
    pub async fn send(&self, record: &Record<'_>, alert: &Alert) -> Notified {
        let link = AlertLink {
            url: alert.url.as_deref(),
        };
        let Some(message) = Message::of(record, link, self.on, self.home.as_ref()) else {
            return Notified::Nothing;
        };
        let topic_arn = match self.topic_arn {
            Ok(arn) => arn,
            Err(why) => return Notified::Failed(why.to_owned()),
        };
        if Instant::now() >= self.until {
            return Notified::Failed("no time was left in the request's budget".to_owned());
        }
        let notification = notification_key(alert);
        let kind = Announcement::Notification;
        if let Some(key) = &notification {
            let mark = (self.ledger).claim_announcement(
                key,
                kind,
                &message.title,
                record.request_id,
                Timestamp::now(),
            );
            match timeout_at(self.until, mark).await {
                Ok(Ok(None)) => {}
                Ok(Ok(Some(_))) => return Notified::AlreadySent,
                Ok(Err(err)) => {
                    return Notified::Failed(format!("the ledger could not mark it ({err})"));
                }
                Err(_) => {
                    return Notified::Failed(
                        "the ledger did not answer in time to mark it".to_owned(),
                    );
                }
            }
        }
        let publish = self
            .sns
            .publish()
            .topic_arn(topic_arn)
            .message(message.body.to_string())
            .send();
        let failed = match timeout_at(self.until, publish).await {
            Ok(Ok(_)) => return Notified::Sent(message.title),
            Ok(Err(err)) if refused(&err) => crate::aws::describe(&err),
            // It may have reached SNS (a 5xx after a retry that may have published, a lost
            // answer): the mark stays, as a message twice in the chat reads as a second
            // rollback.
            Ok(Err(err)) => return Notified::Failed(crate::aws::describe(&err)),
            Err(_) => return Notified::Failed("SNS did not answer in time".to_owned()),
        };
        // SNS refused it, or it was never sent: the mark is given back so a re-delivery may
        // try again.
        if let Some(key) = &notification {
            let release =
                (self.ledger).release_announcement(key, kind, &message.title, record.request_id);
            if !matches!(timeout_at(self.until, release).await, Ok(Ok(()))) {
                tracing::warn!(
                    request_id = record.request_id,
                    "notification mark not given back"
                );
            }
        }
        Notified::Failed(failed)
    }
}

/// Whether SNS surely did not publish: it answered 4xx, or the request was never built.
fn refused<E>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::ServiceError(e) => e.raw().status().is_client_error(),
        SdkError::ConstructionFailure(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(topic: &str) -> Settings {
        Settings {
            topic: Topic::parse(topic).unwrap(),
            on: Outcomes::default(),
        }
    }

    fn sns() -> Option<Client> {
        let config = aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .build();
        Some(Client::from_conf(config))
    }

    #[test]
    fn only_a_refusal_or_a_request_never_sent_surely_published_nothing() {
        use aws_sdk_sns::config::http::HttpResponse;
        use aws_smithy_types::body::SdkBody;

        let answered = |status: u16| {
            let response = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
            let metadata = aws_sdk_sns::error::ErrorMetadata::builder()
                .code("X")
                .build();
            let err = aws_sdk_sns::operation::publish::PublishError::generic(metadata);
            SdkError::service_error(err, response)
        };
        assert!(refused(&answered(400)));
        assert!(refused(&answered(403)));
        assert!(
            !refused(&answered(500)),
            "a 5xx after a retry may have published"
        );
        assert!(!refused(&answered(503)));
        assert!(refused(
            &SdkError::<(), HttpResponse>::construction_failure("no region")
        ));
        assert!(!refused(&SdkError::<(), HttpResponse>::timeout_error(
            "slow"
        )));
    }

    #[test]
    fn the_client_publishes_in_the_topic_s_region() {
        let arn = "arn:aws:sns:eu-west-1:123456789012:oncall";
        let env = |_: &str| None;
        let (channel, _) = Channel::new(&settings(arn), &env, sns()).unwrap();
        let region = channel.sns.config().region().map(|r| r.as_ref().to_owned());
        assert_eq!(region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn an_unset_topic_is_a_start_up_warning_and_plan_only_mode_has_no_channel() {
        let arn = "arn:aws:sns:us-east-1:123456789012:oncall";
        let env = |name: &str| (name == "TOPIC").then(|| arn.to_owned());
        let (channel, warning) = Channel::new(&settings("env:TOPIC"), &env, sns()).unwrap();
        assert_eq!((channel.topic_arn(), warning), (Some(arn), None));

        let (channel, warning) = Channel::new(&settings("env:UNSET"), &env, sns()).unwrap();
        assert_eq!(channel.topic_arn(), None);
        let warning = warning.expect("a warning");
        assert!(warning.contains("env:UNSET is not set"), "{warning}");
        assert!(warning.contains("notify_failed"), "{warning}");

        let err = Channel::new(&settings(arn), &env, None).unwrap_err();
        assert!(err.contains("plan-only"), "{err}");
    }
}

//! The "still firing?" check of rules that set `require_firing`: before an action of such a
//! rule may change anything, the alert is read from Wavefront (`GET /api/v2/alert/{alertId}`),
//! and the action goes on only while the alert's `status` includes FIRING and neither SNOOZED
//! nor IN_MAINTENANCE. The read is read-only, so dry runs make it too; a request makes it at
//! most once, when its first action that needs it runs, and every later one reuses the answer.
//!
//! When the status cannot be read (Wavefront did not answer in time or answered with an error,
//! the payload has no alert id, or the responder has no Wavefront client because its token could
//! not be read at start-up), the rule's `on_wavefront_error` decides: `skip` (the default)
//! leaves the target alone, `act` goes on; either way the detail says what happened and why.

use std::time::Duration;

use http::Method;
use serde_json::Value;

use crate::plan::rules::OnWavefrontError;
use crate::text::{printable, truncate};
use crate::wavefront::{Permission, Wavefront};

/// The longest the read may take. It also gets at most half the share of the time budget of
/// the action that makes it, so that an action it lets go on has time left to act.
pub const READ_LIMIT: Duration = Duration::from_secs(2);

/// The longest alert id asked about: Wavefront's are 13 digits.
const MAX_ID_CHARS: usize = 64;
/// The most statuses a detail lists (Wavefront documents eight), and the longest shown.
const MAX_LISTED: usize = 8;
const MAX_STATUS_CHARS: usize = 32;

/// What one request learnt of its alert.
#[derive(Clone, Debug)]
enum Status {
    /// The `status` list Wavefront gave.
    Read(Vec<String>),
    /// Why there is none, as a sentence.
    Unread(String),
}

/// What the check says of one action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Go on; what to add to the action's detail (starting with `; `).
    Act(String),
    /// Leave the target alone, and why.
    Hold(String),
}

/// One request's "still firing?" check: the alert, read when an action first needs it.
#[derive(Debug)]
pub(super) struct Firing<'a> {
    wavefront: Option<&'a Wavefront>,
    alert_id: Option<&'a str>,
    /// The longest the read may take ([`READ_LIMIT`] unless the executor says otherwise).
    limit: Duration,
    status: Option<Status>,
}

impl<'a> Firing<'a> {
    /// The check of a request about alert `alert_id`, asking `wavefront` (`None`: the
    /// responder has no client) within `limit`.
    pub fn new(
        wavefront: Option<&'a Wavefront>,
        alert_id: Option<&'a str>,
        limit: Duration,
    ) -> Self {
        Self {
            wavefront,
            alert_id,
            limit,
            status: None,
        }
    }

    /// The verdict for an action of a rule whose `on_wavefront_error` is `on_error`. Unless an
    /// earlier action of this request read the alert, reads it, within the limit and half of
    /// `share`, the action's share of the time budget.
    pub async fn verdict(&mut self, on_error: OnWavefrontError, share: Duration) -> Verdict {
        let status = match self.status.take() {
            Some(status) => status,
            None => self.read(self.limit.min(share / 2)).await,
        };
        let verdict = verdict_of(&status, on_error);
        self.status = Some(status);
        verdict
    }

    /// Reads the alert's status within `within`.
    async fn read(&self, within: Duration) -> Status {
        let Some(wavefront) = self.wavefront else {
            return Status::Unread(
                "the responder has no Wavefront client: the [wavefront] api_token could not be \
                 read at start-up (its start-up warning says why)"
                    .to_owned(),
            );
        };
        let Some(id) = self.alert_id else {
            return Status::Unread(
                "the payload has no alertId to ask Wavefront about; the shipped alert target \
                 template carries it"
                    .to_owned(),
            );
        };
        if !is_alert_id(id) {
            return Status::Unread(format!(
                "alert id `{}` is not one Wavefront makes (letters, digits, '-' and '_')",
                printable(crate::text::truncate(id, MAX_ID_CHARS))
            ));
        }
        let path = format!("/api/v2/alert/{id}");
        match wavefront
            .call(Method::GET, &path, None, Permission::Browse, within)
            .await
        {
            Ok(alert) => status_of(&alert, id),
            Err(err) => Status::Unread(err.to_string()),
        }
    }
}

/// Whether `id` can go into a path as it is.
fn is_alert_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The `status` list of Wavefront's alert, or why the answer has none.
fn status_of(alert: &Value, id: &str) -> Status {
    let list = alert.get("status").and_then(Value::as_array).map(|list| {
        list.iter()
            .map(|s| s.as_str().map(|s| printable(s).into_owned()))
            .collect::<Option<Vec<String>>>()
    });
    match list {
        Some(Some(status)) => Status::Read(status),
        _ => Status::Unread(format!(
            "Wavefront's answer for alert {id} has no status list"
        )),
    }
}

/// The status list as the detail shows it: at most [`MAX_LISTED`] entries, each cut to
/// [`MAX_STATUS_CHARS`], since it is whatever Wavefront answered.
fn listed(status: &[String]) -> String {
    if status.is_empty() {
        return "empty".to_owned();
    }
    let shown: Vec<&str> = (status.iter().take(MAX_LISTED))
        .map(|s| truncate(s, MAX_STATUS_CHARS))
        .collect();
    match status.len() - shown.len() {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// What `status` (or its absence) means for an action of a rule with `on_error`.
fn verdict_of(status: &Status, on_error: OnWavefrontError) -> Verdict {
    match (status, on_error) {
        (Status::Read(status), _) => {
            let listed = listed(status);
            match not_firing(status) {
                None => Verdict::Act(format!(
                    "; Wavefront says the alert is still firing (status {listed})"
                )),
                Some(why) => Verdict::Hold(format!(
                    "not firing: Wavefront says the alert's status is {listed} ({why}); \
                     require_firing acts only while it is FIRING, not SNOOZED or IN_MAINTENANCE"
                )),
            }
        }
        (Status::Unread(why), OnWavefrontError::Skip) => Verdict::Hold(format!(
            "not known to be firing: {why}; on_wavefront_error = \"skip\" leaves the target \
             alone"
        )),
        (Status::Unread(why), OnWavefrontError::Act) => Verdict::Act(format!(
            "; the alert's status could not be read from Wavefront ({why}), and \
             on_wavefront_error = \"act\" let it go on"
        )),
    }
}

/// Why an alert with `status` is not firing, or `None` when it is.
fn not_firing(status: &[String]) -> Option<&'static str> {
    let has = |wanted: &str| status.iter().any(|s| s.eq_ignore_ascii_case(wanted));
    if has("SNOOZED") {
        Some("it is snoozed")
    } else if has("IN_MAINTENANCE") {
        Some("it is in a maintenance window")
    } else if !has("FIRING") {
        Some("it is not firing")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(status: &[&str]) -> Status {
        Status::Read(status.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn only_a_firing_alert_neither_snoozed_nor_in_maintenance_lets_an_action_go_on() {
        let act = |status: &[&str]| verdict_of(&read(status), OnWavefrontError::Act);
        assert_eq!(
            act(&["FIRING"]),
            Verdict::Act("; Wavefront says the alert is still firing (status FIRING)".into())
        );
        assert!(matches!(act(&["FIRING", "NO_DATA"]), Verdict::Act(_)));
        // Whatever on_wavefront_error says: it decides only when there is no status.
        for (status, why) in [
            (&["FIRING", "SNOOZED"][..], "it is snoozed"),
            (&["IN_MAINTENANCE", "FIRING"][..], "in a maintenance window"),
            (&["CHECKING"][..], "it is not firing"),
            (&["SNOOZED"][..], "it is snoozed"),
            (&[][..], "status is empty (it is not firing)"),
            (&["NONE"][..], "status is NONE (it is not firing)"),
        ] {
            let Verdict::Hold(detail) = act(status) else {
                panic!("{status:?} lets an action go on");
            };
            assert!(detail.starts_with("not firing: "), "{detail}");
            assert!(detail.contains(why), "{status:?}: {detail}");
        }
    }

    #[test]
    fn a_long_status_list_is_bounded_in_the_detail_but_decided_on_whole() {
        let long = "X".repeat(100);
        let mut status: Vec<&str> = vec![&long; 20];
        status.push("SNOOZED");
        status.insert(0, "FIRING");
        let Verdict::Hold(detail) = verdict_of(&read(&status), OnWavefrontError::Act) else {
            panic!("a snoozed alert lets an action go on");
        };
        assert!(
            detail.contains(&format!("FIRING, {}", "X".repeat(32))),
            "{detail}"
        );
        assert!(detail.contains(" and 14 more (it is snoozed)"), "{detail}");
        assert!(detail.len() < 500, "{detail}");
    }

    #[test]
    fn without_a_status_on_wavefront_error_decides_and_the_detail_says_why() {
        let unread = Status::Unread("Wavefront answered 500: oops".into());
        assert_eq!(
            verdict_of(&unread, OnWavefrontError::Skip),
            Verdict::Hold(
                "not known to be firing: Wavefront answered 500: oops; on_wavefront_error = \
                 \"skip\" leaves the target alone"
                    .into()
            )
        );
        let Verdict::Act(note) = verdict_of(&unread, OnWavefrontError::Act) else {
            panic!("act does not act");
        };
        assert!(note.contains("(Wavefront answered 500: oops)"), "{note}");
    }

    #[test]
    fn an_answer_without_a_status_list_is_no_status() {
        let answer = serde_json::json!({"id": "1", "status": ["FIRING"]});
        assert!(matches!(status_of(&answer, "1"), Status::Read(s) if s == ["FIRING"]));
        for answer in [
            serde_json::json!({"id": "1"}),
            serde_json::json!({"status": "FIRING"}),
            serde_json::json!({"status": [1]}),
            Value::Null,
        ] {
            let Status::Unread(why) = status_of(&answer, "1") else {
                panic!("{answer} has a status");
            };
            assert_eq!(why, "Wavefront's answer for alert 1 has no status list");
        }
    }

    #[tokio::test]
    async fn an_alert_id_that_is_no_alert_id_is_never_put_in_a_path() {
        assert!(is_alert_id("1460761882996"));
        for id in ["", "../notificant", "1?x=1", "a b", &"9".repeat(65)] {
            assert!(!is_alert_id(id), "{id}");
        }
        let base = crate::wavefront::BaseUrl::parse("http://127.0.0.1:1").unwrap();
        let client = Wavefront::new(base, crate::secret::Secret::new("t"));
        let mut firing = Firing::new(Some(&client), Some("../notificant"), READ_LIMIT);
        let verdict = firing.verdict(OnWavefrontError::Skip, READ_LIMIT).await;
        let Verdict::Hold(detail) = verdict else {
            panic!("went on");
        };
        assert!(
            detail.contains("alert id `../notificant` is not one"),
            "{detail}"
        );
        let mut firing = Firing::new(None, Some("1"), READ_LIMIT);
        let Verdict::Hold(detail) = firing.verdict(OnWavefrontError::Skip, READ_LIMIT).await else {
            panic!("went on");
        };
        assert!(detail.contains("has no Wavefront client"), "{detail}");
    }
}

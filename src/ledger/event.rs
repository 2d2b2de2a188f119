//! The mark that an announcement (a Wavefront event, a chat notification) was sent for a
//! delivery, so a re-delivery that runs again (after a 502, or a 503 for a claim in the way)
//! does not put the same event on the charts, or the same message in the chat, twice.
//!
//! Stored beside the delivery's own entry: partition `notification#<id>`, sort key
//! `<kind>#<what it says>` (`event#...`, `notify#...`), taken with a conditional write as every
//! claim is, and kept for the retention. Keyed by what it says, which is what happened and to
//! what: a retry that does something else (it moves the alias the first attempt failed to) is
//! a new announcement.

use jiff::Timestamp;

use super::{Entry, Key, Ledger, LedgerError};

/// What kind of announcement a mark is for: each kind is marked on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Announcement {
    /// A Wavefront event.
    Event,
    /// A chat notification through SNS.
    Notification,
}

impl Announcement {
    fn prefix(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Notification => "notify",
        }
    }
}

/// The sort key of an announcement's mark under its delivery's partition.
fn mark_key(notification: &Key, kind: Announcement, name: &str) -> Key {
    Key::new(notification.pk.clone(), format!("{}#{name}", kind.prefix()))
}

impl Ledger {
    /// Marks the announcement `name` of kind `kind` of the delivery `notification` as sent by
    /// `request_id`, before it is sent: `None` when this request may send it, or the entry of
    /// the request that already did.
    pub async fn claim_announcement(
        &self,
        notification: &Key,
        kind: Announcement,
        name: &str,
        request_id: &str,
        now: Timestamp,
    ) -> Result<Option<Entry>, LedgerError> {
        let entry = self.entry(
            mark_key(notification, kind, name),
            (request_id, request_id),
            now,
            self.retention.get(),
            format!("{} claimed for sending: {name}", kind.prefix()),
        );
        self.store.claim(&entry, now).await
    }

    /// Gives the mark back when the receiver said it did not take the announcement, so a
    /// re-delivery may send it.
    pub async fn release_announcement(
        &self,
        notification: &Key,
        kind: Announcement,
        name: &str,
        request_id: &str,
    ) -> Result<(), LedgerError> {
        let key = mark_key(notification, kind, name);
        self.store.release(&key, request_id, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Announcement::{Event, Notification};

    #[tokio::test]
    async fn an_event_is_marked_once_per_delivery_and_name_until_given_back() {
        let ledger = Ledger::in_memory(None);
        let now = Timestamp::now();
        let delivery = Key::new("notification#n-1", "-");
        let name = "wavefront-responder: rolled back checkout:live";
        let claim = |request| ledger.claim_announcement(&delivery, Event, name, request, now);
        assert_eq!(claim("r-1").await.unwrap(), None);
        let holder = claim("r-2").await.unwrap().expect("already marked");
        assert_eq!(holder.claimed_by, "r-1");
        assert_eq!(holder.key.sk, format!("event#{name}"));
        // Another event of the same delivery, and the same event of another, are not held.
        let other =
            ledger.claim_announcement(&delivery, Event, "wavefront-responder: other", "r-2", now);
        assert_eq!(other.await.unwrap(), None);
        let next = Key::new("notification#n-2", "-");
        assert_eq!(
            ledger
                .claim_announcement(&next, Event, name, "r-2", now)
                .await
                .unwrap(),
            None
        );
        // Only its holder gives it back.
        ledger
            .release_announcement(&delivery, Event, name, "r-2")
            .await
            .unwrap();
        assert!(claim("r-3").await.unwrap().is_some());
        ledger
            .release_announcement(&delivery, Event, name, "r-1")
            .await
            .unwrap();
        assert_eq!(claim("r-3").await.unwrap(), None);
        // A notification of the same delivery and text is marked on its own.
        let chat = ledger.claim_announcement(&delivery, Notification, name, "r-4", now);
        assert_eq!(chat.await.unwrap(), None);
        let again = ledger.claim_announcement(&delivery, Notification, name, "r-5", now);
        assert_eq!(
            again.await.unwrap().expect("marked").key.sk,
            format!("notify#{name}")
        );
    }
}

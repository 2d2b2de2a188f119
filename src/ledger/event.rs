//! The mark that a Wavefront event was posted for a delivery, so a re-delivery that runs
//! again (after a 502, or a 503 for a claim in the way) does not put the same event on the
//! charts twice.
//!
//! Stored beside the delivery's own entry: partition `notification#<id>`, sort key
//! `event#<the event's name>`, taken with a conditional write as every claim is, and kept for
//! the retention. Keyed by the name, which says what happened and to what: a retry that does
//! something else (it moves the alias the first attempt failed to) is a new event.

use jiff::Timestamp;

use super::{Entry, Key, Ledger, LedgerError};

/// The sort key of an event's mark under its delivery's partition.
fn mark_key(notification: &Key, name: &str) -> Key {
    Key::new(notification.pk.clone(), format!("event#{name}"))
}

impl Ledger {
    /// Marks the event `name` of the delivery `notification` as posted by `request_id`, before
    /// it is posted: `None` when this request may post it, or the entry of the request that
    /// already did.
    pub async fn claim_event(
        &self,
        notification: &Key,
        name: &str,
        request_id: &str,
        now: Timestamp,
    ) -> Result<Option<Entry>, LedgerError> {
        let entry = self.entry(
            mark_key(notification, name),
            (request_id, request_id),
            now,
            self.retention.get(),
            format!("Wavefront event claimed for posting: {name}"),
        );
        self.store.claim(&entry, now).await
    }

    /// Gives the mark back when Wavefront said it did not write the event, so a re-delivery
    /// may post it.
    pub async fn release_event(
        &self,
        notification: &Key,
        name: &str,
        request_id: &str,
    ) -> Result<(), LedgerError> {
        let key = mark_key(notification, name);
        self.store.release(&key, request_id, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_event_is_marked_once_per_delivery_and_name_until_given_back() {
        let ledger = Ledger::in_memory(None);
        let now = Timestamp::now();
        let delivery = Key::new("notification#n-1", "-");
        let name = "wavefront-responder: rolled back checkout:live";
        let claim = |request| ledger.claim_event(&delivery, name, request, now);
        assert_eq!(claim("r-1").await.unwrap(), None);
        let holder = claim("r-2").await.unwrap().expect("already marked");
        assert_eq!(holder.claimed_by, "r-1");
        assert_eq!(holder.key.sk, format!("event#{name}"));
        // Another event of the same delivery, and the same event of another, are not held.
        let other = ledger.claim_event(&delivery, "wavefront-responder: other", "r-2", now);
        assert_eq!(other.await.unwrap(), None);
        let next = Key::new("notification#n-2", "-");
        assert_eq!(
            ledger.claim_event(&next, name, "r-2", now).await.unwrap(),
            None
        );
        // Only its holder gives it back.
        ledger.release_event(&delivery, name, "r-2").await.unwrap();
        assert!(claim("r-3").await.unwrap().is_some());
        ledger.release_event(&delivery, name, "r-1").await.unwrap();
        assert_eq!(claim("r-3").await.unwrap(), None);
    }
}

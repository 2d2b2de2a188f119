//! The in-process ledger store: the default when no DynamoDB table is configured (local
//! `serve`, tests). State lives as long as the process, so on Lambda each instance would have
//! its own: configure a table there.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;

use super::{BoxFuture, Entry, Key, LedgerError, Store};

/// Entries in a map behind a mutex; every operation is atomic. Expired entries are dropped as
/// claims come in (at most once a minute), as DynamoDB's TTL drops them, so memory holds only
/// what still counts however long the process serves.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<BTreeMap<Key, Entry>>,
    /// When expired entries were last dropped, in seconds since the epoch.
    swept_at: AtomicI64,
}

/// How often expired entries are dropped, at most.
const SWEEP_EVERY_SECS: i64 = 60;

impl MemoryStore {
    /// Drops the entries expired at `now`, unless that was done less than a minute ago.
    fn sweep(&self, entries: &mut BTreeMap<Key, Entry>, now: Timestamp) {
        let now = now.as_second();
        if now - self.swept_at.load(Ordering::Relaxed) < SWEEP_EVERY_SECS {
            return;
        }
        self.swept_at.store(now, Ordering::Relaxed);
        entries.retain(|_, entry| entry.expires_at > now);
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<Key, Entry>) -> T) -> T {
        // A poisoned lock means a panic mid-operation elsewhere; the map itself is intact.
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut entries)
    }
}

impl Store for MemoryStore {
    fn claim<'a>(
        &'a self,
        entry: &'a Entry,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<Entry>, LedgerError>> {
        let result = self.with(|entries| {
            self.sweep(entries, now);
            match entries.get(&entry.key) {
                Some(holder) if holder.live(now) => Some(holder.clone()),
                _ => {
                    entries.insert(entry.key.clone(), entry.clone());
                    None
                }
            }
        });
        Box::pin(async move { Ok(result) })
    }

    fn renew<'a>(&'a self, entry: &'a Entry) -> BoxFuture<'a, Result<(), LedgerError>> {
        self.with(|entries| {
            if let Some(held) = entries.get_mut(&entry.key)
                && held.claimed_by == entry.claimed_by
            {
                *held = entry.clone();
            }
        });
        Box::pin(async move { Ok(()) })
    }

    fn release<'a>(
        &'a self,
        key: &'a Key,
        claimed_by: &'a str,
        claim_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), LedgerError>> {
        self.with(|entries| {
            let held = entries.get(key).is_some_and(|e| {
                e.claimed_by == claimed_by && claim_id.is_none_or(|id| e.claim_id == id)
            });
            if held {
                entries.remove(key);
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [Key],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Entry>, LedgerError>> {
        let result = self.with(|entries| {
            keys.iter()
                .filter_map(|key| entries.get(key).filter(|e| e.live(now)).cloned())
                .collect()
        });
        Box::pin(async move { Ok(result) })
    }

    fn query<'a>(&'a self, pk: &'a str) -> BoxFuture<'a, Result<Vec<Entry>, LedgerError>> {
        // Keys sort by partition first: the partition's entries are one range of the map.
        let first = Key {
            pk: pk.to_owned(),
            sk: String::new(),
        };
        let result = self.with(|entries| {
            entries
                .range(first..)
                .take_while(|(key, _)| key.pk == pk)
                .map(|(_, entry)| entry.clone())
                .collect()
        });
        Box::pin(async move { Ok(result) })
    }

    fn scan(&self) -> BoxFuture<'_, Result<Vec<Entry>, LedgerError>> {
        let result = self.with(|entries| entries.values().cloned().collect());
        Box::pin(async move { Ok(result) })
    }

    fn put<'a>(&'a self, entry: &'a Entry) -> BoxFuture<'a, Result<(), LedgerError>> {
        self.with(|entries| entries.insert(entry.key.clone(), entry.clone()));
        Box::pin(async { Ok(()) })
    }

    fn delete<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<(), LedgerError>> {
        self.with(|entries| entries.remove(key));
        Box::pin(async { Ok(()) })
    }

    fn describe(&self) -> String {
        "in memory (this process only)".into()
    }

    fn in_process(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pk: &str, sk: &str, expires_at: i64) -> Entry {
        Entry {
            key: Key {
                pk: pk.into(),
                sk: sk.into(),
            },
            claimed_at: 0,
            claimed_by: "r".into(),
            claim_id: "r".into(),
            expires_at,
            note: String::new(),
            pending: false,
        }
    }

    async fn claim(store: &MemoryStore, entry: &Entry, at: i64) {
        let now = Timestamp::from_second(at).unwrap();
        assert_eq!(store.claim(entry, now).await.unwrap(), None);
    }

    #[tokio::test]
    async fn expired_entries_are_dropped_so_memory_stays_bounded() {
        let store = MemoryStore::default();
        // A day of deliveries, each remembered for 15 minutes: never more than the last
        // quarter of an hour's (plus a minute) are held.
        let start = 1_700_000_000;
        for n in 0..(24 * 60) {
            let at = start + n * 60;
            claim(
                &store,
                &entry(&format!("notification#{n}"), "-", at + 900),
                at,
            )
            .await;
        }
        let held = store.with(|entries| entries.len());
        assert!(held <= 17, "{held} entries held");
    }

    #[tokio::test]
    async fn a_partition_is_read_without_the_others() {
        let store = MemoryStore::default();
        for (pk, sk) in [("a", "1"), ("b", "1"), ("b", "2"), ("c", "")] {
            claim(&store, &entry(pk, sk, i64::MAX), 1_700_000_000).await;
        }
        let b: Vec<String> = store
            .query("b")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.key.sk)
            .collect();
        assert_eq!(b, ["1", "2"]);
        assert!(store.query("bb").await.unwrap().is_empty());
    }
}

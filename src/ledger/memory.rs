//! The in-process ledger store: the default when no DynamoDB table is configured (local
//! `serve`, tests). State lives as long as the process, so on Lambda each instance would have
//! its own: configure a table there.

use std::collections::BTreeMap;
use std::sync::Mutex;

use jiff::Timestamp;

use super::{BoxFuture, Entry, Key, LedgerError, Store};

/// Entries in a map behind a mutex; every operation is atomic.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<BTreeMap<Key, Entry>>,
}

impl MemoryStore {
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
        let result = self.with(|entries| match entries.get(&entry.key) {
            Some(holder) if holder.live(now) => Some(holder.clone()),
            _ => {
                entries.insert(entry.key.clone(), entry.clone());
                None
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
        let result = self.with(|entries| {
            entries
                .values()
                .filter(|e| e.key.pk == pk)
                .cloned()
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

//! Freezes: the on-call engineer's "hands off". `wavefront-responder freeze` writes one into the
//! ledger, where every instance reads it once per request; while it lasts, every action that
//! would change something (of every rule, or of one rule) is skipped with the guard `frozen`.
//! A freeze always ends: it is written with its end as the entry's expiry.
//!
//! Stored as ledger entries under the partition `freeze`: sort key `*` for every rule,
//! `rule#<name>` for one; `claimed_by` holds who set it, `note` the reason, `claimed_at` when
//! it was set and `expires_at` when it ends.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;

use super::{Entry, Key, Ledger, LedgerError};
use crate::duration::HumanDuration;

/// The longest a freeze may last: it must not outlive the incident it was set for by much.
pub const MAX_FREEZE: HumanDuration = HumanDuration::new(Duration::from_secs(7 * 86_400));

/// The ledger partition freezes live in.
pub const FREEZE_PK: &str = "freeze";

/// The longest reason and name a freeze records: they are shown in every record it touches.
const MAX_REASON: usize = 300;
const MAX_BY: usize = 64;

/// What a freeze holds back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FreezeScope {
    /// Every rule.
    Every,
    /// One rule, by name.
    Rule(String),
}

impl FreezeScope {
    fn key(&self) -> Key {
        let sk = match self {
            Self::Every => "*".to_owned(),
            Self::Rule(name) => format!("rule#{name}"),
        };
        Key::new(FREEZE_PK, sk)
    }
}

impl FreezeScope {
    /// The command that lifts a freeze of this scope (before `--config`).
    pub fn lift_command(&self) -> String {
        match self {
            Self::Every => "wavefront-responder unfreeze".to_owned(),
            Self::Rule(rule) => format!("wavefront-responder unfreeze --rule {rule}"),
        }
    }
}

impl fmt::Display for FreezeScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Every => f.write_str("every rule"),
            Self::Rule(name) => write!(f, "rule {name}"),
        }
    }
}

/// One freeze, as set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Freeze {
    pub scope: FreezeScope,
    pub reason: String,
    /// Who set it.
    pub by: String,
    pub set_at: Timestamp,
    pub until: Timestamp,
}

impl Freeze {
    /// A freeze from `now` for `lasts` (at most [`MAX_FREEZE`]); the reason and the name must
    /// be short printable text, since they are shown in records and chat.
    pub fn new(
        scope: FreezeScope,
        reason: &str,
        by: &str,
        now: Timestamp,
        lasts: HumanDuration,
    ) -> Result<Self, String> {
        if lasts > MAX_FREEZE {
            return Err(format!(
                "--for {lasts} is longer than {MAX_FREEZE}: a freeze must end; set a new one \
                 when it does if it is still needed"
            ));
        }
        let reason = printable("--reason", reason, MAX_REASON)?;
        let by = printable("--by", by, MAX_BY)?;
        let until = now
            .checked_add(jiff::SignedDuration::try_from(lasts.get()).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            scope,
            reason,
            by,
            // Whole seconds, as the ledger keeps the end.
            set_at: Timestamp::from_second(now.as_second()).unwrap_or(now),
            until: Timestamp::from_second(until.as_second()).unwrap_or(until),
        })
    }

    /// Whether it holds back `rule`'s actions.
    pub fn covers(&self, rule: &str) -> bool {
        match &self.scope {
            FreezeScope::Every => true,
            FreezeScope::Rule(name) => name == rule,
        }
    }

    fn entry(&self) -> Entry {
        Entry {
            key: self.scope.key(),
            claimed_at: self.set_at.as_millisecond(),
            claimed_by: self.by.clone(),
            claim_id: "freeze".to_owned(),
            expires_at: self.until.as_second(),
            note: self.reason.clone(),
            pending: false,
        }
    }

    /// The freeze an entry of the `freeze` partition holds, if it is one.
    pub fn from_entry(entry: &Entry) -> Option<Self> {
        if entry.key.pk != FREEZE_PK {
            return None;
        }
        let scope = match entry.key.sk.as_str() {
            "*" => FreezeScope::Every,
            sk => FreezeScope::Rule(sk.strip_prefix("rule#")?.to_owned()),
        };
        Some(Self {
            scope,
            reason: entry.note.clone(),
            by: entry.claimed_by.clone(),
            set_at: Timestamp::from_millisecond(entry.claimed_at).ok()?,
            until: Timestamp::from_second(entry.expires_at).ok()?,
        })
    }
}

impl fmt::Display for Freeze {
    /// `every rule frozen by kim until 2026-12-03T17:00:00Z: "payments outage" (set at ...)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} frozen by {} until {}: \"{}\" (set at {})",
            self.scope, self.by, self.until, self.reason, self.set_at
        )
    }
}

/// `text`, trimmed, if it is 1 to `max` characters with no control characters.
fn printable(flag: &str, text: &str, max: usize) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!(
            "{flag} cannot be empty: say why, for whoever reads the record"
        ));
    }
    if text.chars().count() > max {
        return Err(format!("{flag} is longer than {max} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!(
            "{flag} holds control characters (a newline, an escape): write it on one line"
        ));
    }
    Ok(text.to_owned())
}

impl Ledger {
    /// Records a freeze, replacing one of the same scope.
    pub async fn freeze(&self, freeze: &Freeze) -> Result<(), LedgerError> {
        self.store.put(&freeze.entry()).await
    }

    /// Lifts the freeze of `scope`; the one lifted, if one was on.
    pub async fn unfreeze(
        &self,
        scope: &FreezeScope,
        now: Timestamp,
    ) -> Result<Option<Freeze>, LedgerError> {
        let key = scope.key();
        let lifted = self.get(&key, now).await?;
        self.store.delete(&key).await?;
        Ok(lifted.as_ref().and_then(Freeze::from_entry))
    }

    /// For `ledger list`: the freezes on at `now`, and every other entry, oldest first.
    pub async fn list_with_freezes(
        &self,
        now: Timestamp,
    ) -> Result<(Vec<Freeze>, Vec<Entry>), LedgerError> {
        let (freezes, others): (Vec<Entry>, Vec<Entry>) = self
            .list()
            .await?
            .into_iter()
            .partition(|e| e.key.pk == FREEZE_PK);
        let mut freezes: Vec<Entry> = freezes.into_iter().filter(|e| e.live(now)).collect();
        freezes.sort_by(|a, b| a.key.cmp(&b.key));
        Ok((
            freezes.iter().filter_map(Freeze::from_entry).collect(),
            others,
        ))
    }

    /// The freezes on at `now` that hold back any of `rules`: the freeze of every rule first.
    /// One read of exactly those keys, whatever else the ledger holds.
    pub async fn freezes_of(
        &self,
        rules: impl Iterator<Item = &str>,
        now: Timestamp,
    ) -> Result<Vec<Freeze>, LedgerError> {
        let keys: Vec<Key> = std::iter::once(FreezeScope::Every)
            .chain(rules.map(|rule| FreezeScope::Rule(rule.to_owned())))
            .map(|scope| scope.key())
            .collect();
        let mut entries = self.store.get_many(&keys, now).await?;
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(entries.iter().filter_map(Freeze::from_entry).collect())
    }

    /// The freezes on at `now`: every-rule first, then by rule name.
    pub async fn freezes(&self, now: Timestamp) -> Result<Vec<Freeze>, LedgerError> {
        let mut entries = self.store.query(FREEZE_PK).await?;
        entries.retain(|e| e.live(now));
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(entries.iter().filter_map(Freeze::from_entry).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn hour() -> HumanDuration {
        HumanDuration::parse("1h").unwrap()
    }

    #[test]
    fn a_freeze_ends_and_says_who_why_and_until_when() {
        let now = at("2026-12-03T16:00:00.250Z");
        let freeze =
            Freeze::new(FreezeScope::Every, " payments outage ", "kim", now, hour()).unwrap();
        assert_eq!(freeze.until, at("2026-12-03T17:00:00Z"));
        assert_eq!(
            freeze.to_string(),
            "every rule frozen by kim until 2026-12-03T17:00:00Z: \"payments outage\" (set at \
             2026-12-03T16:00:00Z)"
        );
        assert!(freeze.covers("checkout-errors"));
        let one = Freeze::new(
            FreezeScope::Rule("checkout-errors".into()),
            "x",
            "kim",
            now,
            hour(),
        )
        .unwrap();
        assert!(one.covers("checkout-errors"));
        assert!(!one.covers("payments-latency"));
        assert_eq!(Freeze::from_entry(&one.entry()), Some(one));
    }

    #[test]
    fn a_freeze_is_bounded_and_its_text_printable() {
        let now = at("2026-12-03T16:00:00Z");
        let eight_days = HumanDuration::parse("8d").unwrap();
        let err = Freeze::new(FreezeScope::Every, "r", "kim", now, eight_days).unwrap_err();
        assert!(err.starts_with("--for 8d is longer than 7d"), "{err}");
        assert!(Freeze::new(FreezeScope::Every, "r", "kim", now, MAX_FREEZE).is_ok());
        let err = Freeze::new(FreezeScope::Every, "  ", "kim", now, hour()).unwrap_err();
        assert!(err.starts_with("--reason cannot be empty"), "{err}");
        let err = Freeze::new(FreezeScope::Every, "a\u{1b}[2J", "kim", now, hour()).unwrap_err();
        assert!(err.contains("control characters"), "{err}");
        let long = "x".repeat(MAX_REASON + 1);
        assert!(Freeze::new(FreezeScope::Every, &long, "kim", now, hour()).is_err());
    }

    #[tokio::test]
    async fn freezes_are_read_while_they_last_and_lifted_by_scope() {
        let ledger = Ledger::in_memory(None);
        let now = at("2026-12-03T16:00:00Z");
        let every = Freeze::new(FreezeScope::Every, "outage", "kim", now, hour()).unwrap();
        let rule = FreezeScope::Rule("checkout-errors".into());
        let one = Freeze::new(rule.clone(), "deploying a fix", "lee", now, hour()).unwrap();
        ledger.freeze(&one).await.unwrap();
        ledger.freeze(&every).await.unwrap();
        assert_eq!(ledger.freezes(now).await.unwrap(), [every.clone(), one]);
        // Over when it ends.
        assert!(ledger.freezes(every.until).await.unwrap().is_empty());
        let lifted = ledger.unfreeze(&rule, now).await.unwrap();
        assert_eq!(lifted.map(|f| f.by), Some("lee".into()));
        assert_eq!(ledger.freezes(now).await.unwrap(), [every]);
        assert_eq!(ledger.unfreeze(&rule, now).await.unwrap(), None);
    }
}

//! The attribution guard, as pure code: a change is undone only when it began before the
//! incident started. One that began at or after it (a deployment created, a version published)
//! may be the fix someone shipped for this very incident, so it is left alone, and the record
//! says what, when, and why.
//!
//! The actions read the times (`createTime` of a deployment, `LastModified` of a version) and ask
//! here whether they may act on them.

use jiff::Timestamp;

use crate::ledger::attribution::IncidentStart;

/// Why the guard leaves `left` alone (`it`, `live`) because of `what` (`d-FIX was created`,
/// `version 43, which live routes traffic to, was published`), or `None` when that began
/// before the incident started. A change whose time is unknown cannot be shown to predate the
/// incident, so it is left alone too.
pub fn hold(
    what: &str,
    began: Option<Timestamp>,
    since: &IncidentStart,
    left: &str,
) -> Option<String> {
    let Some(began) = began else {
        return Some(format!(
            "{what} at a time AWS did not give, so it cannot be shown to predate {since}; it may \
             be the fix, so {left} is left alone (attribution = false on the rule turns this \
             guard off)"
        ));
    };
    if began < since.at {
        return None;
    }
    Some(format!(
        "{what} {} after {since}; it may be the fix, so {left} is left alone",
        elapsed(since.at, began)
    ))
}

/// `4m`, `2h`, `3d`, `12s`: the time from `from` to `to`, rounded down to its largest unit.
pub fn elapsed(from: Timestamp, to: Timestamp) -> String {
    let secs = to.duration_since(from).as_secs().max(0);
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h", s / 3_600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A Lambda `LastModified` time: `2026-12-03T16:00:00.123+0000` as AWS writes it, or RFC 3339.
pub fn lambda_time(text: &str) -> Option<Timestamp> {
    text.parse::<Timestamp>().ok().or_else(|| {
        jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", text)
            .and_then(|parsed| parsed.to_timestamp())
            .ok()
    })
}

/// A time as the AWS SDK gives it.
pub fn sdk_time(time: &aws_sdk_codedeploy::primitives::DateTime) -> Option<Timestamp> {
    Timestamp::from_nanosecond(time.as_nanos()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::attribution::StartSource;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn since(s: &str) -> IncidentStart {
        IncidentStart {
            at: at(s),
            from: StartSource::StartedTime,
        }
    }

    #[test]
    fn only_what_began_before_the_incident_is_undone() {
        let start = since("2026-11-25T20:41:07Z");
        assert_eq!(
            hold(
                "d-BAD was created",
                Some(at("2026-11-25T20:30:00Z")),
                &start,
                "it"
            ),
            None
        );
        assert_eq!(
            hold(
                "d-FIX was created",
                Some(at("2026-11-25T20:45:30Z")),
                &start,
                "it"
            )
            .as_deref(),
            Some(
                "d-FIX was created 4m after the alert started firing (2026-11-25T20:41:07Z); it \
                 may be the fix, so it is left alone"
            )
        );
        // At the very instant: not before.
        assert!(hold("x", Some(start.at), &start, "it").is_some());
        let unknown = hold("version 43 was published", None, &start, "live").unwrap();
        assert!(unknown.contains("cannot be shown to predate"), "{unknown}");
    }

    #[test]
    fn lambda_times_parse_as_aws_and_moto_write_them() {
        let expected = at("2026-12-03T16:00:00.123Z");
        assert_eq!(lambda_time("2026-12-03T16:00:00.123+0000"), Some(expected));
        assert_eq!(
            lambda_time("2026-12-03T16:00:00.123000000Z"),
            Some(expected)
        );
        assert_eq!(lambda_time("yesterday"), None);
    }

    #[test]
    fn elapsed_rounds_down_to_the_largest_unit() {
        let from = at("2026-11-25T20:00:00Z");
        assert_eq!(elapsed(from, at("2026-11-25T20:00:59Z")), "59s");
        assert_eq!(elapsed(from, at("2026-11-25T20:04:59Z")), "4m");
        assert_eq!(elapsed(from, at("2026-11-26T01:00:00Z")), "5h");
        assert_eq!(elapsed(from, at("2026-11-28T20:00:00Z")), "3d");
    }
}

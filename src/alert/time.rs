//! Alert times as templates render them: Wavefront time strings (`09/12/2020 21:47:39 +0000`,
//! or the older `... 0000`) and `*Epoch` / `*EpochMillis` numbers.

use jiff::Timestamp;

use super::fields::{Scalar, text};
use crate::text::truncate;

/// Parses a Wavefront time string: `09/12/2020 21:47:39 +0000` or the older `... 0000`.
pub fn parse_wavefront_time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(ts) = Timestamp::strptime("%m/%d/%Y %H:%M:%S %z", text) {
        return Some(ts);
    }
    // The 2018 documentation shows the offset without its sign.
    let (head, offset) = text.rsplit_once(' ')?;
    if offset.len() == 4 && offset.bytes().all(|b| b.is_ascii_digit()) {
        return Timestamp::strptime("%m/%d/%Y %H:%M:%S %z", format!("{head} +{offset}")).ok();
    }
    None
}

/// Reads an epoch number: milliseconds, or seconds when it is too small to be milliseconds.
fn epoch_to_timestamp(value: i64) -> Option<Timestamp> {
    // 10^11 ms is March 1973; 10^11 s is the year 5138. Anything below is seconds.
    if value.unsigned_abs() < 100_000_000_000 {
        Timestamp::from_second(value).ok()
    } else {
        Timestamp::from_millisecond(value).ok()
    }
}

/// Reads one alert time from its `{field}Time` string and its `{field}EpochMillis` and
/// `{field}Epoch` numbers, in that order of `epochs`. Epoch fields win over the formatted
/// string: they carry the exact instant. Unreadable values become warnings.
pub(super) fn read_time(
    field: &str,
    string: Option<Scalar>,
    epochs: [Option<Scalar>; 2],
    warnings: &mut Vec<String>,
) -> Option<Timestamp> {
    for (epoch, suffix) in epochs.into_iter().zip(["EpochMillis", "Epoch"]) {
        if let Some(value) = text(epoch) {
            match value.parse::<i64>().ok().and_then(epoch_to_timestamp) {
                Some(ts) => return Some(ts),
                None => warnings.push(format!(
                    "{field}{suffix} \"{}\" is not an epoch number; ignored",
                    truncate(&value, 64)
                )),
            }
        }
    }
    let value = text(string)?;
    let parsed = parse_wavefront_time(&value);
    if parsed.is_none() {
        warnings.push(format!(
            "{field}Time \"{}\" is not a Wavefront time like \"09/12/2020 21:47:39 +0000\"; ignored",
            truncate(&value, 64)
        ));
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_documented_time_formats_parse() {
        let signed = parse_wavefront_time("09/12/2020 21:47:39 +0000").unwrap();
        assert_eq!(signed.to_string(), "2020-09-12T21:47:39Z");
        let unsigned = parse_wavefront_time("09/12/2016 21:47:39 0000").unwrap();
        assert_eq!(unsigned.to_string(), "2016-09-12T21:47:39Z");
        let offset = parse_wavefront_time("09/12/2020 23:47:39 +0200").unwrap();
        assert_eq!(offset, signed);
        assert_eq!(parse_wavefront_time(""), None);
        assert_eq!(parse_wavefront_time("yesterday"), None);
    }
}

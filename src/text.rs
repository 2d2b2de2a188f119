//! Small helpers for the sentences and fields the responder writes: cutting untrusted text to
//! a bound, making it safe for a terminal, counting things in words, and the ledger's
//! millisecond times as text.

/// At most `max` characters of `value`, cut on a character boundary.
pub fn truncate(value: &str, max: usize) -> &str {
    match value.char_indices().nth(max) {
        Some((end, _)) => &value[..end],
        None => value,
    }
}

/// `value` with every control character (escape sequences a terminal would act on, new lines,
/// tabs) written as a Rust escape (`\u{1b}`, `\n`), for text that came from alerts or the
/// ledger and is printed to a person's terminal.
pub fn printable(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `1 rule`, `2 rules`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        return format!("1 {word}");
    }
    if let Some(stem) = word.strip_suffix('y') {
        format!("{n} {stem}ies")
    } else if ["ch", "sh", "s", "x"].iter().any(|end| word.ends_with(end)) {
        format!("{n} {word}es")
    } else {
        format!("{n} {word}s")
    }
}

/// A time in milliseconds since the epoch as text, to the second (`2026-12-03T19:25:16Z`);
/// the number itself when it is no time jiff can hold.
pub fn millis_text(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| format!("{t:.0}"))
        .unwrap_or_else(|_| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("hi", 5), "hi");
    }

    #[test]
    fn counts_are_written_in_words() {
        assert_eq!(plural(1, "rule"), "1 rule");
        assert_eq!(plural(2, "rule"), "2 rules");
        assert_eq!(plural(3, "policy"), "3 policies");
        assert_eq!(plural(2, "incident latch"), "2 incident latches");
    }

    #[test]
    fn millisecond_times_read_to_the_second() {
        assert_eq!(millis_text(1_599_947_259_734), "2020-09-12T21:47:39Z");
        assert_eq!(millis_text(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn control_characters_are_escaped_for_a_terminal() {
        assert_eq!(printable("checkout errors"), "checkout errors");
        assert_eq!(
            printable("a\u{1b}[2J\u{1b}]0;owned\u{7}b\nc\u{9b}d"),
            "a\\u{1b}[2J\\u{1b}]0;owned\\u{7}b\\nc\\u{9b}d"
        );
    }
}

//! Small helpers for the sentences and fields the responder writes: cutting untrusted text to
//! a bound, and counting things in words.

/// At most `max` characters of `value`, cut on a character boundary.
pub fn truncate(value: &str, max: usize) -> &str {
    match value.char_indices().nth(max) {
        Some((end, _)) => &value[..end],
        None => value,
    }
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
}

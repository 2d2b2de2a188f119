//! Unit tests of a rule's "still firing?" keys, `require_firing` and `on_wavefront_error`: their
//! defaults, and the errors that point at the key a rule cannot have.

use super::*;
use crate::plan::rules::OnWavefrontError;

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text, Path::new("test.toml")).map_err(|e| e.to_string())
}

const AUTH: &str = "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n";
const WAVEFRONT: &str =
    "[wavefront]\nurl = \"https://acme.wavefront.com\"\napi_token = \"env:WAVEFRONT_API_TOKEN\"\n";

/// A config with `tables` before one rule setting `keys`, which start on line 6 plus the lines
/// of `tables`.
fn rule_with(tables: &str, keys: &str) -> String {
    format!(
        "{AUTH}{tables}[[rule]]\nname = \"r\"\nalert = \"a\"\n{keys}\n[[rule.action]]\n\
         type = \"lambda-alias\"\nfunction = \"f\"\nalias = \"live\"\ndrop_canary = true\n"
    )
}

#[test]
fn rules_check_nothing_unless_they_require_firing_and_then_skip_on_errors_by_default() {
    let rules = |keys: &str| parse(&rule_with(WAVEFRONT, keys)).unwrap().rules;
    assert_eq!(rules("")[0].require_firing, None);
    assert_eq!(rules("require_firing = false")[0].require_firing, None);
    assert_eq!(
        rules("require_firing = true")[0].require_firing,
        Some(OnWavefrontError::Skip)
    );
    let skip = "require_firing = true\non_wavefront_error = \"skip\"";
    assert_eq!(rules(skip)[0].require_firing, Some(OnWavefrontError::Skip));
    let act = "require_firing = true\non_wavefront_error = \"act\"";
    assert_eq!(rules(act)[0].require_firing, Some(OnWavefrontError::Act));
}

#[test]
fn require_firing_without_a_wavefront_table_is_an_error_at_the_key() {
    let err = parse(&rule_with("", "require_firing = true")).unwrap_err();
    assert!(err.starts_with("test.toml:6:18: "), "{err}");
    assert!(
        err.contains("rule \"r\" sets require_firing = true, but there is no [wavefront] table"),
        "{err}"
    );
    // Off, it needs nothing.
    parse(&rule_with("", "require_firing = false")).unwrap();
}

#[test]
fn on_wavefront_error_without_require_firing_is_an_error_at_the_key() {
    for keys in [
        "on_wavefront_error = \"act\"",
        "require_firing = false\non_wavefront_error = \"skip\"",
    ] {
        let err = parse(&rule_with(WAVEFRONT, keys)).unwrap_err();
        let line = 8 + keys.lines().count();
        assert!(
            err.starts_with(&format!("test.toml:{line}:22: ")),
            "{keys}: {err}"
        );
        assert!(
            err.contains("sets on_wavefront_error without require_firing = true"),
            "{err}"
        );
    }
}

#[test]
fn on_wavefront_error_is_skip_or_act_and_a_typo_says_so() {
    let keys = "require_firing = true\non_wavefront_error = \"ignore\"";
    let err = parse(&rule_with(WAVEFRONT, keys)).unwrap_err();
    assert!(err.starts_with("test.toml:10:22: "), "{err}");
    assert!(
        err.contains("\"ignore\" is not an on_wavefront_error; use \"skip\""),
        "{err}"
    );
    let err = parse(&rule_with(WAVEFRONT, "require_firing = \"yes\"")).unwrap_err();
    assert!(err.starts_with("test.toml:9:18: "), "{err}");
}

//! Unit tests of the config: locating, parsing and validating each table, and the messages
//! that point at the line and column of each problem.

use std::path::PathBuf;

use super::diagnostics::line_column;
use super::*;
use crate::actions::Action;
use crate::actions::lambda_alias::Destination;

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text, Path::new("test.toml")).map_err(|e| e.to_string())
}

const AUTH: &str = "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n";

#[test]
fn defaults_apply_when_keys_are_absent() {
    let config = parse(AUTH).unwrap();
    assert!(!config.dry_run);
    assert_eq!(config.triggers, DEFAULT_TRIGGERS);
    assert_eq!(config.auth.token_header, http::header::AUTHORIZATION);
    assert_eq!(config.auth.signature_tolerance.to_string(), "5m");
    assert!(config.rules.is_empty());
}

#[test]
fn unknown_keys_are_errors_with_a_location() {
    let err = parse(&format!("{AUTH}dry-run = true\n")).unwrap_err();
    assert!(
        err.starts_with("test.toml:3:1: unknown field `dry-run`"),
        "{err}"
    );
    let err = parse(&format!(
        "{AUTH}[[rule]]\nname = \"r\"\nalert = \"a\"\nseverty = [\"WARN\"]\n"
    ))
    .unwrap_err();
    assert!(
        err.starts_with("test.toml:6:1: unknown field `severty`"),
        "{err}"
    );
}

#[test]
fn action_fields_are_checked_too() {
    let err = parse(&format!(
        "{AUTH}[[rule]]\nname = \"r\"\nalert = \"a\"\n[[rule.action]]\ntype = \"lambda-alias\"\n\
         function = \"f\"\nalias = \"live\"\nto_version = \"$LATEST\"\n"
    ))
    .unwrap_err();
    // At the value it is about, not at the [[rule.action]] header on line 6.
    assert!(err.starts_with("test.toml:10:14: "), "{err}");
    assert!(
        err.contains("$LATEST is whatever was uploaded last"),
        "{err}"
    );
    let err = parse(&format!(
        "{AUTH}[[rule]]\nname = \"r\"\nalert = \"a\"\n[[rule.action]]\ntype = \"rollback\"\n"
    ))
    .unwrap_err();
    assert!(err.starts_with("test.toml:7:8: "), "{err}");
    assert!(err.contains("unknown variant `rollback`"), "{err}");
    assert!(err.contains("`codedeploy-rollback`"), "{err}");
}

/// A rule setting `keys`, with one action.
fn rule_with(keys: &str) -> String {
    format!(
        "{AUTH}[[rule]]\nname = \"r\"\nalert = \"a\"\n{keys}\n[[rule.action]]\n\
         type = \"lambda-alias\"\nfunction = \"f\"\nalias = \"live\"\ndrop_canary = true\n"
    )
}

#[test]
fn every_rule_cools_down_for_15_minutes_unless_it_says_otherwise() {
    let config = parse(&rule_with("")).unwrap();
    assert_eq!(config.rules[0].cooldown, Some(DEFAULT_COOLDOWN));
    assert_eq!(DEFAULT_COOLDOWN.to_string(), "15m");
    assert!(config.rules[0].attribution, "the attribution guard is on");
    let config = parse(&rule_with("cooldown = \"1m\"")).unwrap();
    assert_eq!(
        config.rules[0].cooldown.map(|c| c.to_string()),
        Some("1m".into())
    );
    let config = parse(&rule_with("cooldown = \"7d\"")).unwrap();
    assert_eq!(
        config.rules[0].cooldown.map(|c| c.to_string()),
        Some("7d".into())
    );
    for off in ["0s", "0m"] {
        let config = parse(&rule_with(&format!("cooldown = \"{off}\""))).unwrap();
        assert_eq!(config.rules[0].cooldown, None, "{off}");
    }
    let config = parse(&rule_with("attribution = false")).unwrap();
    assert!(!config.rules[0].attribution);
}

#[test]
fn a_cooldown_under_a_minute_or_over_a_week_is_an_error_at_its_value() {
    let err = parse(&rule_with("cooldown = \"30s\"")).unwrap_err();
    assert_eq!(
        err,
        "test.toml:6:12: cooldown = \"30s\" is under a minute, which holds back nothing a \
         re-sent alert would not already be: set at least \"1m\", or \"0s\" to turn it off"
    );
    let err = parse(&rule_with("cooldown = \"8d\"")).unwrap_err();
    assert!(
        err.starts_with("test.toml:6:12: cooldown = \"8d\" must be at most 7d"),
        "{err}"
    );
    let err = parse(&rule_with("cooldown = \"soon\"")).unwrap_err();
    assert!(
        err.starts_with("test.toml:6:12: cooldown \"soon\" is not a duration"),
        "{err}"
    );
    let err = parse(&rule_with("attribution = \"no\"")).unwrap_err();
    assert!(err.starts_with("test.toml:6:"), "{err}");
}

#[test]
fn redeploy_within_is_at_most_a_week_and_the_error_names_the_limit() {
    let rollback = |window: &str| {
        with_action(&format!(
            "  type = \"codedeploy-rollback\"\n  application = \"a\"\n  \
             deployment_group = \"g\"\n  redeploy_within = \"{window}\"\n"
        ))
    };
    assert!(parse(&rollback("7d")).is_ok());
    let err = parse(&rollback("8d")).unwrap_err();
    assert!(
        err.starts_with("test.toml:10:21: redeploy_within = \"8d\" must be at most 7d"),
        "{err}"
    );
}

/// A rule with one indented action table holding `action` (its lines after `type`).
fn with_action(action: &str) -> String {
    format!("{AUTH}[[rule]]\nname = \"r\"\nalert = \"a\"\n  [[rule.action]]\n{action}")
}

#[test]
fn unknown_keys_inside_an_action_point_at_the_key() {
    let err = parse(&with_action(
        "  type = \"codedeploy-rollback\"\n  application = \"a\"\n  \
         deployment_group = \"g\"\n  redeploy_witin = \"1h\"\n",
    ))
    .unwrap_err();
    assert!(
        err.starts_with("test.toml:10:3: unknown field `redeploy_witin`, expected one of"),
        "{err}"
    );
    assert!(err.contains("`redeploy_within`"), "{err}");
    let err = parse(&with_action(
        "  type = \"lambda-alias\"\n  function = \"f\"\n  alias = \"live\"\n  \
         to_version = \"4\"\n  deployment_group = \"g\"\n",
    ))
    .unwrap_err();
    assert!(
        err.starts_with("test.toml:11:3: unknown field `deployment_group`"),
        "{err}"
    );
}

#[test]
fn an_action_missing_a_key_says_what_to_add() {
    let err = parse(&with_action(
        "  type = \"codedeploy-rollback\"\n  application = \"a\"\n",
    ))
    .unwrap_err();
    assert!(
        err.starts_with("test.toml:6:3: missing field `deployment_group`: add deployment_group"),
        "{err}"
    );
    assert!(
        err.contains("a codedeploy-rollback action needs application"),
        "{err}"
    );
    let err = parse(&with_action(
        "  type = \"lambda-alias\"\n  function = \"f\"\n",
    ))
    .unwrap_err();
    assert!(err.contains("missing field `alias`"), "{err}");
    assert!(
        err.contains("a lambda-alias action needs function"),
        "{err}"
    );
    let err = parse(&with_action("  function = \"f\"\n")).unwrap_err();
    assert!(err.starts_with("test.toml:6:3: "), "{err}");
    assert!(err.contains("add type = \"codedeploy-rollback\""), "{err}");
    // A check an action makes on one key points at that key's value.
    let err = parse(&with_action(
        "  type = \"lambda-alias\"\n  function = \"f\"\n  alias = \"live\"\n  \
         to_alias = \"live\"\n",
    ))
    .unwrap_err();
    assert!(
        err.starts_with("test.toml:10:14: to_alias \"live\""),
        "{err}"
    );
    let err = parse(&format!("{AUTH}[[rule]]\nalert = \"a\"\n")).unwrap_err();
    assert!(
        err.starts_with("test.toml:3:1: missing field `name`: every [[rule]] needs"),
        "{err}"
    );
}

#[test]
fn unknown_keys_inside_auth_point_at_the_key() {
    let err = parse("[auth]\ntokens = [\"env:T\"]\ntoken = [\"env:U\"]\n").unwrap_err();
    assert!(
        err.starts_with("test.toml:3:1: unknown field `token`, expected one of `tokens`"),
        "{err}"
    );
}

const PASTED: &str = "tok-9f8e7d6c5b4a39281706";
const PASTED_SIGNING: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[test]
fn secrets_pasted_into_auth_are_never_repeated() {
    let cases = [
        (
            format!("[auth]\ntokens = \"{PASTED}\"\n"),
            "test.toml:2:10: auth.tokens must be a list of references such as \
             [\"env:WEBHOOK_TOKEN\"]",
        ),
        (
            format!("[auth]\nsigning_secrets = \"{PASTED_SIGNING}\"\n"),
            "test.toml:2:19: auth.signing_secrets must be a list of references such as \
             [\"env:WEBHOOK_SIGNING_SECRET\"]",
        ),
        (
            format!("[auth]\nsigning_secrets = [\"{PASTED_SIGNING}\"]\n"),
            "test.toml:2:20: not a secret reference (the value is not shown)",
        ),
        (
            format!("[auth]\ntokens = [\"env:T\", {{ value = \"{PASTED}\" }}]\n"),
            "test.toml:2:20: each entry of auth.tokens must be a reference in quotes",
        ),
        (
            format!("[auth]\ntokens = {{ current = \"{PASTED}\" }}\n"),
            "test.toml:2:10: auth.tokens must be a list of references",
        ),
        (
            "[auth]\ntokens = 90817263545463\n".to_owned(),
            "test.toml:2:10: auth.tokens must be a list of references",
        ),
        (
            "[auth]\nsigning_secrets = [90817263545463]\n".to_owned(),
            "test.toml:2:20: each entry of auth.signing_secrets must be a reference",
        ),
        (
            format!("auth.tokens = \"{PASTED}\"\n"),
            "test.toml:1:15: auth.tokens must be a list of references",
        ),
        (
            format!("auth = \"{PASTED}\"\n"),
            "test.toml:1:8: auth must be a table",
        ),
        (
            format!("[auth]\ntokens = [\"env:T\"]\ntoken_header = \"Bearer {PASTED}\"\n"),
            "test.toml:3:16: token_header is not a valid HTTP header name (the value is not \
             shown)",
        ),
        (
            format!("[auth]\ntokens = [\"env:T\"]\ntoken_header = [\"{PASTED}\"]\n"),
            "test.toml:3:16: auth.token_header must be a header name in quotes",
        ),
        (
            format!("[auth]\ntokens = [\"env:T\"]\nsignature_tolerance = \"{PASTED}\"\n"),
            "test.toml:3:23: auth.signature_tolerance must be a duration",
        ),
        (
            format!(
                "[auth]\ntokens = [\"env:T\"]\ninsecure_allow_literal_secrets = \"{PASTED}\"\n"
            ),
            "test.toml:3:34: auth.insecure_allow_literal_secrets must be true or false",
        ),
    ];
    for (text, expected) in cases {
        let err = parse(&text).unwrap_err();
        assert!(err.starts_with(expected), "{text}\ngave: {err}");
        assert!(!err.contains(PASTED), "{err}");
        assert!(!err.contains(&PASTED_SIGNING[6..]), "{err}");
        assert!(!err.contains("90817263545463"), "{err}");
    }
}

#[test]
fn to_version_may_be_a_number() {
    let config = parse(&format!(
        "{AUTH}[[rule]]\nname = \"r\"\nalert = \"a\"\n[[rule.action]]\ntype = \"lambda-alias\"\n\
         function = \"f\"\nalias = \"live\"\nto_version = 7\n"
    ))
    .unwrap();
    let Action::LambdaAlias(shift) = &config.rules[0].actions[0] else {
        panic!("expected a lambda-alias action");
    };
    assert_eq!(shift.destination, Destination::Version("7".into()));
}

#[test]
fn semantic_problems_are_all_reported_with_locations() {
    let err = parse(
        "[auth]\ntokens = [\"literal:abc\"]\n\n[[rule]]\nname = \"dup\"\nalert = \"a\"\n\
         [[rule.action]]\ntype = \"codedeploy-rollback\"\napplication = \"a\"\n\
         deployment_group = \"g\"\n\n[[rule]]\nname = \"dup\"\n",
    )
    .unwrap_err();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(
        lines[0].starts_with("test.toml:2:11: literal secrets"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("test.toml:13:8: a rule named \"dup\" already"),
        "{err}"
    );
    assert!(lines[2].contains("would match every alert"), "{err}");
    assert!(lines[3].contains("has no actions"), "{err}");
    assert!(
        !err.contains("abc"),
        "the literal must not be echoed: {err}"
    );
}

#[test]
fn bad_values_point_at_the_value() {
    let err = parse(&format!(
        "{AUTH}[[rule]]\nname = \"r\"\nalert = \"checkout [\"\n"
    ))
    .unwrap_err();
    assert!(err.starts_with("test.toml:5:9: "), "{err}");
    assert!(err.contains("escape a literal ["), "{err}");
    let err = parse("triggers = [\"ALERT_OPEN\"]\n[auth]\ntokens = [\"env:T\"]\n").unwrap_err();
    assert!(
        err.starts_with("test.toml:1:12: \"ALERT_OPEN\" is not a Wavefront"),
        "{err}"
    );
    let err = parse("[auth]\ntokens = [\"env:T\", \"s3cr3t\"]\n").unwrap_err();
    assert!(
        err.starts_with("test.toml:2:20: not a secret reference"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t"), "{err}");
}

#[test]
fn auth_settings_that_would_defeat_authentication_are_refused() {
    let err =
        parse("[auth]\ntokens = [\"env:T\"]\ntoken_header = \"Webhook-Signature\"\n").unwrap_err();
    assert!(
        err.starts_with("test.toml:3:16: token_header \"webhook-signature\""),
        "{err}"
    );
    for tolerance in ["\"2h\"", "\"500ms\""] {
        let err = parse(&format!(
            "[auth]\ntokens = [\"env:T\"]\nsignature_tolerance = {tolerance}\n"
        ))
        .unwrap_err();
        assert!(err.contains("must be whole seconds from 1s to 1h"), "{err}");
    }
    let err = parse(&format!(
        "{AUTH}[[rule]]\nname = \"r\"\nalert = \"a\"\ntags = [\"\"]\n"
    ))
    .unwrap_err();
    assert!(err.contains("lists an empty tag"), "{err}");
}

#[test]
fn missing_auth_says_how_to_add_it() {
    let err = parse("dry_run = true\n").unwrap_err();
    assert!(err.contains("add an [auth] table"), "{err}");
}

#[test]
fn locate_prefers_flag_then_env_then_task_root() {
    let env = |name: &str| match name {
        CONFIG_ENV => Some("/etc/r.toml".to_owned()),
        _ => None,
    };
    assert_eq!(
        search(Some(Path::new("x.toml")), &env).unwrap().path,
        PathBuf::from("x.toml")
    );
    assert_eq!(
        search(None, &env).unwrap().path,
        PathBuf::from("/etc/r.toml")
    );
    // Nothing on disk: the rule file compiled into the binary.
    let task_root = |name: &str| (name == "LAMBDA_TASK_ROOT").then(|| "/nonexistent".into());
    assert_eq!(
        search(None, &task_root).unwrap().path,
        PathBuf::from("rules/responder.toml")
    );
    assert_eq!(
        search(Some(Path::new("x.toml")), &env)
            .unwrap()
            .fallback_warning(),
        None
    );
    let found = search(None, &task_root).unwrap();
    assert_eq!(
        found.fallback_warning().unwrap(),
        "no config file found (looked at /nonexistent/responder.toml, responder.toml); \
         using the rules compiled into this binary from rules/responder.toml; pass --config \
         FILE or set RESPONDER_CONFIG to use another"
    );
}

#[test]
fn an_unreadable_file_is_described_once_with_a_hint() {
    let err = Config::load(Path::new("no-such-dir/responder.toml")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("cannot read config file no-such-dir/responder.toml: "),
        "{text}"
    );
    assert!(
        text.ends_with("; name an existing file with --config FILE or RESPONDER_CONFIG"),
        "{text}"
    );
    // The cause is in the message, so it is not also a source a chain would repeat.
    assert!(std::error::Error::source(&err).is_none(), "{err:?}");
    let chain = anyhow_like(&err);
    assert_eq!(chain.matches("(os error 2)").count(), 1, "{chain}");
}

/// The message and every source, joined as `{:#}` on an `anyhow::Error` joins them.
fn anyhow_like(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(next) = source {
        text += &format!(": {next}");
        source = next.source();
    }
    text
}

#[test]
fn compiled_in_rule_files_load_by_their_path() {
    let on_disk = std::fs::read_to_string("rules/responder.toml").unwrap();
    assert_eq!(
        embedded(Path::new("rules/responder.toml")),
        Some(on_disk.as_str())
    );
    assert_eq!(
        embedded(Path::new("./rules/responder.toml")),
        Some(on_disk.as_str())
    );
    assert_eq!(embedded(Path::new("rules/other.toml")), None);
    let dir = std::env::temp_dir();
    let config = Config::load(&dir.join("no-such-dir/rules/responder.toml"));
    assert!(matches!(config, Err(ConfigError::Read { .. })));
}

#[test]
fn line_column_counts_characters() {
    assert_eq!(line_column("ab\ncdé\nf", 0), (1, 1));
    assert_eq!(line_column("ab\ncdé\nf", 3), (2, 1));
    assert_eq!(line_column("ab\ncdé\nf", 8), (3, 1));
    assert_eq!(line_column("ab\ncdé\nf", 7), (2, 4));
}

/// The `[circuit_breaker]` and `[ledger]` limits, at and just past each boundary: the values
/// at the boundary are accepted; one past it is refused with the exact message, at the value.
#[test]
fn breaker_and_ledger_limits_hold_at_their_boundaries() {
    // AUTH is two lines: the table header is on line 3, its first key on line 4.
    let breaker = |keys: &str| parse(&format!("{AUTH}[circuit_breaker]\n{keys}\n"));
    for ok in [
        "max_actions = 1",
        "max_actions = 50",
        "window = \"1m\"",
        "window = \"7d\"",
    ] {
        let config = breaker(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert!(config.circuit_breaker.is_some(), "{ok}");
    }
    let refused = [
        (
            "max_actions = 0",
            "test.toml:4:15: circuit_breaker max_actions = 0 must be from 1 to 50; to turn the \
             breaker off, set enabled = false",
        ),
        (
            "max_actions = 51",
            "test.toml:4:15: circuit_breaker max_actions = 51 must be from 1 to 50; to turn the \
             breaker off, set enabled = false",
        ),
        (
            "window = \"59s\"",
            "test.toml:4:10: window = \"59s\" must be from 1m to 7d: a breaker needs a window it \
             can count over",
        ),
        (
            "window = \"8d\"",
            "test.toml:4:10: window = \"8d\" must be from 1m to 7d: a breaker needs a window it \
             can count over",
        ),
    ];
    for (keys, message) in refused {
        let err = breaker(keys).unwrap_err();
        assert!(err.starts_with(message), "{keys}: {err}");
    }
    // Off is off, whatever else the table says.
    let off = breaker("enabled = false\nmax_actions = 0").unwrap();
    assert!(off.circuit_breaker.is_none());
    assert!(
        parse(AUTH).unwrap().circuit_breaker.is_some(),
        "on by default"
    );

    let ledger = |retention: &str| parse(&format!("{AUTH}[ledger]\nretention = \"{retention}\"\n"));
    for ok in ["1h", "365d"] {
        let config = ledger(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(config.ledger.retention.to_string(), ok);
    }
    for too in ["59m", "366d"] {
        let err = ledger(too).unwrap_err();
        let message = format!(
            "test.toml:4:13: retention = \"{too}\" must be from 1h to 365d: shorter, and \
             repeats of a notification or an incident would act again"
        );
        assert!(err.starts_with(&message), "{too}: {err}");
    }
}

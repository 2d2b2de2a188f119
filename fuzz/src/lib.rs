//! The properties the fuzz targets check, one function per target, each taking the raw input.
//!
//! A check returns normally when the input is handled as promised and panics (an assertion)
//! when it is not; a panic inside the library is a failure too. The same functions serve two
//! callers, so a property is written once:
//! - the cargo fuzz targets in `fuzz/fuzz_targets/` (this file is the `wavefront-responder-fuzz`
//!   library they link), run by `scripts/fuzz`;
//! - `tests/fuzz_corpus.rs`, which includes this file as a module and runs every check over
//!   `fuzz/corpus/` and `fuzz/regressions/` on every test run, on stable, without libFuzzer.
//!
//! So this file uses only crates the library itself depends on, and nothing of libFuzzer.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use jiff::Timestamp;
use wavefront_responder::actions::Action;
use wavefront_responder::actions::lambda_alias::Destination;
use wavefront_responder::alert::{Alert, MAX_FIELD_CHARS, PayloadError, Reason};
use wavefront_responder::app::{Env, Options, Responder};
use wavefront_responder::auth::{self, AuthMethod, Authenticator, Rejection};
use wavefront_responder::config::{Config, ConfigError};
use wavefront_responder::duration::HumanDuration;
use wavefront_responder::front_door::{Inbound, MAX_BODY_BYTES};
use wavefront_responder::secret::Resolver;
use wavefront_responder::telemetry::{Captured, Telemetry};

// What the binary's `check` and `explain` commands print. They are modules of the binary
// (`src/commands/`), which no other crate can depend on, so their pure report files are compiled
// in here as they are. Only the binary resolves secrets, so `Secrets::Usable` goes unused here.
#[allow(dead_code)]
#[path = "../../src/commands/check/report.rs"]
mod check_report;
#[path = "../../src/commands/explain/report.rs"]
mod explain_report;

/// A property check: returns when the input is handled as promised, panics when it is not.
pub type Check = fn(&[u8]);

/// Every target and its check, by the name of its corpus directory.
pub const TARGETS: [(&str, Check); 4] = [
    ("payload", check_payload),
    ("signature_header", check_signature_header),
    ("config", check_config),
    ("request", check_request),
];

/// The corpus directory a target's seeds are in: `request` sends payloads, so it shares theirs.
pub fn seed_corpus(target: &str) -> &str {
    match target {
        "request" => "payload",
        other => other,
    }
}

/// `payload`: [`Alert::parse`] on any body. A parsed alert keeps the limits the rest of the
/// crate relies on, parsing is deterministic and blind to surrounding whitespace, and every
/// rule of the example configuration can be checked against the alert.
pub fn check_payload(data: &[u8]) {
    let parsed = Alert::parse(data);
    assert_eq!(Alert::parse(data), parsed, "parsing is deterministic");
    let alert = match parsed {
        Ok(alert) => alert,
        Err(err) => {
            check_payload_error(data, &err);
            return;
        }
    };

    for (field, value) in [
        ("name", Some(&alert.name)),
        ("alertId", alert.id.as_ref()),
        ("notificationId", alert.notification_id.as_ref()),
        ("url", alert.url.as_ref()),
    ] {
        if let Some(value) = value {
            assert!(!value.is_empty(), "{field} is empty");
            assert_eq!(value.trim(), value, "{field} is not trimmed");
            assert!(
                value.chars().count() <= MAX_FIELD_CHARS,
                "{field} is over the limit"
            );
        }
    }
    let reason = alert.reason.as_str();
    assert!(!reason.is_empty() && reason.trim() == reason);
    assert_eq!(
        Reason::parse(reason),
        alert.reason,
        "the reason round-trips"
    );
    assert!(alert.tags.len() <= 64, "{} tags", alert.tags.len());
    for tag in &alert.tags {
        assert!(!tag.is_empty() && tag.trim() == tag, "tag {tag:?}");
        assert!(
            tag.chars().count() <= 256,
            "tag of {} chars",
            tag.chars().count()
        );
    }

    // JSON ignores whitespace around the value: the same alert comes out.
    let mut padded = b" \n\t".to_vec();
    padded.extend_from_slice(data);
    padded.extend_from_slice(b"\r\n ");
    assert_eq!(
        Alert::parse(&padded).as_ref(),
        Ok(&alert),
        "padding changed it"
    );

    let report = explain_report::explain_report(example_config(), &alert);
    assert!(report.contains(&alert.label()), "{report}");
    for rule in example_config().rules.iter() {
        assert!(
            report.contains(&rule.name),
            "{} is missing: {report}",
            rule.name
        );
    }
}

/// A refused payload says why, and a JSON error points inside the body.
fn check_payload_error(data: &[u8], err: &PayloadError) {
    assert!(!err.to_string().is_empty());
    match err {
        PayloadError::Syntax { line, column, .. } | PayloadError::Shape { line, column, .. } => {
            // serde_json counts lines from 1 and columns in bytes from 1, but reports column 0
            // for an error found just past a newline (a raw newline inside a string: the
            // regression `fuzz/regressions/payload/newline-in-a-string`).
            let text = data.split(|&b| b == b'\n').nth(line.wrapping_sub(1));
            let text = text.unwrap_or_else(|| panic!("{err}: there is no line {line}"));
            assert!(
                *column <= text.len() + 1,
                "{err}: the line has {} bytes",
                text.len()
            );
            assert!(
                *column >= 1 || *line >= 2,
                "{err}: column 0 of the first line"
            );
        }
        PayloadError::NotUtf8 => assert!(std::str::from_utf8(data).is_err()),
        // Blank is Unicode whitespace (str::trim), not only JSON's four: the regression
        // `fuzz/regressions/payload/vertical-tab-only`.
        PayloadError::Empty => {
            assert!(std::str::from_utf8(data).is_ok_and(|t| t.trim().is_empty()))
        }
        PayloadError::TooLong { chars, .. } => assert!(*chars > MAX_FIELD_CHARS),
        PayloadError::NoName | PayloadError::NoReason => {}
    }
}

/// Seconds since the epoch the signature checks pretend it is.
const NOW: i64 = 1_700_000_000;
/// The signing secret of [`fixed_authenticator`].
const SIGNING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The webhook-id and body the signature checks sign.
const WEBHOOK_ID: &str = "msg_2Kq0Yy";
const SIGNED_BODY: &[u8] = br#"{"name":"checkout API error rate high","reason":"ALERT_OPENED"}"#;
/// The longest `webhook-signature` the authenticator reads.
const MAX_SIGNATURE_HEADER: usize = 1024;

/// `signature_header`: the input is a `webhook-signature` header value (and, in a second
/// check, a `webhook-timestamp` value). [`auth::parse_signature_header`] returns exactly the
/// `v1` entries' bytes and round-trips through `v1,<base64>`; the authenticator accepts the
/// header exactly when one of those is the right signature, and junk beside the right
/// signature never spoils it.
pub fn check_signature_header(data: &[u8]) {
    let expected = auth::sign(SIGNING_SECRET, WEBHOOK_ID, NOW, SIGNED_BODY).expect("signs");
    let expected_bytes = BASE64
        .decode(expected.strip_prefix("v1,").expect("v1 signature"))
        .expect("base64");

    let text = std::str::from_utf8(data).ok();
    let parsed = text.map(auth::parse_signature_header);
    if let (Some(text), Some(signatures)) = (text, &parsed) {
        let entries: Vec<&str> = text.split(' ').filter(|e| e.starts_with("v1,")).collect();
        assert!(
            signatures.len() <= entries.len(),
            "more signatures than v1 entries"
        );
        for signature in signatures {
            let entry = format!("v1,{}", BASE64.encode(signature));
            assert!(
                entries.contains(&entry.as_str()),
                "{entry} was not in the header"
            );
        }
        let rebuilt = signatures
            .iter()
            .map(|s| format!("v1,{}", BASE64.encode(s)))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            &auth::parse_signature_header(&rebuilt),
            signatures,
            "round trip"
        );
    }

    let authenticator = fixed_authenticator();
    let now = Timestamp::from_second(NOW).expect("a valid time");
    if let Ok(value) = HeaderValue::from_bytes(data) {
        // Header text is visible ASCII: other bytes make the header unreadable, not wrong.
        let readable = data.len() <= MAX_SIGNATURE_HEADER && value.to_str().is_ok();
        let headers = signed_headers(&NOW.to_string(), value);
        let verdict = authenticator.verify(&headers, SIGNED_BODY, now);
        let holds_it = readable && parsed.as_ref().is_some_and(|p| p.contains(&expected_bytes));
        match verdict {
            Ok(method) => {
                assert_eq!(method, AuthMethod::Signature);
                assert!(holds_it, "accepted without the right signature");
            }
            Err(Rejection::BadSignature | Rejection::MalformedSignature(_)) => {
                assert!(!holds_it, "the right signature was refused: {verdict:?}");
            }
            Err(other) => panic!("unexpected rejection {other:?}"),
        }

        let mut with_good = data.to_vec();
        with_good.push(b' ');
        with_good.extend_from_slice(expected.as_bytes());
        if readable && with_good.len() <= MAX_SIGNATURE_HEADER {
            let value = HeaderValue::from_bytes(&with_good).expect("still a header value");
            let verdict =
                authenticator.verify(&signed_headers(&NOW.to_string(), value), SIGNED_BODY, now);
            assert_eq!(
                verdict,
                Ok(AuthMethod::Signature),
                "junk spoiled a good signature"
            );
        }
    }

    // The same bytes as a webhook-timestamp: only 1 to 12 ASCII digits are read as seconds,
    // and a correctly signed request is accepted exactly when they are within the tolerance.
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let digits = !data.is_empty() && data.len() <= 12 && data.iter().all(u8::is_ascii_digit);
        let timestamp = std::str::from_utf8(data)
            .ok()
            .and_then(|t| t.parse::<i64>().ok());
        let signature = match timestamp {
            // The signature covers the timestamp as sent; sign() writes it without leading zeros.
            Some(seconds) if digits && seconds.to_string().as_bytes() == data => {
                auth::sign(SIGNING_SECRET, WEBHOOK_ID, seconds, SIGNED_BODY).expect("signs")
            }
            _ => expected.clone(),
        };
        let mut headers = signed_headers("0", HeaderValue::from_str(&signature).expect("ascii"));
        headers.insert(auth::WEBHOOK_TIMESTAMP, value);
        let verdict = authenticator.verify(&headers, SIGNED_BODY, now);
        match (digits, timestamp) {
            (true, Some(seconds)) => {
                let age = NOW - seconds;
                match verdict {
                    Err(Rejection::Stale(reported)) => assert!(age > 300 && reported == age),
                    Err(Rejection::FutureDated(reported)) => {
                        assert!(-age > 300 && reported == -age)
                    }
                    Ok(_) => assert!(age.abs() <= 300),
                    Err(Rejection::BadSignature) => {
                        assert!(age.abs() <= 300 && seconds.to_string().as_bytes() != data)
                    }
                    other => panic!("timestamp {seconds}: {other:?}"),
                }
            }
            _ => assert!(
                matches!(verdict, Err(Rejection::MalformedSignature(_))),
                "timestamp {data:?} was read: {verdict:?}"
            ),
        }
    }
}

/// The three Standard Webhooks headers with a fixed id.
fn signed_headers(timestamp: &str, signature: HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(auth::WEBHOOK_ID, HeaderValue::from_static(WEBHOOK_ID));
    headers.insert(
        auth::WEBHOOK_TIMESTAMP,
        HeaderValue::from_str(timestamp).expect("digits"),
    );
    headers.insert(auth::WEBHOOK_SIGNATURE, signature);
    headers
}

/// An authenticator with one literal signing secret and the default 5 minute tolerance.
fn fixed_authenticator() -> &'static Authenticator {
    static AUTHENTICATOR: OnceLock<Authenticator> = OnceLock::new();
    AUTHENTICATOR.get_or_init(|| {
        let text = format!(
            "[auth]\nsigning_secrets = [\"literal:{SIGNING_SECRET}\"]\n\
             insecure_allow_literal_secrets = true\n"
        );
        let config = Config::parse(&text, Path::new("fuzz.toml")).expect("a valid config");
        let resolver = Resolver {
            env: &|_| None,
            secrets_manager: None,
            previous_for: wavefront_responder::secret::PREVIOUS_VERSION_FOR,
        };
        runtime()
            .block_on(Authenticator::from_config(&config.auth, resolver))
            .expect("usable secrets")
            .authenticator
    })
}

/// `config`: [`Config::parse`] on any text. An accepted config holds only what validation
/// promises (valid, unique rule names; rules that name alerts and have actions; durations in
/// range and printed so they parse back); a refused one names the file and a line and column
/// inside the text. `check` and `explain` can describe whatever was accepted.
pub fn check_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.toml");
    let config = match Config::parse(text, path) {
        Ok(config) => config,
        Err(err) => {
            check_config_error(text, &err);
            return;
        }
    };

    assert!(!config.triggers.is_empty());
    let budget = config.time_budget.get();
    assert!(
        (1..=900).contains(&budget.as_secs()),
        "time_budget {budget:?}"
    );
    let tolerance = config.auth.signature_tolerance.get();
    assert!((1..=3600).contains(&tolerance.as_secs()) && tolerance.subsec_nanos() == 0);
    let auth = &config.auth;
    assert!(!auth.tokens.is_empty() || !auth.signing_secrets.is_empty());
    assert!(
        !wavefront_responder::config::RESERVED_HEADERS.contains(&auth.token_header.as_str()),
        "token_header {}",
        auth.token_header
    );
    if !auth.insecure_allow_literal_secrets {
        assert!(
            !auth
                .tokens
                .iter()
                .chain(&auth.signing_secrets)
                .any(|s| s.is_literal())
        );
    }

    let mut durations = vec![config.time_budget, config.auth.signature_tolerance];
    durations.push(config.ledger.retention);
    durations.extend(config.circuit_breaker.map(|b| b.window));
    let mut names = std::collections::HashSet::new();
    for rule in config.rules.iter() {
        let name = &rule.name;
        assert!(
            !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "rule name {name:?}"
        );
        assert!(names.insert(name.clone()), "rule {name} twice");
        assert!(
            !rule.alert.is_empty() || !rule.alert_ids.is_empty(),
            "{name} matches all"
        );
        assert!(!rule.actions.is_empty(), "{name} has no actions");
        assert!(!rule.triggers.is_empty(), "{name} never triggers");
        assert!(
            rule.tags.iter().all(|t| !t.trim().is_empty()),
            "{name} has an empty tag"
        );
        for pattern in &rule.alert {
            let written = pattern.as_str();
            assert!(!written.trim().is_empty());
            // A name with no wildcards matches itself.
            if !pattern.is_glob() && !written.contains('\\') {
                assert!(
                    pattern.matches(written),
                    "{written:?} does not match itself"
                );
            }
        }
        durations.extend(rule.cooldown);
        for action in &rule.actions {
            check_action(action);
            if let Action::CodeDeployRollback(rollback) = action {
                durations.extend(rollback.redeploy_within);
            }
        }
    }
    for duration in durations {
        let shown = duration.to_string();
        assert_eq!(
            HumanDuration::parse(&shown),
            Ok(duration),
            "{shown} does not parse back"
        );
    }

    let report = check_report::check_report(&config, &check_report::Secrets::NotChecked);
    assert!(report.contains("configuration is valid"), "{report}");
    for rule in config.rules.iter() {
        assert!(
            report.contains(&rule.name),
            "{} is missing: {report}",
            rule.name
        );
    }
    let alert = Alert::parse(include_bytes!(
        "../../tests/fixtures/alerts/checkout-opened.json"
    ))
    .expect("the fixture parses");
    explain_report::explain_report(&config, &alert);
}

/// What an accepted action may hold.
fn check_action(action: &Action) {
    assert!(action.plan().starts_with("would "), "{}", action.plan());
    let trimmed = |s: &str| !s.is_empty() && s.trim() == s;
    match action {
        Action::CodeDeployRollback(rollback) => {
            assert!(trimmed(&rollback.application) && rollback.application.len() <= 100);
            assert!(trimmed(&rollback.deployment_group) && rollback.deployment_group.len() <= 100);
        }
        Action::AppConfigRollback(rollback) => {
            assert!(trimmed(&rollback.application) && rollback.application.len() <= 64);
            assert!(trimmed(&rollback.environment) && rollback.environment.len() <= 64);
            if let Some(profile) = &rollback.configuration_profile {
                assert!(trimmed(profile) && profile.len() <= 128, "{profile:?}");
            }
            if let Some(window) = rollback.revert_within {
                assert!(window <= wavefront_responder::actions::appconfig::MAX_REVERT_WITHIN);
            }
        }
        Action::LambdaAlias(shift) => {
            assert!(trimmed(&shift.function) && shift.function.len() <= 170);
            let alias_name = |a: &str| {
                trimmed(a)
                    && a.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    && !a.bytes().all(|b| b.is_ascii_digit())
            };
            assert!(alias_name(&shift.alias), "alias {:?}", shift.alias);
            match &shift.destination {
                Destination::Version(v) => assert!(
                    !v.is_empty() && !v.starts_with('0') && v.bytes().all(|b| b.is_ascii_digit()),
                    "version {v:?}"
                ),
                Destination::Alias(a) => assert!(alias_name(a) && *a != shift.alias, "{a:?}"),
                Destination::DropCanary => {}
            }
        }
        Action::EcsRollback(rollback) => {
            assert!(trimmed(&rollback.cluster) && trimmed(&rollback.service));
            // Both names, from ARNs or as written, are ECS names.
            let target = rollback.target();
            let names: Vec<&str> = target.split('/').collect();
            assert_eq!(names.len(), 2, "{target}");
            assert!(
                names.iter().all(|n| (1..=255).contains(&n.len())
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')),
                "{target}"
            );
        }
    }
}

/// A refused config names the file, and lines and columns that exist in the text.
fn check_config_error(text: &str, err: &ConfigError) {
    let ConfigError::Invalid { problems } = err else {
        panic!("parsing text gave {err:?}");
    };
    assert!(!problems.is_empty());
    let lines = text.matches('\n').count() + 1;
    for problem in problems {
        assert_eq!(problem.path, Path::new("fuzz.toml"));
        assert!(!problem.message.trim().is_empty());
        assert!(
            (1..=lines).contains(&problem.line) && problem.column >= 1,
            "{problem} is outside the {lines} lines"
        );
    }
    assert!(err.to_string().starts_with("fuzz.toml:"), "{err}");
}

/// The token [`responder`] accepts.
const TOKEN: &str = "fuzz-token-0123456789abcdef";

/// `request`: the input is the body of a POST that carries the right bearer token, handled by
/// [`Responder::handle`] with the example configuration in plan-only mode (no AWS). The answer
/// is 413, 400 or 200 exactly as the payload parser and the size limit say, always JSON with the
/// request id, and the request leaves audit lines (one at least) and, besides, only METRIC lines.
pub fn check_request(data: &[u8]) {
    let (responder, lines) = responder();
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {TOKEN}")).expect("ascii"),
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let request = Inbound {
        method: &Method::POST,
        headers: &headers,
        body: data,
        request_id: "fuzz-request",
        source_ip: Some("192.0.2.1"),
        received_at: Timestamp::from_second(NOW).expect("a valid time"),
        body_error: None,
        time_left: None,
        function_arn: None,
    };
    lines.clear();
    let response = runtime().block_on(responder.handle(request));

    let body: serde_json::Value =
        serde_json::from_str(response.body()).expect("the answer is JSON");
    assert_eq!(body["request_id"], "fuzz-request", "{body}");
    let expected = if data.len() > MAX_BODY_BYTES {
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        match Alert::parse(data) {
            Ok(_) => StatusCode::OK,
            Err(err) => {
                assert_eq!(body["error"], err.to_string(), "{body}");
                StatusCode::BAD_REQUEST
            }
        }
    };
    assert_eq!(response.status(), expected, "{body}");
    if expected == StatusCode::OK {
        let rules = body["rules"].as_array().expect("a rules list");
        assert_eq!(rules.len(), example_config().rules.len(), "{body}");
    }

    let written = String::from_utf8(lines.bytes()).expect("lines are UTF-8");
    let mut audits = 0;
    for line in written.lines() {
        if line.starts_with("[METRIC]\t") {
            continue;
        }
        let audit: serde_json::Value = serde_json::from_str(line).expect("an audit line is JSON");
        assert_eq!(audit["type"], "audit", "{line}");
        assert_eq!(audit["request_id"], "fuzz-request", "{line}");
        audits += 1;
    }
    assert!(audits >= 1, "no audit line: {written}");
}

/// The example configuration, with its `env:` references as [`responder`] resolves them.
fn example_config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        Config::parse(
            include_str!("../../examples/responder.toml"),
            Path::new("examples/responder.toml"),
        )
        .expect("the example config is valid")
    })
}

/// A plan-only responder for the example configuration, and the lines it writes.
fn responder() -> &'static (Responder, Captured) {
    static RESPONDER: OnceLock<(Responder, Captured)> = OnceLock::new();
    RESPONDER.get_or_init(|| {
        let lines = Captured::default();
        let telemetry = Telemetry::to_writer(lines.clone());
        let env: Env = Arc::new(|name: &str| match name {
            "WEBHOOK_TOKEN" => Some(TOKEN.to_owned()),
            "WEBHOOK_SIGNING_SECRET" => Some(SIGNING_SECRET.to_owned()),
            _ => None,
        });
        let setup = runtime()
            .block_on(Responder::setup(
                example_config().clone(),
                env,
                telemetry,
                Options::default(),
            ))
            .expect("the example config sets up");
        (setup.responder, lines)
    })
}

/// One single-threaded runtime for the async parts (nothing here waits on I/O).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}

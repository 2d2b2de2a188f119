//! The bad-input catalogue: hostile or broken requests, each with the status it must get. Every
//! one leaves exactly one audit line. Run against the example config, the probe payload matches
//! no rule; run again behind a live executor with a rule the probe does match, every refused
//! request must reach no AWS API at all.

use http::Method;
use serde_json::Value;

use crate::moto::{self, alias, alias_state};
use crate::proxy::{LedgerKind, Proxy};
use crate::support::*;

/// The payload the cases are built on: the example config has no rule for it, and
/// [`probe_rule`] has one that moves an alias.
const PROBE: &str = r#"{"name":"probe","reason":"ALERT_OPENED","alertId":"9"}"#;

struct Case {
    what: &'static str,
    method: Method,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    status: u16,
    /// The audit line's outcome.
    outcome: &'static str,
}

fn token() -> Vec<(String, String)> {
    vec![
        ("authorization".into(), bearer(TOKEN)),
        ("content-type".into(), "application/json".into()),
    ]
}

fn case(what: &'static str, body: impl Into<Vec<u8>>, status: u16, outcome: &'static str) -> Case {
    Case {
        what,
        method: Method::POST,
        headers: token(),
        body: body.into(),
        status,
        outcome,
    }
}

fn with_headers(mut case: Case, headers: &[(&str, &str)]) -> Case {
    case.headers = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    case
}

/// Request headers, as name and value pairs.
type Headers = Vec<(String, String)>;

/// The header `name` of `headers` (the first, if it is repeated).
fn header<'a>(headers: &'a mut Headers, name: &str) -> &'a mut (String, String) {
    headers
        .iter_mut()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} header"))
}

fn signed_at(body: &str, age_secs: i64, tamper: impl Fn(&mut Headers)) -> Headers {
    let mut headers = signed_headers(body.as_bytes(), age_secs);
    tamper(&mut headers);
    headers
}

fn catalogue() -> Vec<Case> {
    let nested = format!(
        r#"{{"name":"probe","reason":"ALERT_OPENED","deep":{}{}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    let deep_tags = format!(
        r#"{{"name":"probe","reason":"ALERT_OPENED","alertTags":{}{}}}"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    let mut cases = vec![
        // Broken JSON.
        case("truncated JSON", &PROBE.as_bytes()[..20], 400, "invalid"),
        // Deep nesting where no field is read is skipped without recursion; where a field is
        // read, it is not a shape any template renders.
        case("deep nesting in an unknown field", nested, 200, "no_match"),
        case("deep nesting in the tags", deep_tags, 400, "invalid"),
        case("a JSON array", "[1,2,3]", 400, "invalid"),
        case("an empty JSON array", "[]", 400, "invalid"),
        // Serde reads a struct from an array of its fields in order: these are an alert's 26,
        // with the probe's name and reason.
        case(
            "a JSON array of an alert's fields in order",
            format!(
                "[null,\"9\",\"probe\",\"ALERT_OPENED\"{}]",
                ",null".repeat(22)
            ),
            400,
            "invalid",
        ),
        case("JSON null", "null", 400, "invalid"),
        case("a JSON string", "\"ALERT_OPENED\"", 400, "invalid"),
        case("a JSON number", "42", 400, "invalid"),
        case("a JSON boolean", "true", 400, "invalid"),
        case("empty body", "", 400, "invalid"),
        case("only whitespace", " \n\t ", 400, "invalid"),
        case(
            "trailing garbage",
            format!("{PROBE} trailing"),
            400,
            "invalid",
        ),
        case("two objects", format!("{PROBE}{PROBE}"), 400, "invalid"),
        case(
            "a byte-order mark",
            format!("\u{feff}{PROBE}"),
            400,
            "invalid",
        ),
        case(
            "NaN",
            r#"{"name":"probe","reason":"ALERT_OPENED","alertId":NaN}"#,
            400,
            "invalid",
        ),
        case(
            "a number out of range",
            r#"{"name":"probe","reason":"ALERT_OPENED","alertId":1e400}"#,
            400,
            "invalid",
        ),
        case(
            "invalid UTF-8",
            b"{\"name\":\"\xc3\x28\",\"reason\":\"ALERT_OPENED\"}".to_vec(),
            400,
            "invalid",
        ),
        case(
            "a lone surrogate",
            r#"{"name":"\ud800","reason":"ALERT_OPENED"}"#,
            400,
            "invalid",
        ),
        case(
            "duplicate keys",
            r#"{"name":"a","name":"b","reason":"ALERT_OPENED"}"#,
            400,
            "invalid",
        ),
        case("no name", r#"{"reason":"ALERT_OPENED"}"#, 400, "invalid"),
        case("no reason", r#"{"name":"probe"}"#, 400, "invalid"),
        case(
            "an object for the name",
            r#"{"name":{"x":1},"reason":"ALERT_OPENED"}"#,
            400,
            "invalid",
        ),
        case(
            "an object for the tags",
            r#"{"name":"probe","reason":"ALERT_OPENED","alertTags":{"a":1}}"#,
            400,
            "invalid",
        ),
        case(
            "a huge name",
            format!(
                r#"{{"name":"{}","reason":"ALERT_OPENED"}}"#,
                "n".repeat(60_000)
            ),
            400,
            "invalid",
        ),
        // Odd but readable: answered, recorded, nothing matched.
        case(
            "numbers where strings belong",
            r#"{"name":12345,"reason":"ALERT_OPENED","alertId":9}"#,
            200,
            "no_match",
        ),
        case(
            "an unknown reason",
            r#"{"name":"probe","reason":"ALERT_FROM_THE_FUTURE"}"#,
            200,
            "no_match",
        ),
        case(
            "an unknown severity",
            r#"{"name":"probe","reason":"ALERT_OPENED","severity":"APOCALYPTIC"}"#,
            200,
            "no_match",
        ),
        case(
            "a garbled start time",
            r#"{"name":"probe","reason":"ALERT_OPENED","startedTime":"yesterday-ish"}"#,
            200,
            "no_match",
        ),
        case(
            "control characters in the name",
            "{\"name\":\"probe\\u0000\\u001b[31m\",\"reason\":\"ALERT_OPENED\"}",
            200,
            "no_match",
        ),
        case(
            "a name that tries to forge log lines",
            "{\"name\":\"x\\n[METRIC]\\t2026-01-01T00:00:00.000Z\\tforged\\taction_executed 1\",\"reason\":\"ALERT_OPENED\"}",
            200,
            "no_match",
        ),
        case(
            "emoji and right-to-left text",
            "{\"name\":\"\u{1f525} \u{202e}probe\",\"reason\":\"ALERT_OPENED\"}",
            200,
            "no_match",
        ),
        case(
            "exactly 64 KiB",
            format!("{PROBE}{}", " ".repeat(65_536 - PROBE.len())),
            200,
            "no_match",
        ),
        case(
            "64 KiB + 1",
            format!("{PROBE}{}", " ".repeat(65_537 - PROBE.len())),
            413,
            "invalid",
        ),
    ];
    // Every method but POST.
    for method in [
        Method::GET,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ] {
        let mut c = case("a method other than POST", PROBE, 405, "invalid");
        c.method = method;
        cases.push(c);
    }
    let auth = bearer(TOKEN);
    cases.extend([
        // Headers repeated, in odd case, or odd content types.
        with_headers(
            case("the token header twice", PROBE, 401, "rejected"),
            &[("authorization", &auth), ("authorization", &auth)],
        ),
        with_headers(
            case("header and scheme in odd case", PROBE, 200, "no_match"),
            &[("AUTHORIZATION", &format!("bEaReR {TOKEN}"))],
        ),
        with_headers(
            case("spaces around the token", PROBE, 200, "no_match"),
            &[("authorization", &format!("Bearer   {TOKEN}  "))],
        ),
        with_headers(
            case("the scheme alone", PROBE, 401, "rejected"),
            &[("authorization", "Bearer")],
        ),
        with_headers(
            case("a token with a suffix", PROBE, 401, "rejected"),
            &[("authorization", &format!("Bearer {TOKEN}x"))],
        ),
        with_headers(
            case("Basic credentials", PROBE, 401, "rejected"),
            &[("authorization", "Basic dXNlcjpwYXNz")],
        ),
        with_headers(
            case("a form content type", PROBE, 415, "invalid"),
            &[
                ("authorization", &auth),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
        ),
        with_headers(
            case("a multipart content type", PROBE, 415, "invalid"),
            &[
                ("authorization", &auth),
                ("content-type", "multipart/form-data; boundary=x"),
            ],
        ),
        with_headers(
            case("JSON labelled text/plain", PROBE, 200, "no_match"),
            &[
                ("authorization", &auth),
                ("content-type", "text/plain; charset=utf-8"),
            ],
        ),
        with_headers(
            case("a 10 KiB user agent", PROBE, 200, "no_match"),
            &[
                ("authorization", &auth),
                ("user-agent", &"u".repeat(10_240)),
            ],
        ),
        with_headers(
            case("no credentials and a bad body", "{{{", 401, "rejected"),
            &[("content-type", "application/json")],
        ),
        with_headers(
            case("the content type twice, the same", PROBE, 200, "no_match"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
                ("content-type", "application/json"),
            ],
        ),
        // Only the first content type is read (src/front_door/mod.rs, check_content_type).
        with_headers(
            case("JSON then HTML content types", PROBE, 200, "no_match"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
                ("content-type", "text/html"),
            ],
        ),
        with_headers(
            case("HTML then JSON content types", PROBE, 415, "invalid"),
            &[
                ("authorization", &auth),
                ("content-type", "text/html"),
                ("content-type", "application/json"),
            ],
        ),
    ]);
    // Signatures: replayed, stale, future-dated, or tampered with.
    let signed = |what, age, status, outcome, tamper: &dyn Fn(&mut Headers)| {
        let mut c = case(what, PROBE, status, outcome);
        c.headers = signed_at(PROBE, age, tamper);
        c
    };
    // A repeated credential header is refused rather than guessing which copy counts.
    let repeat = |name: &'static str| {
        move |h: &mut Headers| {
            let copy = header(h, name).clone();
            h.push(copy);
        }
    };
    cases.extend([
        signed("a fresh signature", 0, 200, "no_match", &|_| {}),
        signed("a signature a minute old", 60, 200, "no_match", &|_| {}),
        signed(
            "a signature past the tolerance",
            3_600,
            401,
            "rejected",
            &|_| {},
        ),
        signed(
            "the signature header twice",
            0,
            401,
            "rejected",
            &repeat("webhook-signature"),
        ),
        signed(
            "the timestamp header twice",
            0,
            401,
            "rejected",
            &repeat("webhook-timestamp"),
        ),
        signed(
            "the id header twice",
            0,
            401,
            "rejected",
            &repeat("webhook-id"),
        ),
        signed(
            "two timestamps, one of them right",
            0,
            401,
            "rejected",
            &|h| h.push(("webhook-timestamp".into(), "1".into())),
        ),
        signed(
            "the content type twice on a signed request",
            0,
            200,
            "no_match",
            &repeat("content-type"),
        ),
        signed("a future-dated signature", -3_600, 401, "rejected", &|_| {}),
        signed("another webhook-id", 0, 401, "rejected", &|h| {
            header(h, "webhook-id").1 = "msg_other".into()
        }),
        signed(
            "a timestamp that is not a number",
            0,
            401,
            "rejected",
            &|h| header(h, "webhook-timestamp").1 = "soon".into(),
        ),
        signed("an oversized signature header", 0, 401, "rejected", &|h| {
            header(h, "webhook-signature").1 = format!("v1,{}", "A".repeat(2_000))
        }),
        signed("a signature of another version", 0, 401, "rejected", &|h| {
            let signature = header(h, "webhook-signature");
            signature.1 = signature.1.replace("v1,", "v2,")
        }),
    ]);
    cases
}

#[tokio::test]
async fn every_hostile_request_gets_its_status_one_audit_line_and_no_action() {
    let cases = catalogue();
    assert!(cases.len() >= 40, "the catalogue has {} cases", cases.len());
    let t = TestResponder::example().await;
    for case in cases {
        let before = t.audits().len();
        let reply = t
            .request(case.method.clone(), &as_refs(&case.headers), &case.body)
            .await;
        assert_eq!(reply.status, case.status, "{}: {}", case.what, reply.text);
        let audits: Vec<Value> = t.audits();
        assert_eq!(audits.len(), before + 1, "{}: one audit line", case.what);
        let audit = &audits[before];
        assert_eq!(audit["outcome"], case.outcome, "{}: {audit}", case.what);
        assert_eq!(audit["action"], Value::Null, "{}: no action", case.what);
        if let Some(ua) = audit["user_agent"].as_str() {
            assert!(
                ua.chars().count() <= 256,
                "{}: user agent kept short",
                case.what
            );
        }
    }
    // No line was forged, and every METRIC line still has the filter's five fields.
    let output = t.output.text();
    for line in output.lines() {
        if line.starts_with("[METRIC]") {
            let fields = wavefront_responder::telemetry::metric_filter_fields(line);
            assert_eq!(fields.len(), 5, "{line}");
            assert_eq!(fields[2], "11111111-2222-3333-4444-555555555555", "{line}");
        } else {
            assert!(line.starts_with('{'), "only METRIC and audit lines: {line}");
        }
    }
    assert!(!output.contains("forged\taction_executed"));
    assert_no_secrets(&output);
}

/// A rule the probe matches, moving `function`'s `live` alias to version 1.
fn probe_rule(function: &str) -> wavefront_responder::config::Config {
    wavefront_responder::config::Config::parse(
        &format!(
            "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n\
             signing_secrets = [\"env:WEBHOOK_SIGNING_SECRET\"]\n\
             [[rule]]\nname = \"probe\"\nalert = \"probe\"\n[[rule.action]]\n{}\n",
            move_live_action(function, "to_version = \"1\"")
        ),
        std::path::Path::new("probe.toml"),
    )
    .expect("valid config")
}

/// A live responder whose AWS calls go through the fault proxy (which records them) to moto,
/// with one rule the probe matches; and the function whose `live` alias it would move from 2.
async fn live_probe() -> (TestResponder, Proxy, String) {
    let moto = moto::aws().await;
    let function = moto::function_with_versions(&moto, 2).await;
    alias(&moto, &function, "live", "2", &[]).await;
    let proxy = Proxy::start().await;
    let (t, _) = proxy
        .responder(probe_rule(&function), LedgerKind::Memory)
        .await;
    (t, proxy, function)
}

#[tokio::test]
async fn refused_requests_reach_no_aws_even_when_a_live_rule_would_match() {
    let (t, proxy, function) = live_probe().await;
    let refused: Vec<Case> = catalogue()
        .into_iter()
        .filter(|c| c.status >= 400)
        .collect();
    assert!(refused.len() >= 40, "{} refused cases", refused.len());
    for case in refused {
        let before = t.audits().len();
        let reply = t
            .request(case.method.clone(), &as_refs(&case.headers), &case.body)
            .await;
        assert_eq!(reply.status, case.status, "{}: {}", case.what, reply.text);
        let audits = t.audits();
        assert_eq!(audits.len(), before + 1, "{}: one audit line", case.what);
        assert_eq!(audits[before]["outcome"], case.outcome, "{}", case.what);
        assert_eq!(audits[before]["action"], Value::Null, "{}", case.what);
        assert_eq!(
            proxy.take_operations(),
            Vec::<String>::new(),
            "{}: AWS was called",
            case.what
        );
    }
    let moto = moto::aws().await;
    assert_eq!(alias_state(&moto, &function, "live").await.0, "2");
    // The control: the same probe, authenticated, does act, through the proxy.
    let reply = t.post_with_token(PROBE).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["outcome"], "executed", "{}", reply.text);
    assert!(
        proxy.operations().iter().any(|op| op == "UpdateAlias"),
        "{:?}",
        proxy.operations()
    );
    assert_eq!(alias_state(&moto, &function, "live").await.0, "1");
}

/// A replay: the very same signed request, captured and sent again inside the tolerance. The
/// signature is still valid, so it is authenticated; the ledger is what makes it harmless, as
/// for any re-sent notification (docs/authentication.md, "Replays").
#[tokio::test]
async fn a_replayed_signed_request_acts_once() {
    let (t, proxy, function) = live_probe().await;
    let moto = moto::aws().await;
    // With a notificationId, the replay is a duplicate of the first delivery.
    let body =
        r#"{"name":"probe","reason":"ALERT_OPENED","alertId":"9","notificationId":"n-replay"}"#;
    let headers = signed_headers(body.as_bytes(), 0);
    let first = t.post(&as_refs(&headers), body.as_bytes()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json["outcome"], "executed", "{}", first.text);
    assert_eq!(alias_state(&moto, &function, "live").await.0, "1");
    proxy.take_operations();
    let replay = t.post(&as_refs(&headers), body.as_bytes()).await;
    assert_eq!(replay.status, 200, "{}", replay.text);
    assert_eq!(replay.json["outcome"], "duplicate", "{}", replay.text);
    assert_eq!(
        replay.json["duplicate_of"]["request_id"],
        first.json["request_id"]
    );
    assert_eq!(proxy.take_operations(), Vec::<String>::new());
    let audit = t.audits().pop().unwrap();
    assert_eq!(audit["outcome"], "duplicate");
    assert_eq!(audit["auth"], "signature");

    // Without one (no notificationId, no startedTime), the replay is not recognised as a
    // delivery seen before, but the rule has already acted on the alias in this incident.
    let (t, proxy, function) = live_probe().await;
    let headers = signed_headers(PROBE.as_bytes(), 0);
    let first = t.post(&as_refs(&headers), PROBE.as_bytes()).await;
    assert_eq!(first.json["outcome"], "executed", "{}", first.text);
    let replay = t.post(&as_refs(&headers), PROBE.as_bytes()).await;
    assert_eq!(replay.status, 200, "{}", replay.text);
    let action = &replay.json["rules"][0]["actions"][0];
    assert_eq!(action["outcome"], "skipped", "{}", replay.text);
    assert_eq!(action["guard"], "incident_latch", "{}", replay.text);
    let updates = proxy
        .operations()
        .iter()
        .filter(|op| *op == "UpdateAlias")
        .count();
    assert_eq!(updates, 1, "{:?}", proxy.operations());
    assert_eq!(alias_state(&moto, &function, "live").await.0, "1");
}

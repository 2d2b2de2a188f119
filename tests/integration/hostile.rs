//! The bad-input catalogue: hostile or broken requests, each with the status it must get. Every
//! one leaves exactly one audit line and runs no action.

use http::Method;
use serde_json::Value;

use crate::support::*;

/// A payload no rule matches, so a request that gets through changes nothing either.
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
        case("JSON null", "null", 400, "invalid"),
        case("a JSON string", "\"ALERT_OPENED\"", 400, "invalid"),
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
    ]);
    // Signatures: replayed, stale, future-dated, or tampered with.
    let signed = |what, age, status, outcome, tamper: &dyn Fn(&mut Headers)| {
        let mut c = case(what, PROBE, status, outcome);
        c.headers = signed_at(PROBE, age, tamper);
        c
    };
    cases.extend([
        signed("a fresh signature", 0, 200, "no_match", &|_| {}),
        signed(
            "a replayed signature inside the tolerance",
            60,
            200,
            "no_match",
            &|_| {},
        ),
        signed(
            "a replayed signature past the tolerance",
            3_600,
            401,
            "rejected",
            &|_| {},
        ),
        signed("a future-dated signature", -3_600, 401, "rejected", &|_| {}),
        signed("another webhook-id", 0, 401, "rejected", &|h| {
            h[1].1 = "msg_other".into()
        }),
        signed(
            "a timestamp that is not a number",
            0,
            401,
            "rejected",
            &|h| h[2].1 = "soon".into(),
        ),
        signed("an oversized signature header", 0, 401, "rejected", &|h| {
            h[3].1 = format!("v1,{}", "A".repeat(2_000))
        }),
        signed("a signature of another version", 0, 401, "rejected", &|h| {
            h[3].1 = h[3].1.replace("v1,", "v2,")
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

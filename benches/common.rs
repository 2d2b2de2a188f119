//! What the request-path benchmark and the allocation budget (tests/allocations.rs) share: a
//! config of N rules, a responder that plans without AWS, the documented sample payloads, and
//! the two ways a request authenticates.

use std::path::Path;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use wavefront_responder::app::{Options, Responder};
use wavefront_responder::auth;
use wavefront_responder::config::Config;
use wavefront_responder::front_door::Inbound;
use wavefront_responder::telemetry::Telemetry;

pub const TOKEN: &str = "bench-token-0123456789abcdef";
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

/// A config of `rules` rules, the last of which matches the checkout alerts.
pub fn config(rules: usize) -> Config {
    let mut text = String::from(
        "[auth]\ntokens = [\"env:BENCH_TOKEN\"]\nsigning_secrets = [\"env:BENCH_SECRET\"]\n",
    );
    for i in 0..rules {
        let alert = if i + 1 == rules {
            "checkout * error rate*".to_owned()
        } else {
            format!("service-{i} * error rate*")
        };
        text.push_str(&format!(
            "[[rule]]\nname = \"rule-{i}\"\nalert = \"{alert}\"\nseverity = [\"WARN\", \"SEVERE\"]\n\
             [[rule.action]]\ntype = \"lambda-alias\"\nfunction = \"service-{i}\"\nalias = \"live\"\n\
             to_alias = \"stable\"\n"
        ));
    }
    Config::parse(&text, Path::new("bench.toml")).expect("valid config")
}

/// A responder for `rules` rules that plans actions without calling AWS, writing its METRIC
/// and audit lines nowhere.
pub fn responder(rules: usize, runtime: &tokio::runtime::Runtime) -> Responder {
    let env = |name: &str| match name {
        "BENCH_TOKEN" => Some(TOKEN.to_owned()),
        "BENCH_SECRET" => Some(SECRET.to_owned()),
        _ => None,
    };
    runtime
        .block_on(Responder::setup(
            config(rules),
            Arc::new(env),
            Telemetry::to_writer(std::io::sink()),
            Options::default(),
        ))
        .expect("responder")
        .responder
}

/// The sample payloads: the two documented Wavefront examples, and one that matches a rule.
pub const PAYLOADS: [(&str, &str); 3] = [
    ("docs-2018", "docs-2018-generic.json"),
    ("docs-2024", "docs-2024-alert-info.json"),
    ("checkout-match", "checkout-opened.json"),
];

/// A payload from tests/fixtures/alerts.
pub fn payload(file: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/alerts")
            .join(file),
    )
    .expect("fixture")
}

fn headers(pairs: &[(String, String)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(n, v)| {
            (
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect()
}

/// Headers of a request authenticated by bearer token.
pub fn token_headers() -> HeaderMap {
    headers(&[
        ("authorization".into(), format!("Bearer {TOKEN}")),
        ("content-type".into(), "application/json".into()),
    ])
}

/// Headers of a request signed as Standard Webhooks signs it, now.
pub fn signed_headers(body: &[u8]) -> HeaderMap {
    let now = jiff::Timestamp::now().as_second();
    let signature = auth::sign(SECRET, "msg_bench", now, body).expect("sign");
    headers(&[
        ("webhook-id".into(), "msg_bench".into()),
        ("webhook-timestamp".into(), now.to_string()),
        ("webhook-signature".into(), signature),
        ("content-type".into(), "application/json".into()),
    ])
}

/// The two ways a request authenticates, by name: by bearer token, and signed (for `body`).
pub fn auth_cases(body: &[u8]) -> [(&'static str, HeaderMap); 2] {
    [
        ("token", token_headers()),
        ("signature", signed_headers(body)),
    ]
}

/// A POST of `body` as API Gateway hands it over.
pub fn inbound<'a>(method: &'a Method, headers: &'a HeaderMap, body: &'a [u8]) -> Inbound<'a> {
    Inbound {
        method,
        headers,
        body,
        request_id: REQUEST_ID,
        source_ip: Some("198.51.100.7"),
        received_at: jiff::Timestamp::now(),
        body_error: None,
        time_left: None,
        function_arn: None,
    }
}

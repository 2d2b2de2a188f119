//! The HTTP contract of the handler: status codes, the decision record, authentication, and
//! the METRIC and audit lines each request leaves.

use http::Method;
use serde_json::Value;

use crate::support::*;

fn checkout_alert() -> String {
    fixture("alerts/checkout-opened.json")
}

fn json_headers(token: &str) -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "application/json".into()),
        ("authorization".into(), bearer(token)),
    ]
}

#[tokio::test]
async fn a_matching_alert_gets_a_decision_record_for_every_rule() {
    let t = TestResponder::example().await;
    let reply = t
        .post(&as_refs(&json_headers(TOKEN)), checkout_alert().as_bytes())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let record = &reply.json;
    assert_eq!(record["request_id"], "11111111-2222-3333-4444-555555555555");
    assert_eq!(record["outcome"], "planned");
    assert_eq!(record["dry_run"], false);
    assert_eq!(record["alert"]["id"], "1700000000001");
    assert_eq!(record["alert"]["name"], "checkout API error rate high");
    assert_eq!(record["alert"]["reason"], "ALERT_OPENED");
    assert_eq!(record["alert"]["severity"], "SEVERE");
    let rules = record["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 4);
    assert_eq!(rules[0]["rule"], "checkout-errors");
    assert_eq!(rules[0]["matched"], true);
    let actions = rules[0]["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0]["action"], "codedeploy-rollback");
    assert_eq!(actions[0]["target"], "checkout/checkout-prod");
    assert_eq!(actions[0]["outcome"], "planned");
    assert_eq!(actions[1]["action"], "lambda-alias");
    assert_eq!(
        actions[1]["detail"],
        "would move checkout:live to wherever alias stable points"
    );
    assert_eq!(rules[1]["rule"], "payments-latency");
    assert_eq!(rules[1]["matched"], false);
    assert_eq!(
        rules[1]["why"][0],
        "name does not match \"payments p99 latency\""
    );

    // One audit line per action, each naming rule, action, target and outcome.
    let audits = t.audits();
    assert_eq!(audits.len(), 2, "{audits:?}");
    for (audit, (action, target)) in audits.iter().zip([
        ("codedeploy-rollback", "checkout/checkout-prod"),
        ("lambda-alias", "checkout:live"),
    ]) {
        assert_eq!(audit["type"], "audit");
        assert_eq!(audit["rule"], "checkout-errors");
        assert_eq!(audit["action"], action);
        assert_eq!(audit["target"], target);
        assert_eq!(audit["outcome"], "planned");
        assert_eq!(audit["alert_id"], "1700000000001");
        assert_eq!(audit["auth"], "token");
        assert_eq!(audit["source_ip"], "192.0.2.1");
    }
    assert_eq!(
        t.metric_names(),
        [
            "webhook_received",
            "rule_matched",
            "action_planned",
            "action_planned",
            "handler_duration_ms"
        ]
    );
}

#[tokio::test]
async fn no_matching_rule_is_200_with_a_reason_for_each_rule() {
    let t = TestResponder::example().await;
    let body = fixture("alerts/docs-2024-alert-info.json");
    let reply = t
        .post(&as_refs(&json_headers(TOKEN)), body.as_bytes())
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["outcome"], "no_match");
    assert_eq!(
        reply.json["dry_run"], false,
        "nothing matched, so nothing was a dry run"
    );
    assert_eq!(
        reply.json["message"],
        "no rule matched alert \"Alert on Data rate (Test)\" (4 rules checked); nothing to do"
    );
    for rule in reply.json["rules"].as_array().unwrap() {
        assert_eq!(rule["matched"], false);
        assert!(!rule["why"].as_array().unwrap().is_empty());
    }
    let audits = t.audits();
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0]["outcome"], "no_match");
    assert_eq!(audits[0]["rule"], Value::Null);
    assert_eq!(
        t.metric_names(),
        ["webhook_received", "handler_duration_ms"]
    );
}

#[tokio::test]
async fn a_reason_that_is_not_a_trigger_matches_nothing_and_says_why() {
    let t = TestResponder::example().await;
    let body = checkout_alert().replace("ALERT_OPENED", "ALERT_UPDATED");
    let reply = t
        .post(&as_refs(&json_headers(TOKEN)), body.as_bytes())
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["outcome"], "no_match");
    assert_eq!(
        reply.json["rules"][0]["why"][0],
        "reason ALERT_UPDATED is not a trigger (ALERT_OPENED or ALERT_RETRIGGERED)"
    );
}

#[tokio::test]
async fn the_test_button_is_always_a_dry_run() {
    let t = TestResponder::example().await;
    let body = fixture("alerts/checkout-testing.json");
    let reply = t
        .post(&as_refs(&json_headers(TOKEN)), body.as_bytes())
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json["dry_run"], true);
    assert_eq!(reply.json["rules"][0]["matched"], true);
    assert_eq!(reply.json["rules"][0]["dry_run"], true);
    assert!(
        reply.json["message"]
            .as_str()
            .unwrap()
            .ends_with("(dry run)")
    );
    assert!(t.audits().iter().all(|a| a["dry_run"] == true));
}

#[tokio::test]
async fn a_rule_marked_dry_run_says_so() {
    let t = TestResponder::example().await;
    let body = fixture("alerts/payments-opened.json");
    let reply = t
        .post(&as_refs(&json_headers(TOKEN)), body.as_bytes())
        .await;
    assert_eq!(reply.json["rules"][1]["matched"], true);
    assert_eq!(reply.json["rules"][1]["dry_run"], true);
    assert_eq!(reply.json["dry_run"], true);
}

#[tokio::test]
async fn every_method_but_post_is_405() {
    let t = TestResponder::example().await;
    for method in [
        Method::GET,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ] {
        let reply = t
            .request(method.clone(), &as_refs(&json_headers(TOKEN)), b"{}")
            .await;
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(reply.headers["allow"], "POST");
        assert_eq!(reply.json["outcome"], "invalid");
    }
    assert!(t.audits().iter().all(|a| a["outcome"] == "invalid"));
    assert_eq!(
        t.metric_names()
            .iter()
            .filter(|n| *n == "webhook_invalid")
            .count(),
        6
    );
}

/// JSON padded with trailing spaces to exactly `len` bytes.
fn pad(json: &str, len: usize) -> String {
    format!("{json}{}", " ".repeat(len - json.len()))
}

#[tokio::test]
async fn a_body_over_64_kib_is_413_and_one_at_the_limit_is_read() {
    let t = TestResponder::example().await;
    let alert = checkout_alert();
    let at_limit = pad(&alert, 65536);
    assert_eq!(at_limit.len(), 65536);
    let reply = t
        .post(&as_refs(&json_headers(TOKEN)), at_limit.as_bytes())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let over = pad(&alert, 65537);
    let reply = t
        .post(&as_refs(&json_headers(TOKEN)), over.as_bytes())
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json["error"], "the body is over the 65536-byte limit");
}

#[tokio::test]
async fn unauthenticated_requests_get_a_bare_401_and_an_audit_line() {
    let t = TestResponder::example().await;
    let alert = checkout_alert();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[], "no credentials"),
        (
            &[("authorization", "Bearer wrong-token")],
            "not one of the configured tokens",
        ),
        (&[("authorization", TOKEN)], "not \"Bearer <token>\""),
        (&[("x-webhook-token", TOKEN)], "no credentials"),
    ];
    for (headers, why) in cases {
        let reply = t.post(headers, alert.as_bytes()).await;
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.json,
            serde_json::json!({
                "request_id": "11111111-2222-3333-4444-555555555555",
                "outcome": "rejected",
                "error": "unauthorized"
            })
        );
        let audit = t.audits().pop().unwrap();
        assert_eq!(audit["outcome"], "rejected");
        assert!(audit["detail"].as_str().unwrap().contains(why), "{audit}");
        assert_eq!(audit["source_ip"], "192.0.2.1");
        assert_eq!(audit["rule"], Value::Null);
    }
    assert_eq!(
        t.metric_names()
            .iter()
            .filter(|n| *n == "webhook_rejected")
            .count(),
        4
    );
}

#[tokio::test]
async fn authentication_comes_before_the_payload_is_read() {
    let t = TestResponder::example().await;
    let reply = t
        .post(&[("content-type", "text/html")], b"<html>not json</html>")
        .await;
    assert_eq!(
        reply.status, 401,
        "an unauthenticated caller learns nothing"
    );
}

#[tokio::test]
async fn both_tokens_of_a_rotation_are_accepted() {
    let t = TestResponder::example().await;
    for token in [TOKEN, PREVIOUS_TOKEN] {
        let reply = t
            .post(&as_refs(&json_headers(token)), checkout_alert().as_bytes())
            .await;
        assert_eq!(reply.status, 200);
    }
}

#[tokio::test]
async fn content_types_other_than_json_or_text_are_415() {
    let t = TestResponder::example().await;
    let auth = bearer(TOKEN);
    for content_type in [
        "application/x-www-form-urlencoded",
        "text/html; charset=utf-8",
        "multipart/form-data; boundary=x",
        "application/xml",
    ] {
        let reply = t
            .post(
                &[("authorization", &auth), ("content-type", content_type)],
                checkout_alert().as_bytes(),
            )
            .await;
        assert_eq!(reply.status, 415, "{content_type}");
        assert!(
            reply.json["error"]
                .as_str()
                .unwrap()
                .contains("application/json"),
            "{}",
            reply.text
        );
    }
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "Application/JSON",
    ] {
        let reply = t
            .post(
                &[("authorization", &auth), ("content-type", content_type)],
                checkout_alert().as_bytes(),
            )
            .await;
        assert_eq!(reply.status, 200, "{content_type}");
    }
    let reply = t
        .post(&[("authorization", &auth)], checkout_alert().as_bytes())
        .await;
    assert_eq!(reply.status, 200, "no content type at all is read as JSON");
}

#[tokio::test]
async fn unusable_payloads_are_400_with_a_message_that_says_what_is_wrong() {
    let t = TestResponder::example().await;
    let headers = json_headers(TOKEN);
    // The 26 fields of an alert, in the order serde would read them from an array, with the
    // checkout alert's name and reason: a rule of the example matches it if it is read.
    let mut fields = vec!["null"; 26];
    fields[2] = "\"checkout API error rate high\"";
    fields[3] = "\"ALERT_OPENED\"";
    let as_array = format!("[{}]", fields.join(","));
    let cases: [(&[u8], &str); 10] = [
        (
            as_array.as_bytes(),
            "unusable payload at line 1 column 1: the body must be a JSON object (got an array)",
        ),
        (
            b"[1]",
            "unusable payload at line 1 column 1: the body must be a JSON object (got an array)",
        ),
        (
            b" \"ALERT_OPENED\"",
            "unusable payload at line 1 column 2: the body must be a JSON object (got a string)",
        ),
        (
            b"null",
            "unusable payload at line 1 column 1: the body must be a JSON object (got null)",
        ),
        (
            b"{\n  \"name\": \"x\",\n  \"reason\" \"ALERT_OPENED\"\n}",
            "invalid JSON at line 3 column 12: expected `:`",
        ),
        (
            br#"{"reason":"ALERT_OPENED"}"#,
            "alert has no name; the alert target template must render \"name\": \"{{name}}\"",
        ),
        (
            br#"{"name":"x"}"#,
            "alert has no reason; the alert target template must render \"reason\": \"{{reason}}\"",
        ),
        (
            b"",
            "the body is empty; the alert target's body template must render a JSON object",
        ),
        (
            br#"{"name":"x","reason":"ALERT_OPENED""#,
            "invalid JSON at line 1 column 35: EOF while parsing an object",
        ),
        (
            b"\xff\xfe",
            "the body is not UTF-8 text; send the alert as JSON",
        ),
    ];
    for (body, message) in cases {
        let reply = t.post(&as_refs(&headers), body).await;
        assert_eq!(reply.status, 400, "{}", reply.text);
        assert_eq!(reply.json["error"], message);
        assert_eq!(reply.json["outcome"], "invalid");
        assert_eq!(t.audits().pop().unwrap()["detail"], message);
    }
}

#[tokio::test]
async fn a_signed_request_is_accepted() {
    let t = TestResponder::example().await;
    let body = checkout_alert();
    let headers = signed_headers(body.as_bytes(), 0);
    let reply = t.post(&as_refs(&headers), body.as_bytes()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(t.audits()[0]["auth"], "signature");
}

#[tokio::test]
async fn stale_future_and_tampered_signatures_are_rejected() {
    let t = TestResponder::example().await;
    let body = checkout_alert();
    let stale = signed_headers(body.as_bytes(), 301);
    assert_eq!(t.post(&as_refs(&stale), body.as_bytes()).await.status, 401);
    let future = signed_headers(body.as_bytes(), -400);
    assert_eq!(t.post(&as_refs(&future), body.as_bytes()).await.status, 401);
    let fresh = signed_headers(body.as_bytes(), 0);
    let tampered = body.replace("SEVERE", "WARN");
    assert_eq!(
        t.post(&as_refs(&fresh), tampered.as_bytes()).await.status,
        401
    );
    let details: Vec<String> = t
        .audits()
        .iter()
        .map(|a| a["detail"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        details[0].starts_with("signature timestamp is 30"),
        "{details:?}"
    );
    assert!(
        details[0].ends_with("s old, beyond the tolerance"),
        "{details:?}"
    );
    assert!(details[1].contains("in the future"), "{details:?}");
    assert_eq!(
        details[2],
        "no signature matches any configured signing secret"
    );
}

#[tokio::test]
async fn the_signature_tolerance_is_inclusive_to_the_second() {
    let t = TestResponder::example().await;
    let body = checkout_alert();
    let signed_at = 1_795_639_267;
    let headers = signed_headers_at(body.as_bytes(), signed_at);
    for (age, status) in [(-300, 200), (300, 200), (301, 401), (-301, 401)] {
        let received = jiff::Timestamp::from_second(signed_at + age).unwrap();
        let reply = t
            .request_at(Method::POST, &as_refs(&headers), body.as_bytes(), received)
            .await;
        assert_eq!(reply.status, status, "signature {age}s old");
    }
}

#[tokio::test]
async fn a_custom_token_header_carries_the_bare_token() {
    let config = wavefront_responder::config::Config::parse(
        &format!(
            "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\ntoken_header = \"X-Webhook-Token\"\n{}",
            std::fs::read_to_string(repo_path("examples/responder.toml"))
                .unwrap()
                .split_once("[[rule]]")
                .map(|(_, rules)| format!("[[rule]]{rules}"))
                .unwrap()
        ),
        std::path::Path::new("custom-header.toml"),
    )
    .unwrap();
    let t = TestResponder::new(config).await;
    let body = checkout_alert();
    let ok = t.post(&[("x-webhook-token", TOKEN)], body.as_bytes()).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let bearer_elsewhere = t
        .post(&[("authorization", &bearer(TOKEN))], body.as_bytes())
        .await;
    assert_eq!(bearer_elsewhere.status, 401);
}

#[tokio::test]
async fn metric_lines_fit_the_cloudwatch_filter_pattern() {
    let t = TestResponder::example().await;
    t.post(&as_refs(&json_headers(TOKEN)), checkout_alert().as_bytes())
        .await;
    t.post(&[], b"{}").await;
    let lines = t.output.text();
    let metric_lines: Vec<&str> = lines
        .lines()
        .filter(|l| l.starts_with("[METRIC]"))
        .collect();
    assert!(metric_lines.len() >= 7, "{lines}");
    for line in metric_lines {
        // [level=METRIC, timestamp, request_id, metric_name, metric_value]
        let fields = wavefront_responder::telemetry::metric_filter_fields(line);
        assert_eq!(fields.len(), 5, "{line}");
        assert_eq!(fields[0], "METRIC");
        let ts: jiff::Timestamp = fields[1].parse().expect("ISO-8601 timestamp");
        assert!(
            fields[1].ends_with('Z') && fields[1].contains('.'),
            "{line}"
        );
        assert!(
            jiff::Timestamp::now().duration_since(ts).as_secs() < 60,
            "{line}"
        );
        assert_eq!(fields[2], "11111111-2222-3333-4444-555555555555");
        assert!(
            fields[3]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{line}"
        );
        assert!(fields[4].parse::<f64>().is_ok(), "{line}");
        assert_eq!(line.matches('\t').count(), 3, "{line}");
    }
}

#[tokio::test]
async fn no_secret_reaches_a_response_or_a_log_line() {
    let t = TestResponder::example().await;
    let alert = checkout_alert();
    let mut responses = String::new();
    for headers in [
        json_headers(TOKEN),
        json_headers(PREVIOUS_TOKEN),
        json_headers("almost-tok-current-5c1e9f0a7b3d"),
        signed_headers(alert.as_bytes(), 0),
        signed_headers(alert.as_bytes(), 900),
    ] {
        responses.push_str(&t.post(&as_refs(&headers), alert.as_bytes()).await.text);
    }
    assert_no_secrets(&responses);
    assert_no_secrets(&t.output.text());
    assert!(
        !t.output.text().contains("almost-tok"),
        "presented tokens are not logged"
    );
}

#[tokio::test]
async fn a_request_signed_with_the_second_signing_secret_is_accepted() {
    // The first secret is another valid one; the tests sign with SIGNING_SECRET, the second.
    let config = |secrets: &str| {
        wavefront_responder::config::Config::parse(
            &format!(
                "[auth]\ninsecure_allow_literal_secrets = true\nsigning_secrets = [{secrets}]\n"
            ),
            std::path::Path::new("two-secrets.toml"),
        )
        .unwrap()
    };
    let other = "\"literal:whsec_c2Vjb25kLXNpZ25pbmctc2VjcmV0LTAwMDE=\"";
    let both =
        TestResponder::new(config(&format!("{other}, \"env:WEBHOOK_SIGNING_SECRET\""))).await;
    let first_only = TestResponder::new(config(other)).await;
    let body = checkout_alert();
    let headers = signed_headers(body.as_bytes(), 0);
    let reply = both.post(&as_refs(&headers), body.as_bytes()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(both.audits()[0]["auth"], "signature");
    // The same request is refused without it: the second secret is what accepted it.
    let reply = first_only.post(&as_refs(&headers), body.as_bytes()).await;
    assert_eq!(reply.status, 401);
}

#[tokio::test]
async fn a_rule_with_an_alert_id_matches_that_alert_only() {
    let config = wavefront_responder::config::Config::parse(
        &format!(
            "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n[[rule]]\nname = \"by-id\"\n\
             alert_id = 1700000000001\n[[rule.action]]\n{}\n",
            rollback_action("checkout", "checkout-prod")
        ),
        std::path::Path::new("by-id.toml"),
    )
    .unwrap();
    let t = TestResponder::new(config).await;
    let reply = t.post_with_token(&checkout_alert()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["outcome"], "planned", "{}", reply.text);
    let rule = &reply.json["rules"][0];
    assert_eq!(rule["matched"], true);
    assert_eq!(rule["actions"][0]["target"], "checkout/checkout-prod");
    let other = checkout_alert().replace("1700000000001", "1700000000002");
    let reply = t.post_with_token(&other).await;
    assert_eq!(reply.json["outcome"], "no_match", "{}", reply.text);
    assert_eq!(reply.json["rules"][0]["matched"], false);
}

#[tokio::test]
async fn a_global_dry_run_makes_matching_actions_dry_runs() {
    use crate::moto;
    use crate::proxy::{LedgerKind, Proxy};
    let aws = moto::aws().await;
    let function = moto::function_with_versions(&aws, 2).await;
    moto::alias(&aws, &function, "live", "2", &[]).await;
    let config = |dry_run: bool| {
        wavefront_responder::config::Config::parse(
            &format!(
                "dry_run = {dry_run}\n[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n[[rule]]\n\
                 name = \"checkout-errors\"\nalert = \"checkout * error rate*\"\n\
                 [[rule.action]]\n{}\n",
                move_live_action(&function, "to_version = \"1\"")
            ),
            std::path::Path::new("dry-run.toml"),
        )
        .unwrap()
    };
    let proxy = Proxy::start().await;
    // Firing since after the release, so the live run below acts on it.
    let alert = firing();
    let (t, _) = proxy.responder(config(true), LedgerKind::Memory).await;
    let reply = t.post_with_token(&alert).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["dry_run"], true, "{}", reply.text);
    assert_eq!(reply.json["rules"][0]["dry_run"], true, "{}", reply.text);
    let action = &reply.json["rules"][0]["actions"][0];
    let detail = action["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("would ") && detail.contains("2 -> 1"),
        "{action}"
    );
    assert!(t.audits().iter().all(|a| a["dry_run"] == true));
    assert!(
        !proxy.operations().iter().any(|op| op == "UpdateAlias"),
        "{:?}",
        proxy.operations()
    );
    assert_eq!(moto::alias_state(&aws, &function, "live").await.0, "2");
    // The same rule without the global dry run moves the alias: the flag is what held it.
    let (t, _) = proxy.responder(config(false), LedgerKind::Memory).await;
    let reply = t.post_with_token(&alert).await;
    assert_eq!(reply.json["dry_run"], false, "{}", reply.text);
    assert_eq!(moto::alias_state(&aws, &function, "live").await.0, "1");
}

#[tokio::test]
async fn the_rejected_audit_line_carries_the_user_agent() {
    let t = TestResponder::example().await;
    let agent = "Wavefront-Alert-Target/2.0 (probe)";
    let reply = t
        .post(
            &[
                ("authorization", "Bearer wrong-token"),
                ("user-agent", agent),
            ],
            checkout_alert().as_bytes(),
        )
        .await;
    assert_eq!(reply.status, 401);
    let audit = t.audits().pop().unwrap();
    assert_eq!(audit["outcome"], "rejected");
    assert_eq!(audit["user_agent"], agent, "{audit}");
    assert_eq!(audit["source_ip"], "192.0.2.1", "{audit}");
}

//! The binary as Lambda runs it: `AWS_LAMBDA_RUNTIME_API` points at a local Runtime API (this
//! file plays Lambda), which hands out the API Gateway REST event the template's API sends and
//! collects the response. The token comes from Secrets Manager, the ledger is a DynamoDB table
//! and the rule reads a real alias, all on moto server.
//!
//! By default the binary is this build's. `scripts/test` runs this test again on the packaged
//! arm64 `bootstrap` from the deployment zip, through qemu: `RESPONDER_LAMBDA_BINARY` names the
//! binary and `RESPONDER_LAMBDA_RUNNER` the command to run it with.

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::moto::{self, alias};
use crate::runtime_api::{REQUEST_ID, RuntimeApi, lambda_process};
use crate::support::*;

const TOKEN: &str = "token-from-secrets-manager-0123456789";

/// What one invocation of the binary under the Runtime API gave.
struct Invocation {
    /// The Runtime API path the answer was posted to.
    path: String,
    /// The response API Gateway gets (a REST API's Lambda proxy response).
    response: Value,
    /// The decision record in its body.
    record: Value,
    stdout: String,
    stderr: String,
}

/// Starts the binary as Lambda does, in `dir`, with `env` on top of the Lambda environment;
/// hands it one API Gateway REST event carrying `token` and the checkout alert (firing since after
/// the releases the tests make); returns what came back.
async fn invoke(dir: &std::path::Path, env: &[(&str, &str)], token: &str) -> Invocation {
    let auth = bearer(token);
    let event = lambda_event_json(
        "apigw-rest-v1.json",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        &firing(),
    );
    let mut api = RuntimeApi::start(vec![event]).await;
    let mut command = lambda_process(&api.address, dir, moto::endpoint());
    command.env("RUST_LOG", "info");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let answer = tokio::time::timeout(Duration::from_secs(30), api.posted()).await;
    let _ = child.kill();
    let _ = child.wait();
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    let (path, body) = answer
        .unwrap_or_else(|_| panic!("no answer within 30 s; stderr:\n{stderr}"))
        .expect("an answer");
    let response: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let record = response["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    for text in [&stdout, &stderr, &body] {
        assert!(!text.contains(token), "the token leaked");
    }
    Invocation {
        path,
        response,
        record,
        stdout,
        stderr,
    }
}

/// A Secrets Manager secret holding `value`, by ARN.
async fn secret(aws: &crate::moto::Aws, value: &str) -> String {
    aws.secretsmanager
        .create_secret()
        .name(moto::unique("webhook-token"))
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

fn scratch_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(moto::unique("runtime-api"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_answers_an_api_gateway_event_through_the_runtime_api() {
    let aws = moto::aws().await;
    let function = moto::function_with_versions(&aws, 3).await;
    alias(&aws, &function, "live", "2", &[("3", 0.1)]).await;
    alias(&aws, &function, "stable", "1", &[]).await;
    let table = moto::ledger_table(&aws).await;
    let secret = secret(&aws, TOKEN).await;
    let topic = crate::notify::Topic::new().await;
    let dir = scratch_dir();
    std::fs::write(
        dir.join("responder.toml"),
        format!(
            "[auth]\ntokens = [\"secretsmanager:env:WEBHOOK_TOKEN_SECRET_ARN\"]\n\
             [ledger]\ntable = \"env:RESPONDER_LEDGER_TABLE\"\n\
             [notify]\nsns_topic = \"env:NOTIFY_TOPIC_ARN\"\n\
             [[rule]]\nname = \"checkout-errors\"\nalert = \"checkout * error rate*\"\n\
             [[rule.action]]\ntype = \"lambda-alias\"\nfunction = \"{function}\"\n\
             alias = \"live\"\nto_alias = \"stable\"\n"
        ),
    )
    .unwrap();

    // responder.toml in LAMBDA_TASK_ROOT, for real: the alias moves and the ledger records it.
    let run = invoke(
        &dir,
        &[
            ("RESPONDER_LEDGER_TABLE", &table),
            ("WEBHOOK_TOKEN_SECRET_ARN", &secret),
            ("NOTIFY_TOPIC_ARN", &topic.arn),
        ],
        TOKEN,
    )
    .await;
    assert_eq!(
        run.path,
        format!("/2018-06-01/runtime/invocation/{REQUEST_ID}/response")
    );
    assert_eq!(run.response["statusCode"], 200, "{}", run.response);
    // A REST API's proxy response: lambda_http writes the headers as multiValueHeaders.
    assert_eq!(
        run.response["multiValueHeaders"]["content-type"],
        serde_json::json!(["application/json"]),
        "{}",
        run.response
    );
    assert_eq!(run.record["request_id"], REQUEST_ID);
    let action = &run.record["rules"][0]["actions"][0];
    assert_eq!(
        action["outcome"], "executed",
        "{}\n{}",
        run.record, run.stderr
    );
    assert_eq!(
        action["detail"],
        "moved live 2 -> 1 and dropped its canary (3 at 10%)"
    );
    assert_eq!(moto::alias_state(&aws, &function, "live").await.0, "1");
    let ledger = aws.dynamodb.scan().table_name(&table).send().await.unwrap();
    assert!(
        ledger.count() >= 4,
        "notification, incident latch, cooldown and circuit slot are in the table: {:?}",
        ledger.items()
    );

    // The same request in the logs: METRIC lines with Lambda's request id, and an audit line.
    let metrics: Vec<Vec<String>> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("[METRIC]"))
        .map(wavefront_responder::telemetry::metric_filter_fields)
        .collect();
    let names: Vec<&str> = metrics.iter().map(|f| f[3].as_str()).collect();
    assert_eq!(
        names,
        [
            "webhook_received",
            "rule_matched",
            "action_executed",
            "notify_sent",
            "handler_duration_ms"
        ],
        "{}",
        run.stdout
    );
    assert!(
        metrics
            .iter()
            .all(|f| f.len() == 5 && f[0] == "METRIC" && f[2] == REQUEST_ID)
    );
    let audits: Vec<Value> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(audits.len(), 1, "{}", run.stdout);
    assert_eq!(audits[0]["type"], "audit");
    assert_eq!(audits[0]["request_id"], REQUEST_ID);
    assert_eq!(audits[0]["outcome"], "executed");
    assert_eq!(audits[0]["source_ip"], "198.51.100.7");
    assert_eq!(audits[0]["detail"], action["detail"]);

    // The chat notification names the alias by its ARN, completed from the ARN Lambda invoked
    // the function by (the Runtime API's `Lambda-Runtime-Invoked-Function-Arn`).
    let messages = topic.messages().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(
        messages[0]["metadata"]["relatedResources"],
        serde_json::json!([format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{function}:live"
        )])
    );
}

/// The "checkout" resources the shipped rules name, created once per emulator.
async fn seed_the_shipped_rules_targets(aws: &crate::moto::Aws) {
    use aws_sdk_lambda::types::{FunctionCode, Runtime};
    let created = aws
        .lambda
        .create_function()
        .function_name("checkout")
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(moto::role_arn().await)
        .code(
            FunctionCode::builder()
                .zip_file(
                    vec![
                        0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                        0,
                    ]
                    .into(),
                )
                .build(),
        )
        .publish(true)
        .send()
        .await;
    if created.is_ok() {
        aws.lambda
            .update_function_configuration()
            .function_name("checkout")
            .description("release 2")
            .send()
            .await
            .unwrap();
        aws.lambda
            .publish_version()
            .function_name("checkout")
            .send()
            .await
            .unwrap();
        alias(aws, "checkout", "live", "2", &[]).await;
        alias(aws, "checkout", "stable", "1", &[]).await;
    }
    let _ = aws
        .codedeploy
        .create_application()
        .application_name("checkout")
        .compute_platform(aws_sdk_codedeploy::types::ComputePlatform::Lambda)
        .send()
        .await;
    let _ = aws
        .codedeploy
        .create_deployment_group()
        .application_name("checkout")
        .deployment_group_name("checkout-prod")
        .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
        .send()
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_rules_compiled_into_the_binary_run_as_a_fresh_deployment_does() {
    let aws = moto::aws().await;
    seed_the_shipped_rules_targets(&aws).await;
    let table = moto::ledger_table(&aws).await;
    let secret = secret(&aws, TOKEN).await;
    // No file on disk: RESPONDER_CONFIG names the rule file compiled in, as the template sets
    // it; DryRun=true, the template's default.
    let run = invoke(
        &scratch_dir(),
        &[
            ("RESPONDER_CONFIG", "rules/responder.toml"),
            ("RESPONDER_DRY_RUN", "true"),
            ("RESPONDER_LEDGER_TABLE", &table),
            ("WEBHOOK_TOKEN_SECRET_ARN", &secret),
        ],
        TOKEN,
    )
    .await;
    assert_eq!(
        run.response["statusCode"], 200,
        "{}\n{}",
        run.response, run.stderr
    );
    assert_eq!(run.record["dry_run"], true);
    let rule = &run.record["rules"][0];
    assert_eq!(rule["rule"], "checkout-errors");
    let actions = rule["actions"].as_array().unwrap();
    // The shipped rules leave redeploy_within off (it needs AllowRedeploy=true): nothing to stop
    // is nothing to do.
    assert_eq!(
        actions[0]["detail"],
        "nothing in progress in checkout/checkout-prod"
    );
    assert_eq!(actions[1]["outcome"], "planned");
    assert_eq!(actions[1]["detail"], "would move live 2 -> 1");
    // A dry run writes nothing to the ledger.
    let ledger = aws.dynamodb.scan().table_name(&table).send().await.unwrap();
    assert_eq!(ledger.count(), 0, "{:?}", ledger.items());
}

/// No `RUST_LOG` value puts a header, a body or a secret in the logs: directives more specific
/// than the capped targets (`lambda_runtime::layers::api_response=trace` logged the raw event,
/// `Authorization` header included) are capped too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_directive_puts_a_header_or_a_body_in_the_logs() {
    let dir = scratch_dir();
    std::fs::write(
        dir.join("responder.toml"),
        "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n",
    )
    .unwrap();
    let directives = "trace,lambda_runtime::layers::api_response=trace,\
                      lambda_runtime::layers=trace,lambda_http::request=trace,\
                      aws_smithy_runtime::client::orchestrator=trace,hyper::proto=trace";
    // invoke() fails if the token appears in stdout, stderr or the answer.
    let run = invoke(
        &dir,
        &[("RUST_LOG", directives), ("WEBHOOK_TOKEN", TOKEN)],
        TOKEN,
    )
    .await;
    assert_eq!(run.response["statusCode"], 200, "{}", run.response);
    assert_eq!(run.record["outcome"], "no_match", "{}", run.record);
    // Nor the alert: the body names it, and so do the event's headers' neighbours.
    let body: Value = serde_json::from_str(&firing()).unwrap();
    let name = body["name"].as_str().unwrap();
    assert!(!run.stderr.contains(name), "{}", run.stderr);
    assert!(
        !run.stderr.to_ascii_lowercase().contains("bearer"),
        "{}",
        run.stderr
    );
    // Verbose all the same where nothing secret is: the responder's own trace lines.
    assert!(
        run.stderr.contains("TRACE") || run.stderr.contains("DEBUG"),
        "{}",
        run.stderr
    );
}

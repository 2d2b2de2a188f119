//! A real AWS API emulator for the tests: moto server (pinned in tests/requirements.txt).
//!
//! `scripts/test` starts one moto server for the whole run and exports its address as
//! `MOTO_ENDPOINT`; tests share it and keep apart by naming every resource uniquely. Run alone
//! (`cargo test`), a test process starts its own from `.venv`. When neither works the test
//! fails, saying how to fix it: a missing emulator is never a silent skip.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_sdk_lambda::config::{Credentials, Region};
use aws_sdk_lambda::types::{AliasRoutingConfiguration, FunctionCode, Runtime};
use wavefront_responder::execute::Clients;
use wavefront_responder::execute::appconfig::AppConfig;

use crate::support::repo_path;

/// The emulator's address, `http://127.0.0.1:PORT`.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("MOTO_ENDPOINT") {
            return endpoint;
        }
        let (endpoint, child) = start();
        // Lives as long as the test process: see `start`.
        static CHILD: OnceLock<std::sync::Mutex<Child>> = OnceLock::new();
        let _ = CHILD.set(std::sync::Mutex::new(child));
        endpoint
    })
}

fn start() -> (String, Child) {
    let binary = repo_path(".venv/bin/moto_server");
    assert!(
        binary.exists(),
        "the AWS emulator is missing ({}): run scripts/test, which installs moto server into \
         .venv and starts it, or set MOTO_ENDPOINT to a running moto server",
        binary.display()
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    // A child outlives the process that started it, so a shell holds moto server and stops it
    // when its stdin, whose other end this process holds until it exits, closes.
    let child = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & read -r _; kill "$!""#)
        .arg(&binary)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let endpoint = format!("http://127.0.0.1:{port}");
    wait_until_up(port);
    (endpoint, child)
}

fn wait_until_up(port: u16) {
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("moto_server did not listen on port {port} within 15 s");
}

/// SDK configuration pointing at `endpoint`, as `AWS_ENDPOINT_URL` would, with the
/// responder's own retries and timeouts, test credentials and us-east-1.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    wavefront_responder::aws::loader()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

/// Every client the tests use, for one emulator: what the responder builds in three places
/// (the actions' clients, the ledger's DynamoDB, the secrets' Secrets Manager), in one bundle.
#[derive(Clone, Debug)]
pub struct Aws {
    pub codedeploy: aws_sdk_codedeploy::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    pub appconfig: aws_sdk_appconfig::Client,
}

impl Aws {
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Self {
        Self {
            codedeploy: aws_sdk_codedeploy::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            secretsmanager: aws_sdk_secretsmanager::Client::new(config),
            appconfig: aws_sdk_appconfig::Client::new(config),
        }
    }

    /// The clients actions run with.
    pub fn clients(&self) -> Clients {
        Clients {
            codedeploy: self.codedeploy.clone(),
            lambda: self.lambda.clone(),
            ecs: self.ecs.clone(),
            appconfig: AppConfig::new(self.appconfig.clone()),
        }
    }
}

/// Clients for the emulator.
pub async fn aws() -> Aws {
    Aws::from_sdk_config(&sdk_config(endpoint()).await)
}

/// A name no other test uses: `prefix-<pid>-<stamp>-<n>`. The stamp (when the process first
/// asked, in milliseconds, modulo a million) tells apart processes that reuse a pid against a
/// moto server that outlives them.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    static STAMP: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let stamp = STAMP.get_or_init(|| jiff::Timestamp::now().as_millisecond() % 1_000_000);
    format!(
        "{prefix}-{}-{stamp}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The role Lambda functions are created with. IAM speaks the Query protocol, which takes a
/// plain form POST; moto does not check signatures, only reads the service from the scope.
pub async fn role_arn() -> String {
    let name = unique("responder-test-role");
    let body = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument=%7B%7D"
    );
    let response = raw_post(
        endpoint(),
        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, \
         SignedHeaders=host, Signature=0",
        &body,
    )
    .await;
    assert!(response.contains("<CreateRoleResponse"), "{response}");
    format!("arn:aws:iam::123456789012:role/{name}")
}

async fn raw_post(endpoint: &str, authorization: &str, body: &str) -> String {
    use http_body_util::BodyExt;
    let address = endpoint.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(address).await.expect("moto");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(connection);
    let request = http::Request::post("/")
        .header("host", address)
        .header("authorization", authorization)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_owned(),
        )))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The smallest valid zip archive: an empty one.
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// A function with `versions` published versions ("1", "2", ...).
pub async fn function_with_versions(aws: &Aws, versions: usize) -> String {
    let name = unique("checkout");
    aws.lambda
        .create_function()
        .function_name(&name)
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role_arn().await)
        .code(
            FunctionCode::builder()
                .zip_file(EMPTY_ZIP.to_vec().into())
                .build(),
        )
        .send()
        .await
        .expect("create function");
    for n in 1..=versions {
        aws.lambda
            .update_function_configuration()
            .function_name(&name)
            .description(format!("release {n}"))
            .send()
            .await
            .expect("update function");
        let published = aws
            .lambda
            .publish_version()
            .function_name(&name)
            .send()
            .await
            .expect("publish version");
        assert_eq!(published.version(), Some(n.to_string().as_str()));
    }
    name
}

/// Creates `alias` on `version`, with canary weights if given.
pub async fn alias(aws: &Aws, function: &str, alias: &str, version: &str, canary: &[(&str, f64)]) {
    let routing = (!canary.is_empty()).then(|| {
        AliasRoutingConfiguration::builder()
            .set_additional_version_weights(Some(
                canary.iter().map(|(v, w)| (v.to_string(), *w)).collect(),
            ))
            .build()
    });
    aws.lambda
        .create_alias()
        .function_name(function)
        .name(alias)
        .function_version(version)
        .set_routing_config(routing)
        .send()
        .await
        .expect("create alias");
}

/// Where an alias points now, and its canary weights.
pub async fn alias_state(aws: &Aws, function: &str, alias: &str) -> (String, Vec<(String, f64)>) {
    let output = aws
        .lambda
        .get_alias()
        .function_name(function)
        .name(alias)
        .send()
        .await
        .expect("get alias");
    let mut weights: Vec<(String, f64)> = output
        .routing_config
        .and_then(|r| r.additional_version_weights)
        .unwrap_or_default()
        .into_iter()
        .collect();
    weights.sort_by(|a, b| a.0.cmp(&b.0));
    (output.function_version.unwrap_or_default(), weights)
}

/// A CodeDeploy application (Lambda platform) with one deployment group.
pub async fn deployment_group(aws: &Aws) -> (String, String) {
    let application = unique("checkout-app");
    let group = unique("checkout-prod");
    aws.codedeploy
        .create_application()
        .application_name(&application)
        .compute_platform(aws_sdk_codedeploy::types::ComputePlatform::Lambda)
        .send()
        .await
        .expect("create application");
    aws.codedeploy
        .create_deployment_group()
        .application_name(&application)
        .deployment_group_name(&group)
        .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
        .send()
        .await
        .expect("create deployment group");
    (application, group)
}

/// A deployment in the group; moto leaves it `Created` for ever.
pub async fn deployment(aws: &Aws, application: &str, group: &str) -> String {
    use aws_sdk_codedeploy::types::{AppSpecContent, RevisionLocation, RevisionLocationType};
    aws.codedeploy
        .create_deployment()
        .application_name(application)
        .deployment_group_name(group)
        .revision(
            RevisionLocation::builder()
                .revision_type(RevisionLocationType::AppSpecContent)
                .app_spec_content(AppSpecContent::builder().content("{}").build())
                .build(),
        )
        .send()
        .await
        .expect("create deployment")
        .deployment_id
        .expect("deployment id")
}

/// A ledger table shaped as docs/safety.md documents (and the deployment template creates):
/// `pk`/`sk` string keys, on-demand, TTL on `expires_at`.
pub async fn ledger_table(aws: &Aws) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TimeToLiveSpecification,
    };
    let table = unique("responder-ledger");
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("key")
    };
    aws.dynamodb
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .expect("create table");
    aws.dynamodb
        .update_time_to_live()
        .table_name(&table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("enable TTL");
    table
}

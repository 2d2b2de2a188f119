//! Chat notifications (#16 item 1), end to end: real actions on moto server, the responder's
//! notifications published to a moto SNS topic with an SQS queue subscribed (raw message
//! delivery), read back from the queue. One message per request in which a live action
//! executed, failed or was refused; none for dry runs, duplicates, no match or a second
//! delivery of the same incident that acts on nothing new; an SNS that fails or stalls (the
//! fault proxy) costs at most the bound and changes neither the answer nor the action.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use wavefront_responder::app::Options;
use wavefront_responder::config::Config;
use wavefront_responder::duration::HumanDuration;
use wavefront_responder::execute::Executor;
use wavefront_responder::ledger::{CircuitBreaker, Ledger};

use crate::moto::{self, Aws, alias, alias_state};
use crate::proxy::{ANY, Fault, Proxy, Times};
use crate::support::*;

/// A topic with a queue subscribed to it, raw: each message on the queue is one published.
pub struct Topic {
    pub arn: String,
    queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl Topic {
    pub async fn new() -> Self {
        let config = moto::sdk_config(moto::endpoint()).await;
        let sns = aws_sdk_sns::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let name = moto::unique("oncall");
        let topic = sns.create_topic().name(&name).send().await.unwrap();
        let arn = topic.topic_arn().unwrap().to_owned();
        let queue = sqs.create_queue().queue_name(&name).send().await.unwrap();
        let queue_url = queue.queue_url().unwrap().to_owned();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let queue_arn = attributes.attributes().unwrap()
            [&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        sns.subscribe()
            .topic_arn(&arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .unwrap();
        Self {
            arn,
            queue_url,
            sqs,
        }
    }

    /// Every message on the queue so far, parsed, taken off it.
    pub async fn messages(&self) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let batch = received.messages();
            if batch.is_empty() {
                return all;
            }
            for message in batch {
                all.push(serde_json::from_str(message.body().unwrap()).expect("JSON message"));
                let handle = message.receipt_handle().unwrap();
                let delete = self.sqs.delete_message().queue_url(&self.queue_url);
                delete.receipt_handle(handle).send().await.unwrap();
            }
        }
    }
}

/// The checkout rule moving `function`'s `live` alias to `stable`, without a cooldown, with
/// `extra` config, notifying `topic`.
fn config(function: &str, topic: &str, extra: &str) -> Config {
    let text = format!(
        "{extra}\n[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n[notify]\nsns_topic = \"{topic}\"\n\
         [[rule]]\nname = \"checkout-errors\"\nalert = \"checkout * error rate*\"\n{NO_COOLDOWN}\n\
         [[rule.action]]\n{}\n",
        move_live_action(function, "to_alias = \"stable\"")
    );
    Config::parse(&text, Path::new("notify.toml")).expect("valid config")
}

/// A responder acting on `aws` through `ledger`, publishing with `sns` within `within`.
async fn responder(
    config: Config,
    aws: &Aws,
    ledger: Ledger,
    sns: aws_sdk_sns::Client,
    within: Duration,
) -> TestResponder {
    let options = Options {
        executor: Some(Executor::new(aws.clients(), ledger)),
        sns: Some(sns),
        notify_within: within,
        ..Options::default()
    };
    TestResponder::with_options(config, options).await
}

/// [`responder`] with an in-memory ledger, publishing to moto within 5 s.
async fn live(config: Config, aws: &Aws) -> TestResponder {
    let sns = moto_sns().await;
    responder(
        config,
        aws,
        Ledger::in_memory(None),
        sns,
        Duration::from_secs(5),
    )
    .await
}

async fn moto_sns() -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(&moto::sdk_config(moto::endpoint()).await)
}

/// A function whose `live` alias runs version 2; `stable` is 1.
async fn release(aws: &Aws) -> String {
    let function = moto::function_with_versions(aws, 2).await;
    alias(aws, &function, "live", "2", &[]).await;
    alias(aws, &function, "stable", "1", &[]).await;
    function
}

fn count(t: &TestResponder, metric: &str) -> usize {
    t.metric_names().iter().filter(|m| *m == metric).count()
}

/// [`firing`] delivered again as another notification of the same incident.
fn same_incident_again() -> String {
    let mut alert: Value = serde_json::from_str(&firing()).expect("alert JSON");
    alert["notificationId"] = "same-incident-another-notification".into();
    alert.to_string()
}

/// [`firing`]'s next incident: started later, with a notification of its own.
fn next_incident() -> String {
    let mut alert: Value = serde_json::from_str(&firing()).expect("alert JSON");
    alert["startedTime"] = wavefront_time(started() + jiff::SignedDuration::from_mins(84)).into();
    alert["notificationId"] = "second-incident-notification".into();
    alert.to_string()
}

#[tokio::test]
async fn an_executed_action_publishes_one_chat_message_threaded_by_incident() {
    let (aws, topic) = (moto::aws().await, Topic::new().await);
    let function = release(&aws).await;
    let config = config(&function, &topic.arn, "");
    let t = live(config, &aws).await;

    let reply = t.post_with_token(&firing()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["outcome"], "executed");
    let messages = topic.messages().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let message = &messages[0];
    let request_id = reply.json["request_id"].as_str().unwrap();
    let target = format!("{function}:live");
    assert_eq!(message["version"], "1.0");
    assert_eq!(message["source"], "custom");
    assert_eq!(message["id"], request_id);
    let content = &message["content"];
    assert_eq!(content["textType"], "client-markdown");
    assert_eq!(
        content["title"],
        format!("Rolled back {target}: moved live 2 -> 1")
    );
    let description = content["description"].as_str().unwrap();
    for part in [
        "checkout API error rate high",
        "SEVERE",
        "checkout-errors",
        &target,
        "executed: moved live 2 -> 1",
        request_id,
    ] {
        assert!(description.contains(part), "{part} in {description}");
    }
    let steps = content["nextSteps"].as_array().unwrap();
    assert!(
        steps[0]
            .as_str()
            .unwrap()
            .contains("wavefront-responder freeze"),
        "{steps:?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s.as_str().unwrap().contains("ledger list"))
    );
    let metadata = &message["metadata"];
    let thread = format!("1700000000001@{}", started().as_second());
    assert_eq!(metadata["threadId"], thread);
    assert_eq!(metadata["eventType"], "executed");
    assert_eq!(metadata["relatedResources"], serde_json::json!([target]));
    assert_eq!(count(&t, "notify_sent"), 1);
    assert_eq!(count(&t, "notify_failed"), 0);
    assert_no_secrets(&message.to_string());
    assert!(
        !message.to_string().contains("failingSeries"),
        "no raw alert body"
    );

    // A duplicate, and another notification of the same incident that acts on nothing new.
    let duplicate = t.post_with_token(&firing()).await;
    assert_eq!(duplicate.json["outcome"], "duplicate", "{}", duplicate.text);
    let again = t.post_with_token(&same_incident_again()).await;
    assert_ne!(again.json["outcome"], "executed", "{}", again.text);
    assert_eq!(topic.messages().await, Vec::<Value>::new());
    assert_eq!(count(&t, "notify_sent"), 1);
}

#[tokio::test]
async fn dry_runs_and_alerts_no_rule_matches_publish_nothing() {
    let (aws, topic) = (moto::aws().await, Topic::new().await);
    let function = release(&aws).await;
    let t = live(config(&function, &topic.arn, ""), &aws).await;
    let test_button = t
        .post_with_token(&firing_from("alerts/checkout-testing.json"))
        .await;
    assert_eq!(test_button.json["dry_run"], true, "{}", test_button.text);
    let mut other: Value = serde_json::from_str(&firing()).unwrap();
    other["name"] = "payments latency".into();
    let no_match = t.post_with_token(&other.to_string()).await;
    assert_eq!(no_match.json["outcome"], "no_match", "{}", no_match.text);

    let dry = config(&function, &topic.arn, "dry_run = true");
    let t2 = live(dry, &aws).await;
    let reply = t2.post_with_token(&firing()).await;
    assert_eq!(reply.json["outcome"], "planned", "{}", reply.text);
    assert_eq!(topic.messages().await, Vec::<Value>::new());
    assert_eq!(alias_state(&aws, &function, "live").await.0, "2");
    for t in [&t, &t2] {
        assert_eq!(count(t, "notify_sent") + count(t, "notify_failed"), 0);
    }
}

#[tokio::test]
async fn a_failed_action_and_a_breaker_refusal_each_publish_one() {
    let (aws, topic) = (moto::aws().await, Topic::new().await);
    // The function does not exist: reading its alias fails.
    let missing = moto::unique("missing");
    let failing = config(&missing, &topic.arn, "");
    let t = live(failing, &aws).await;
    let reply = t.post_with_token(&firing()).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    let messages = topic.messages().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["metadata"]["eventType"], "failed");
    let title = format!("Could not roll back {missing}:live");
    assert_eq!(messages[0]["content"]["title"], title);
    // Wavefront's retry fails the same way: the ledger's mark keeps it out of the chat.
    assert_eq!(t.post_with_token(&firing()).await.status, 502);
    assert_eq!(topic.messages().await.len(), 0);

    let function = release(&aws).await;
    let breaker = "[circuit_breaker]\nmax_actions = 1\nwindow = \"1h\"\n";
    let circuit = Some(CircuitBreaker {
        max_actions: 1,
        window: HumanDuration::parse("1h").unwrap(),
    });
    let guarded = config(&function, &topic.arn, breaker);
    let t = responder(
        guarded,
        &aws,
        Ledger::in_memory(circuit),
        moto_sns().await,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        t.post_with_token(&firing()).await.json["outcome"],
        "executed"
    );
    let refused = t.post_with_token(&next_incident()).await;
    assert_eq!(
        refused.json["rules"][0]["actions"][0]["guard"], "circuit_open",
        "{}",
        refused.text
    );
    let messages = topic.messages().await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[1]["metadata"]["eventType"], "refused");
    let title = format!("Did not roll back {function}:live (circuit breaker open)");
    assert_eq!(messages[1]["content"]["title"], title);
    // The next incident is another thread.
    assert_ne!(
        messages[0]["metadata"]["threadId"],
        messages[1]["metadata"]["threadId"]
    );
}

#[tokio::test]
async fn an_sns_that_stalls_or_fails_changes_neither_the_answer_nor_the_action() {
    for fault in [Fault::Stall, Fault::Status(500)] {
        let (aws, topic) = (moto::aws().await, Topic::new().await);
        let proxy = Proxy::start().await;
        proxy.inject(ANY, fault, Times::Always);
        let sns = aws_sdk_sns::Client::new(&moto::sdk_config(proxy.endpoint()).await);
        let function = release(&aws).await;
        let bound = Duration::from_millis(300);
        let config = config(&function, &topic.arn, "");
        let t = responder(config, &aws, Ledger::in_memory(None), sns, bound).await;

        let reply = t.post_with_token(&firing()).await;
        assert_eq!(reply.status, 200, "{fault:?}: {}", reply.text);
        assert_eq!(reply.json["outcome"], "executed");
        assert_eq!(alias_state(&aws, &function, "live").await.0, "1");
        assert!(!proxy.operations().is_empty(), "{fault:?}: SNS was called");
        assert_eq!(count(&t, "notify_failed"), 1, "{fault:?}");
        assert_eq!(count(&t, "notify_sent"), 0);
        assert!(reply.json.get("notes").is_none(), "{}", reply.text);
        assert_eq!(t.audits().len(), 1);
        assert_eq!(topic.messages().await, Vec::<Value>::new());
        assert_no_secrets(&t.output.text());
        assert_no_secrets(&reply.text);
    }
}

#[tokio::test]
async fn a_notify_table_whose_topic_is_not_set_counts_each_message_not_sent() {
    // The rule file reads the topic from a variable the stack did not set (deployed without
    // NotifyTopicArn): the action runs, and the message it would have sent is notify_failed,
    // so its alarm says the chat is not being told.
    let aws = moto::aws().await;
    let function = release(&aws).await;
    let unset = config(&function, "env:NOTIFY_TOPIC_ARN_NOT_SET", "");
    let t = live(unset, &aws).await;
    let reply = t.post_with_token(&firing()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["outcome"], "executed");
    assert_eq!(alias_state(&aws, &function, "live").await.0, "1");
    assert_eq!(count(&t, "notify_failed"), 1);
    assert_eq!(count(&t, "notify_sent"), 0);
    // A dry run would not have notified: nothing failed.
    let test_button = t
        .post_with_token(&firing_from("alerts/checkout-testing.json"))
        .await;
    assert_eq!(test_button.json["dry_run"], true, "{}", test_button.text);
    assert_eq!(count(&t, "notify_failed"), 1);
}

#[tokio::test]
async fn a_topic_in_another_region_is_published_to_in_its_own_region() {
    // The responder's clients are in us-east-1; the topic is in eu-west-1, where SNS alone
    // knows it.
    let aws = moto::aws().await;
    let function = release(&aws).await;
    let mut elsewhere = moto::sdk_config(moto::endpoint()).await.into_builder();
    elsewhere.set_region(Some(aws_config::Region::new("eu-west-1")));
    let there = aws_sdk_sns::Client::new(&elsewhere.build());
    let name = moto::unique("oncall-eu");
    let topic = there.create_topic().name(&name).send().await.unwrap();
    let arn = topic.topic_arn().unwrap().to_owned();
    assert!(arn.contains(":eu-west-1:"), "{arn}");

    let t = live(config(&function, &arn, ""), &aws).await;
    let reply = t.post_with_token(&firing()).await;
    assert_eq!(reply.json["outcome"], "executed", "{}", reply.text);
    assert_eq!(count(&t, "notify_sent"), 1, "{:?}", t.metric_names());
    assert_eq!(count(&t, "notify_failed"), 0);
}

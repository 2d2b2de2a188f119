//! The alert target `register` writes, as pure functions of the config: the body of
//! `POST /api/v2/notificant` (the header `[auth]` expects, carrying a token; the trigger reasons
//! the rules act on plus `ALERT_RESOLVED`; the shipped body template), whether a stored target
//! already says the same, and the body as it may be shown, with the token redacted.

use http::{HeaderName, header};
use serde_json::{Value, json};
use wavefront_responder::alert::Reason;
use wavefront_responder::auth::AuthConfig;
use wavefront_responder::config::Config;
use wavefront_responder::secret::Secret;

/// The body template Wavefront renders for each notification: the one shipped in `wavefront/`.
pub const TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/wavefront/alert-target-template.json.mustache"
));
/// The title a target is registered and found by, unless `--title` says otherwise.
pub const DEFAULT_TITLE: &str = "wavefront-responder";
/// The target's description (Wavefront requires one).
const DESCRIPTION: &str = "Rolls back the release when an alert that guards it fires \
                           (written by wavefront-responder register)";
/// What stands for the token wherever the body is shown.
const REDACTED: &str = "<redacted>";

/// Trigger reasons Wavefront sends without a target subscribing to them (its Test button and
/// notification previews): a target's `triggers` may not name them.
const NOT_SUBSCRIBABLE: [Reason; 2] = [Reason::Testing, Reason::NotificationPreview];

/// The header that carries a webhook token the way the responder's `[auth]` accepts it:
/// `Authorization: Bearer <token>`, or the bare token in any other `token_header`.
pub struct Credential {
    name: HeaderName,
    bearer: bool,
    token: Secret,
}

impl Credential {
    /// The header for `token` under `auth`; the token is trimmed, as the responder trims the
    /// tokens it reads.
    pub fn new(auth: &AuthConfig, token: &Secret) -> Self {
        Self {
            name: auth.token_header.clone(),
            bearer: auth.token_header == header::AUTHORIZATION,
            token: Secret::new(token.expose().trim()),
        }
    }

    /// The header's name as Wavefront shows it (`Authorization` capitalised, as people write it).
    pub fn name(&self) -> &str {
        if self.bearer {
            "Authorization"
        } else {
            self.name.as_str()
        }
    }

    /// The header's value, token included.
    pub fn value(&self) -> String {
        self.value_with(self.token.expose())
    }

    /// The token itself, to keep out of anything shown.
    pub fn token(&self) -> &str {
        self.token.expose()
    }

    fn value_with(&self, token: &str) -> String {
        if self.bearer {
            format!("Bearer {token}")
        } else {
            token.to_owned()
        }
    }
}

/// The alert target `register` makes Wavefront hold.
pub struct Target {
    pub title: String,
    /// The responder's webhook URL.
    pub recipient: String,
    pub triggers: Vec<&'static str>,
    pub credential: Credential,
}

impl Target {
    /// The request body, token included: only ever sent, never shown.
    pub fn body(&self) -> Value {
        self.body_with(self.credential.value())
    }

    /// The request body as `--dry-run` shows it: the token replaced by `<redacted>`.
    pub fn shown(&self) -> Value {
        self.body_with(self.credential.value_with(REDACTED))
    }

    fn body_with(&self, header_value: String) -> Value {
        json!({
            "title": self.title,
            "description": DESCRIPTION,
            "method": "WEBHOOK",
            "recipient": self.recipient,
            "contentType": "application/json",
            "customHttpHeaders": { self.credential.name(): header_value },
            "template": TEMPLATE,
            "triggers": self.triggers,
        })
    }

    /// Whether `stored` (a target as Wavefront lists it, with its id and bookkeeping fields)
    /// already says everything this body says: then there is nothing to update. Triggers are
    /// compared as a set and header names without regard to case, as Wavefront treats them.
    pub fn matches(&self, stored: &Value) -> bool {
        let body = self.body();
        let same = |field: &str| stored.get(field) == body.get(field);
        [
            "title",
            "description",
            "method",
            "recipient",
            "contentType",
            "template",
        ]
        .into_iter()
        .all(same)
            && sorted_strings(stored.get("triggers")) == sorted_strings(body.get("triggers"))
            && headers(stored) == headers(&body)
    }
}

/// A JSON array of strings, sorted; `None` when it is anything else.
fn sorted_strings(value: Option<&Value>) -> Option<Vec<&str>> {
    let mut strings = value?
        .as_array()?
        .iter()
        .map(Value::as_str)
        .collect::<Option<Vec<_>>>()?;
    strings.sort_unstable();
    Some(strings)
}

/// A target's custom headers, names lower-cased and sorted; `None` when they are not a map of
/// strings.
fn headers(target: &Value) -> Option<Vec<(String, &str)>> {
    let mut headers = target
        .get("customHttpHeaders")?
        .as_object()?
        .iter()
        .map(|(name, value)| Some((name.to_ascii_lowercase(), value.as_str()?)))
        .collect::<Option<Vec<_>>>()?;
    headers.sort_unstable();
    Some(headers)
}

/// The reasons the target must send: every trigger reason of the config (the global
/// `triggers` and each rule's own) and `ALERT_RESOLVED` (the ledger ends incidents with it),
/// in Wavefront's order, without the reasons a target cannot subscribe to.
pub fn triggers(config: &Config) -> Vec<&'static str> {
    let wanted = |reason: &Reason| {
        *reason == Reason::Resolved
            || config.triggers.contains(reason)
            || config
                .rules
                .iter()
                .any(|rule| rule.triggers.contains(reason))
    };
    Reason::known()
        .map(Reason::parse)
        .filter(|reason| wanted(reason) && !NOT_SUBSCRIBABLE.contains(reason))
        .filter_map(|reason| Reason::known().find(|name| *name == reason.as_str()))
        .collect()
}

/// `text` with every occurrence of each secret replaced by `<redacted>`: for messages that
/// repeat what Wavefront answered, in case an answer echoes the request.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(text.to_owned(), |text, secret| {
            text.replace(secret, REDACTED)
        })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use wavefront_responder::auth::{AuthMethod, Authenticator};
    use wavefront_responder::secret::Resolver;

    const TOKEN: &str = "tok-target-test-5c1e9f0a";

    fn config(extra: &str) -> Config {
        let text = format!(
            "triggers = [\"ALERT_OPENED\", \"ALERT_RETRIGGERED\"]\n\
             [auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n{extra}\n\
             [[rule]]\nname = \"r\"\nalert = \"a\"\n\
             [[rule.action]]\ntype = \"lambda-alias\"\nfunction = \"f\"\nalias = \"live\"\n\
             to_version = \"3\"\n"
        );
        Config::parse(&text, Path::new("target.toml")).unwrap()
    }

    fn target(config: &Config) -> Target {
        Target {
            title: DEFAULT_TITLE.into(),
            recipient: "https://hooks.example.com/live/webhook".into(),
            triggers: triggers(config),
            credential: Credential::new(&config.auth, &Secret::new(format!(" {TOKEN}\n"))),
        }
    }

    /// The responder, built from `config` as at start-up, accepts the header the target sends.
    async fn accepted(config: &Config, credential: &Credential) -> bool {
        let env = |name: &str| (name == "WEBHOOK_TOKEN").then(|| TOKEN.to_owned());
        let resolver = Resolver {
            env: &env,
            secrets_manager: None,
            previous_for: wavefront_responder::secret::PREVIOUS_VERSION_FOR,
        };
        let setup = Authenticator::from_config(&config.auth, resolver)
            .await
            .unwrap();
        let mut headers = http::HeaderMap::new();
        let name = HeaderName::from_bytes(credential.name().as_bytes()).unwrap();
        headers.insert(name, credential.value().parse().unwrap());
        let verdict = setup
            .authenticator
            .verify(&headers, b"{}", jiff::Timestamp::now());
        verdict == Ok(AuthMethod::Token)
    }

    #[tokio::test]
    async fn the_header_is_the_one_the_responder_accepts() {
        let bearer = config("");
        let credential = Credential::new(&bearer.auth, &Secret::new(format!("{TOKEN}\n")));
        assert_eq!(credential.name(), "Authorization");
        assert_eq!(credential.value(), format!("Bearer {TOKEN}"));
        assert!(accepted(&bearer, &credential).await);

        let custom = config("token_header = \"X-Webhook-Token\"");
        let credential = Credential::new(&custom.auth, &Secret::new(TOKEN));
        assert_eq!(credential.name(), "x-webhook-token");
        assert_eq!(credential.value(), TOKEN);
        assert!(accepted(&custom, &credential).await);
    }

    #[test]
    fn the_body_is_a_json_webhook_with_the_template_header_and_triggers() {
        let config = config("");
        let body = target(&config).body();
        assert_eq!(
            body,
            json!({
                "title": "wavefront-responder",
                "description": DESCRIPTION,
                "method": "WEBHOOK",
                "recipient": "https://hooks.example.com/live/webhook",
                "contentType": "application/json",
                "customHttpHeaders": {"Authorization": format!("Bearer {TOKEN}")},
                "template": TEMPLATE,
                "triggers": ["ALERT_OPENED", "ALERT_RESOLVED", "ALERT_RETRIGGERED"],
            })
        );
        assert!(TEMPLATE.contains("\"notificationId\": \"{{{notificationId}}}\""));
    }

    #[test]
    fn the_shown_body_has_the_token_redacted_and_nothing_else_changed() {
        let target = target(&config(""));
        let shown = target.shown();
        assert!(!shown.to_string().contains(TOKEN), "{shown}");
        assert_eq!(
            shown["customHttpHeaders"],
            json!({"Authorization": "Bearer <redacted>"})
        );
        let mut body = target.body();
        body["customHttpHeaders"] = shown["customHttpHeaders"].clone();
        assert_eq!(body, shown);
    }

    #[test]
    fn triggers_are_every_configured_reason_and_resolved_but_never_testing() {
        let config = Config::parse(
            "triggers = [\"ALERT_OPENED\", \"ALERT_TESTING\"]\n\
             [auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n\
             [[rule]]\nname = \"r\"\nalert = \"a\"\n\
             triggers = [\"ALERT_SEVERITY_UPDATE\", \"ALERT_NOTIFICATION_PREVIEW\"]\n\
             [[rule.action]]\ntype = \"lambda-alias\"\nfunction = \"f\"\nalias = \"live\"\n\
             to_version = \"3\"\n",
            Path::new("triggers.toml"),
        )
        .unwrap();
        assert_eq!(
            triggers(&config),
            ["ALERT_OPENED", "ALERT_RESOLVED", "ALERT_SEVERITY_UPDATE"]
        );
    }

    #[test]
    fn a_stored_target_matches_only_when_everything_sent_is_the_same() {
        let target = target(&config(""));
        let mut stored = target.body();
        stored["id"] = json!("nt1");
        stored["createdEpochMillis"] = json!(1_700_000_000_000_u64);
        stored["triggers"] = json!(["ALERT_RETRIGGERED", "ALERT_RESOLVED", "ALERT_OPENED"]);
        stored["customHttpHeaders"] = json!({"authorization": format!("Bearer {TOKEN}")});
        assert!(target.matches(&stored));
        for (field, other) in [
            ("recipient", json!("https://elsewhere.example.com/webhook")),
            ("template", json!("{}")),
            ("contentType", json!("text/plain")),
            ("triggers", json!(["ALERT_OPENED"])),
            (
                "customHttpHeaders",
                json!({"Authorization": "Bearer old-token"}),
            ),
            ("customHttpHeaders", json!(null)),
        ] {
            let mut changed = stored.clone();
            changed[field] = other;
            assert!(!target.matches(&changed), "{field} changed: {changed}");
        }
    }

    #[test]
    fn redaction_covers_every_secret_and_ignores_empty_ones() {
        let text = format!("bad header Bearer {TOKEN} and {TOKEN}");
        assert_eq!(
            redact(&text, &["", TOKEN]),
            "bad header Bearer <redacted> and <redacted>"
        );
    }
}

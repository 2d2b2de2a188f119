//! `register`: makes Wavefront hold the alert target that calls this responder, through its
//! REST API: creates it (`POST /api/v2/notificant`), or updates the target with the same title
//! (`PUT /api/v2/notificant/{id}`), or leaves it alone when it already says the same, so
//! running it again changes nothing. `--dry-run` reads but never writes. What the target says
//! is built in [`target`]; the webhook token it carries is never printed.

mod target;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use http::{Method, Uri};
use serde_json::Value;
use wavefront_responder::config::Config;
use wavefront_responder::secret::{Resolver, Secret};
use wavefront_responder::text::printable;
use wavefront_responder::wavefront::{Permission, Settings, Wavefront, WavefrontError};

use self::target::{Credential, DEFAULT_TITLE, Target, redact, triggers};
use super::{CONFIG_HELP, Fallback, env, load_config};

/// How long each call to Wavefront may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Targets asked for per page when looking for the one with the title.
const PAGE_SIZE: usize = 100;
/// Pages read at most (100,000 targets): a cluster that always says there are more is wrong.
const MAX_PAGES: usize = 1000;

/// `register`'s arguments.
#[derive(Args)]
pub struct RegisterArgs {
    /// The responder's webhook URL, e.g. the stack's WebhookUrl output (https only).
    #[arg(long, value_name = "URL")]
    endpoint: String,
    /// The alert target's title: the one with this title is updated, or one is created.
    #[arg(long, default_value = DEFAULT_TITLE)]
    title: String,
    #[arg(long, help = CONFIG_HELP)]
    config: Option<PathBuf>,
    /// Print the request body that would be sent (token redacted) and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// `register`: the alert target created, updated or found unchanged, and how to attach it.
pub fn register(args: RegisterArgs) -> Result<()> {
    let endpoint = endpoint(&args.endpoint)?;
    if args.title.trim().is_empty() {
        bail!("--title is empty: give the title the alert target is found by");
    }
    let config = load_config(args.config.as_deref(), Fallback::Warn)?;
    let Some(settings) = &config.wavefront else {
        bail!(
            "config {} has no [wavefront] table, so register does not know which cluster to \
             call: add\n\n[wavefront]\nurl = \"https://<name>.wavefront.com\"\n\
             api_token = \"env:WAVEFRONT_API_TOKEN\"\n\nnaming the API token of a service \
             account with the Alerts permission",
            config.path.display()
        );
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = super::secrets_manager_for(&config).await;
        let resolver = Resolver {
            env: &env,
            secrets_manager: client.as_ref(),
            previous_for: wavefront_responder::secret::PREVIOUS_VERSION_FOR,
        };
        let target = Target {
            title: args.title.clone(),
            recipient: endpoint,
            triggers: triggers(&config),
            credential: webhook_credential(&config, resolver).await?,
        };
        let (wavefront, api_token) = api_client(settings, resolver).await?;
        let secrets = [target.credential.token(), api_token.expose()];
        let run = Registration {
            wavefront: &wavefront,
            target: &target,
        };
        let outcome = run
            .apply(args.dry_run)
            .await
            .map_err(|e| anyhow!(redact(&format!("{e:#}"), &secrets)))?;
        print!("{}", redact(&outcome, &secrets));
        Ok(())
    })
}

/// The endpoint, checked: an https URL (the target's header carries the webhook token).
fn endpoint(text: &str) -> Result<String> {
    let trimmed = text.trim();
    let uri: Uri = trimmed
        .parse()
        .map_err(|_| anyhow!("--endpoint `{}` is not a URL", printable(text)))?;
    let has_host = uri
        .authority()
        .is_some_and(|a| !a.host().is_empty() && !a.as_str().contains('@'));
    if uri.scheme_str() != Some("https") || !has_host {
        bail!(
            "--endpoint `{}` is not an https URL: give the responder's webhook URL, e.g. the \
             stack's WebhookUrl output (https://<api id>.execute-api.<region>.amazonaws.com/live/webhook); \
             plain http would send the webhook token in the clear",
            printable(text)
        );
    }
    Ok(trimmed.to_owned())
}

/// The header that carries the config's first usable webhook token, checked as start-up
/// checks every token.
async fn webhook_credential(config: &Config, resolver: Resolver<'_>) -> Result<Credential> {
    let auth = &config.auth;
    if auth.tokens.is_empty() {
        bail!(
            "config {}: [auth] has no tokens, only signing secrets; Wavefront cannot sign its \
             requests, so its alert target must carry a token: add one to [auth] tokens \
             (e.g. tokens = [\"env:WEBHOOK_TOKEN\"])",
            config.path.display()
        );
    }
    // Start-up's own checks: a weak or malformed secret is an error here too.
    let setup = wavefront_responder::auth::Authenticator::from_config(auth, resolver)
        .await
        .with_context(|| format!("config {}", config.path.display()))?;
    for warning in &setup.warnings {
        tracing::warn!("{warning}");
    }
    for reference in &auth.tokens {
        if let Ok(values) = resolver.resolve(reference).await
            && let Some(token) = values.first()
        {
            return Ok(Credential::new(auth, token));
        }
    }
    bail!(
        "config {}: no [auth] token is usable here ({}); register needs one for the alert \
         target's header",
        config.path.display(),
        setup.warnings.join("; ")
    )
}

/// A client of the `[wavefront]` cluster and the API token it calls with.
async fn api_client(settings: &Settings, resolver: Resolver<'_>) -> Result<(Wavefront, Secret)> {
    let needs = "register needs the API token of a service account with the Alerts permission";
    let token = match settings.token(resolver).await {
        Ok(token) => token,
        Err(why) => bail!("{why}: {needs}"),
    };
    let client = Wavefront::new(settings.url.clone(), token.clone());
    Ok((client, token))
}

/// One run of `register` against one cluster.
struct Registration<'a> {
    wavefront: &'a Wavefront,
    target: &'a Target,
}

/// A target already in Wavefront.
struct Stored {
    id: String,
    target: Value,
}

impl Registration<'_> {
    /// Creates, updates or leaves the target, or with `dry_run` only says which; returns what
    /// to print.
    async fn apply(&self, dry_run: bool) -> Result<String> {
        let title = &self.target.title;
        let existing = self.find().await?;
        let action = match &existing {
            None => "create".to_owned(),
            Some(stored) if self.target.matches(&stored.target) => {
                return Ok(format!(
                    "alert target {} \"{title}\" is unchanged: it already says this.\n{}",
                    stored.id,
                    attach(&stored.id)
                ));
            }
            Some(stored) => format!("update alert target {}", stored.id),
        };
        if dry_run {
            let (method, path) = request_line(existing.as_ref());
            let body = serde_json::to_string_pretty(&self.target.shown())?;
            return Ok(format!(
                "dry run: would {action} \"{title}\" with {method} {path} and this body \
                 (token redacted); nothing was changed:\n{body}\n"
            ));
        }
        let id = self.write(existing.as_ref()).await?;
        let done = if existing.is_some() {
            "updated"
        } else {
            "created"
        };
        Ok(format!(
            "{done} alert target {id} \"{title}\" → {}\n{}",
            self.target.recipient,
            attach(&id)
        ))
    }

    /// The target titled like ours, read page by page; more than one is an error.
    async fn find(&self) -> Result<Option<Stored>> {
        let mut found = Vec::new();
        for page in 0..MAX_PAGES {
            let path = format!(
                "/api/v2/notificant?offset={}&limit={PAGE_SIZE}",
                page * PAGE_SIZE
            );
            let answer = self
                .call(Method::GET, &path, None)
                .await
                .context("could not list the alert targets")?;
            let items = answer
                .get("items")
                .and_then(Value::as_array)
                .ok_or_else(|| anyhow!("Wavefront's list of alert targets has no items"))?;
            found.extend(
                items
                    .iter()
                    .filter(|t| t.get("title").and_then(Value::as_str) == Some(&self.target.title))
                    .cloned(),
            );
            let more = answer.get("moreItems").and_then(Value::as_bool) == Some(true);
            if !more || items.is_empty() {
                return self.one_of(found);
            }
        }
        bail!("Wavefront listed more than {MAX_PAGES} pages of alert targets; stopped reading")
    }

    /// The one stored target titled like ours, if any.
    fn one_of(&self, found: Vec<Value>) -> Result<Option<Stored>> {
        if found.len() > 1 {
            let ids: Vec<String> = found.iter().filter_map(id_of).collect();
            bail!(
                "{} alert targets are titled \"{}\" ({}): delete the extra ones in Wavefront, \
                 or pass --title to register another",
                found.len(),
                self.target.title,
                ids.join(", ")
            );
        }
        let Some(target) = found.into_iter().next() else {
            return Ok(None);
        };
        let id = id_of(&target)
            .ok_or_else(|| anyhow!("Wavefront listed an alert target without an id"))?;
        Ok(Some(Stored { id, target }))
    }

    /// Sends the target: a new one, or over `existing`; returns its id.
    async fn write(&self, existing: Option<&Stored>) -> Result<String> {
        let (method, path) = request_line(existing);
        let doing = match existing {
            None => "create the alert target".to_owned(),
            Some(stored) => format!("update alert target {}", stored.id),
        };
        let answer = self
            .call(method, &path, Some(&self.target.body()))
            .await
            .with_context(|| format!("could not {doing}"))?;
        id_of(&answer)
            .or_else(|| existing.map(|stored| stored.id.clone()))
            .ok_or_else(|| anyhow!("Wavefront's answer to {path} has no target id"))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, WavefrontError> {
        self.wavefront
            .call(method, path, body, Permission::Alerts, CALL_TIMEOUT)
            .await
    }
}

/// The method and path that write the target.
fn request_line(existing: Option<&Stored>) -> (Method, String) {
    match existing {
        None => (Method::POST, "/api/v2/notificant".to_owned()),
        Some(stored) => (Method::PUT, format!("/api/v2/notificant/{}", stored.id)),
    }
}

/// A target's id, as Wavefront gives it.
fn id_of(target: &Value) -> Option<String> {
    target
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// How to attach target `id` to an alert.
fn attach(id: &str) -> String {
    format!(
        "target id: {id}\nattach it to an alert: add target:{id} to the alert's recipients \
         (its notification settings)\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_https_urls_only() {
        let url = "https://abc.execute-api.eu-west-1.amazonaws.com/live/webhook";
        assert_eq!(endpoint(&format!(" {url} ")).unwrap(), url);
        for bad in [
            "http://abc.example.com/webhook",
            "abc.example.com/webhook",
            "https://user:pw@abc.example.com/webhook",
            "ftp://abc.example.com",
            "",
        ] {
            let err = endpoint(bad).unwrap_err().to_string();
            assert!(err.contains("--endpoint"), "{bad}: {err}");
        }
    }

    #[test]
    fn ids_are_non_empty_strings() {
        assert_eq!(id_of(&serde_json::json!({"id": "abc"})), Some("abc".into()));
        assert_eq!(id_of(&serde_json::json!({"id": ""})), None);
        assert_eq!(id_of(&serde_json::json!({"id": 5})), None);
    }
}

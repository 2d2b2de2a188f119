//! The AppConfig client an `appconfig-rollback` runs with, and the ids of what its config names:
//! the application, environment and configuration profile may each be written as a name or an
//! id, and AppConfig's deployment calls take ids. Each is resolved once per instance (or `serve`
//! process) with `ListApplications`, `ListEnvironments` and `ListConfigurationProfiles`, all
//! reads, and cached in the client; the cache is dropped when AppConfig says a resolved id no
//! longer exists.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_appconfig::Client;

use crate::actions::appconfig::Rollback;
use crate::execute::calls::{CallFailure, Calls};

/// The AppConfig client, with the ids it resolved. Cheap to clone: clones share the cache.
#[derive(Clone, Debug)]
pub struct AppConfig {
    client: Client,
    ids: Arc<Mutex<HashMap<Key, String>>>,
}

/// What was resolved: the kind (`application`...), the application id it is in (empty for an
/// application) and the name or id as the config wrote it.
type Key = (&'static str, String, String);

/// The ids an action's deployment calls take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ids {
    pub application: String,
    pub environment: String,
    pub profile: Option<String>,
}

/// One listed resource: its id and name.
type Listed = (Option<String>, Option<String>);

impl AppConfig {
    /// The client, with nothing resolved yet.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            ids: Arc::default(),
        }
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Forgets every id resolved: AppConfig said one no longer exists (deleted, or recreated
    /// under the same name with a new id).
    pub fn forget(&self) {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn cached(&self, key: &Key) -> Option<String> {
        let ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        ids.get(key).cloned()
    }

    fn remember(&self, key: Key, id: &str) {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        ids.insert(key, id.to_owned());
    }

    /// The ids of what `rollback` names, from the cache or listed (reads only).
    pub(super) async fn ids(
        &self,
        rollback: &Rollback,
        calls: &mut Calls,
    ) -> Result<Ids, CallFailure> {
        let application = self
            .resolve("application", "", &rollback.application, calls)
            .await?;
        let environment = self
            .resolve("environment", &application, &rollback.environment, calls)
            .await?;
        let profile = match &rollback.configuration_profile {
            Some(profile) => Some(
                self.resolve("configuration_profile", &application, profile, calls)
                    .await?,
            ),
            None => None,
        };
        Ok(Ids {
            application,
            environment,
            profile,
        })
    }

    /// The id of the `kind` named `value` (in the application `parent`).
    async fn resolve(
        &self,
        kind: &'static str,
        parent: &str,
        value: &str,
        calls: &mut Calls,
    ) -> Result<String, CallFailure> {
        let key = (kind, parent.to_owned(), value.to_owned());
        if let Some(id) = self.cached(&key) {
            return Ok(id);
        }
        let (operation, listed) = match kind {
            "application" => ("ListApplications", self.applications(calls).await?),
            "environment" => ("ListEnvironments", self.environments(parent, calls).await?),
            _ => (
                "ListConfigurationProfiles",
                self.profiles(parent, calls).await?,
            ),
        };
        let id = pick(kind, value, &listed).map_err(|why| CallFailure {
            code: None,
            message: format!("{operation}: {why}"),
            may_be_applied: false,
        })?;
        self.remember(key, &id);
        Ok(id)
    }

    async fn applications(&self, calls: &mut Calls) -> Result<Vec<Listed>, CallFailure> {
        let mut listed = Vec::new();
        let mut pages = self.client.list_applications().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| calls.failed("ListApplications", &e))?;
            let items = calls.ok(page).items.unwrap_or_default();
            listed.extend(items.into_iter().map(|a| (a.id, a.name)));
        }
        Ok(listed)
    }

    async fn environments(
        &self,
        application: &str,
        calls: &mut Calls,
    ) -> Result<Vec<Listed>, CallFailure> {
        let mut listed = Vec::new();
        let mut pages = self
            .client
            .list_environments()
            .application_id(application)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| calls.failed("ListEnvironments", &e))?;
            let items = calls.ok(page).items.unwrap_or_default();
            listed.extend(items.into_iter().map(|e| (e.id, e.name)));
        }
        Ok(listed)
    }

    async fn profiles(
        &self,
        application: &str,
        calls: &mut Calls,
    ) -> Result<Vec<Listed>, CallFailure> {
        let mut listed = Vec::new();
        let mut pages = self
            .client
            .list_configuration_profiles()
            .application_id(application)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| calls.failed("ListConfigurationProfiles", &e))?;
            let items = calls.ok(page).items.unwrap_or_default();
            listed.extend(items.into_iter().map(|p| (p.id, p.name)));
        }
        Ok(listed)
    }
}

/// The id of the one `listed` resource whose id, or else whose name, is `value`.
fn pick(kind: &str, value: &str, listed: &[Listed]) -> Result<String, String> {
    let what = kind.replace('_', " ");
    if listed.iter().any(|(id, _)| id.as_deref() == Some(value)) {
        return Ok(value.to_owned());
    }
    let named: Vec<&str> = listed
        .iter()
        .filter(|(_, name)| name.as_deref() == Some(value))
        .filter_map(|(id, _)| id.as_deref())
        .collect();
    match named.as_slice() {
        [id] => Ok((*id).to_owned()),
        [] => Err(format!(
            "no AppConfig {what} is named \"{value}\" or has that id (of {} listed): check \
             {kind} = \"{value}\" in the rule, and the Region the responder runs in",
            listed.len()
        )),
        ids => Err(format!(
            "{} AppConfig {what}s are named \"{value}\" (ids {}): set {kind} to the id of the \
             one to roll back",
            ids.len(),
            ids.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(items: &[(&str, &str)]) -> Vec<Listed> {
        items
            .iter()
            .map(|(id, name)| (Some((*id).to_owned()), Some((*name).to_owned())))
            .collect()
    }

    #[test]
    fn a_name_or_an_id_resolves_to_the_id() {
        let apps = listed(&[("abc1234", "checkout"), ("def5678", "search")]);
        assert_eq!(pick("application", "checkout", &apps).unwrap(), "abc1234");
        assert_eq!(pick("application", "def5678", &apps).unwrap(), "def5678");
        // An id wins over a name that happens to look like it.
        let odd = listed(&[("prod123", "staging"), ("xyz9876", "prod123")]);
        assert_eq!(pick("environment", "prod123", &odd).unwrap(), "prod123");
    }

    #[test]
    fn an_unknown_or_ambiguous_name_is_an_error_naming_the_key() {
        let apps = listed(&[("abc1234", "checkout"), ("def5678", "checkout")]);
        assert_eq!(
            pick("application", "checkout", &apps).unwrap_err(),
            "2 AppConfig applications are named \"checkout\" (ids abc1234, def5678): set \
             application to the id of the one to roll back"
        );
        assert_eq!(
            pick("configuration_profile", "flags", &apps).unwrap_err(),
            "no AppConfig configuration profile is named \"flags\" or has that id (of 2 \
             listed): check configuration_profile = \"flags\" in the rule, and the Region the \
             responder runs in"
        );
    }

    #[test]
    fn resolved_ids_are_cached_and_forgotten_together() {
        let config = aws_sdk_appconfig::Config::builder()
            .behavior_version(aws_sdk_appconfig::config::BehaviorVersion::latest())
            .build();
        let appconfig = AppConfig::new(Client::from_conf(config));
        let key = ("application", String::new(), "checkout".to_owned());
        appconfig.clone().remember(key.clone(), "abc1234");
        assert_eq!(appconfig.cached(&key).as_deref(), Some("abc1234"));
        appconfig.forget();
        assert_eq!(appconfig.cached(&key), None);
    }
}

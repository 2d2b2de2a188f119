//! What an `appconfig-rollback` does with an environment's deployments, as pure code: which one
//! is stopped (and whether that needs `AllowRevert`), whether the last one may be reverted, and
//! why anything is left alone. The calling code reads the deployments and makes the calls.
//!
//! From the AppConfig API reference (`StopDeployment`): the call "works only on deployments that
//! have a status of DEPLOYING, unless an AllowRevert parameter is supplied. If the AllowRevert
//! parameter is supplied, the status of an in-progress deployment will be ROLLED_BACK. The status
//! of a completed deployment will be REVERTED. AppConfig only allows a revert within 72 hours of
//! deployment completion." So a `DEPLOYING` deployment is stopped without `AllowRevert` (should
//! it complete first, the stop is refused instead of reverting what nobody asked to revert),
//! `VALIDATING` and `BAKING` ones with it, and a `COMPLETE` one is reverted with it only when
//! `revert_within` allows.

use jiff::Timestamp;

use crate::duration::HumanDuration;
use crate::execute::attribution;
use crate::ledger::attribution::IncidentStart;

/// A deployment's state, as AppConfig names it (`DeploymentState`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Deploying,
    Validating,
    Baking,
    Complete,
    RollingBack,
    RolledBack,
    Reverted,
    /// A state this responder does not know.
    Other(String),
}

impl State {
    /// The state AppConfig wrote.
    pub fn parse(text: &str) -> Self {
        match text {
            "DEPLOYING" => Self::Deploying,
            "VALIDATING" => Self::Validating,
            "BAKING" => Self::Baking,
            "COMPLETE" => Self::Complete,
            "ROLLING_BACK" => Self::RollingBack,
            "ROLLED_BACK" => Self::RolledBack,
            "REVERTED" => Self::Reverted,
            other => Self::Other(other.to_owned()),
        }
    }

    /// As AppConfig writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Deploying => "DEPLOYING",
            Self::Validating => "VALIDATING",
            Self::Baking => "BAKING",
            Self::Complete => "COMPLETE",
            Self::RollingBack => "ROLLING_BACK",
            Self::RolledBack => "ROLLED_BACK",
            Self::Reverted => "REVERTED",
            Self::Other(other) => other,
        }
    }

    /// An undo under way: `ROLLING_BACK`, or a state AppConfig may add like `REVERTING`.
    pub fn undoing(&self) -> bool {
        match self {
            Self::RollingBack => true,
            Self::Other(other) => self.is_undo() && other.ends_with("ING"),
            _ => false,
        }
    }

    /// Still moving towards its targets: it can be stopped.
    pub fn in_progress(&self) -> bool {
        matches!(self, Self::Deploying | Self::Validating | Self::Baking)
    }

    /// An undo, under way or done: rolling back, rolled back, reverted, or a state AppConfig may
    /// add whose name says so (`REVERTING`). Never stopped nor reverted.
    pub fn is_undo(&self) -> bool {
        match self {
            Self::RollingBack | Self::RolledBack | Self::Reverted => true,
            Self::Other(other) => other.contains("ROLL") || other.contains("REVERT"),
            _ => false,
        }
    }
}

/// One deployment of the environment, as `ListDeployments` (or `GetDeployment`) gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Deployment {
    /// Its sequence number in the environment.
    pub number: i32,
    pub state: State,
    /// The configuration profile it deployed (its id).
    pub profile_id: Option<String>,
    /// That profile's name.
    pub configuration: Option<String>,
    pub version: Option<String>,
    /// A `MANAGED` deployment (the `Type` AppConfig gives): made by AppConfig itself, not a
    /// release someone shipped.
    pub managed: bool,
    pub started: Option<Timestamp>,
    pub completed: Option<Timestamp>,
}

impl Deployment {
    /// `deployment 7 (flags version 12)`.
    pub fn describe(&self) -> String {
        match (&self.configuration, &self.version) {
            (Some(name), Some(version)) => {
                format!("deployment {} ({name} version {version})", self.number)
            }
            (Some(name), None) => format!("deployment {} ({name})", self.number),
            (None, Some(version)) => format!("deployment {} (version {version})", self.number),
            (None, None) => format!("deployment {}", self.number),
        }
    }
}

/// What to do with one deployment.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Stop it in progress; `allow_revert` for `VALIDATING` and `BAKING`, which need it.
    Stop {
        deployment: Deployment,
        allow_revert: bool,
    },
    /// Revert it: it completed inside the window.
    Revert { deployment: Deployment },
    /// Nothing to do, or not allowed to: why. `attribution` when the attribution guard held
    /// it back.
    Leave { why: String, attribution: bool },
}

impl Step {
    fn leave(why: String) -> Self {
        Self::Leave {
            why,
            attribution: false,
        }
    }
}

/// What the decision rests on.
#[derive(Clone, Copy, Debug)]
pub struct Situation<'a> {
    /// The environment's deployments, newest first, as far as they were read.
    pub deployments: &'a [Deployment],
    /// Only deployments of this configuration profile id count.
    pub profile_id: Option<&'a str>,
    pub revert_within: Option<HumanDuration>,
    /// When the incident started, for the attribution guard (`None`: the guard is off).
    pub since: Option<&'a IncidentStart>,
    pub now: Timestamp,
    /// How the record names the environment: `checkout/prod`.
    pub target: &'a str,
}

impl Situation<'_> {
    fn in_scope(&self, deployment: &Deployment) -> bool {
        self.profile_id
            .is_none_or(|id| deployment.profile_id.as_deref() == Some(id))
    }

    /// Why the attribution guard leaves `deployment` alone, if it does.
    fn held(&self, deployment: &Deployment) -> Option<String> {
        let since = self.since?;
        let what = format!("{} started", deployment.describe());
        attribution::hold(&what, deployment.started, since, "it")
    }
}

/// The steps for the environment: one per deployment in progress or rolling back (AppConfig
/// runs one deployment at a time per environment, so usually one); with none, the last
/// deployment reverted if `revert_within` allows, or why nothing is done.
pub fn decide(situation: &Situation<'_>) -> Vec<Step> {
    let scoped: Vec<&Deployment> = situation
        .deployments
        .iter()
        .filter(|d| situation.in_scope(d))
        .collect();
    let moving: Vec<Step> = scoped
        .iter()
        .filter(|d| d.state.in_progress() || d.state.undoing())
        .map(|d| in_progress(situation, d))
        .collect();
    if !moving.is_empty() {
        return moving;
    }
    vec![last(situation, scoped.first().copied())]
}

/// A deployment in progress (or rolling back): stopped, unless it is an undo, AppConfig's own,
/// or maybe the fix.
fn in_progress(situation: &Situation<'_>, deployment: &Deployment) -> Step {
    let name = deployment.describe();
    let state = deployment.state.as_str();
    if deployment.state.is_undo() {
        return Step::leave(format!("{name} is {state}: a rollback is never stopped"));
    }
    if deployment.managed {
        return Step::leave(format!(
            "{name} is a MANAGED deployment, made by AppConfig itself, not a release: it is left \
             alone"
        ));
    }
    if let Some(why) = situation.held(deployment) {
        return Step::Leave {
            why,
            attribution: true,
        };
    }
    Step::Stop {
        deployment: deployment.clone(),
        allow_revert: deployment.state != State::Deploying,
    }
}

/// Nothing in progress: the last deployment, `latest`, is reverted if it completed inside the
/// window; otherwise the step says why nothing is done.
fn last(situation: &Situation<'_>, latest: Option<&Deployment>) -> Step {
    let target = situation.target;
    let Some(latest) = latest else {
        return Step::leave(format!(
            "nothing in progress in {target}, and no deployment to revert"
        ));
    };
    let name = latest.describe();
    let state = latest.state.as_str();
    let Some(window) = situation.revert_within else {
        return Step::leave(format!(
            "nothing in progress in {target} (the last one, {name}, is {state})"
        ));
    };
    if latest.state != State::Complete {
        let why = if latest.state.is_undo() {
            "already undone"
        } else {
            "not a completed deployment"
        };
        return Step::leave(format!(
            "nothing in progress in {target}; the last one, {name}, is {state}, {why}: nothing \
             to revert"
        ));
    }
    revertible(situation, latest, window)
}

/// Whether `deployment`, `COMPLETE`, may be reverted within `window`: it completed that
/// recently, is no MANAGED deployment, and started before the incident.
pub fn revertible(
    situation: &Situation<'_>,
    deployment: &Deployment,
    window: HumanDuration,
) -> Step {
    let target = situation.target;
    let name = deployment.describe();
    if deployment.managed {
        return Step::leave(format!(
            "nothing in progress in {target}; the last one, {name}, is a MANAGED deployment, \
             made by AppConfig itself, not a release: it is not reverted"
        ));
    }
    let Some(completed) = deployment.completed else {
        return Step::leave(format!(
            "nothing in progress in {target}; the last one, {name}, completed at a time AWS did \
             not give, so it cannot be shown to be within revert_within = {window}: it is not \
             reverted"
        ));
    };
    let age = situation.now.duration_since(completed);
    let inside = jiff::SignedDuration::try_from(window.get()).is_ok_and(|w| age <= w);
    if !inside {
        return Step::leave(format!(
            "nothing in progress in {target}; the last one, {name}, completed {} ago, longer \
             than revert_within = {window}: it is not reverted",
            attribution::elapsed(completed, situation.now)
        ));
    }
    if let Some(why) = situation.held(deployment) {
        return Step::Leave {
            why,
            attribution: true,
        };
    }
    Step::Revert {
        deployment: deployment.clone(),
    }
}

#[cfg(test)]
mod tests;

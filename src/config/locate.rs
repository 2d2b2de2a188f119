//! Finding the config file: a named path, else `$RESPONDER_CONFIG`, else `responder.toml` in
//! `$LAMBDA_TASK_ROOT` or the working directory, else the rule file compiled into the binary.

use std::path::{Path, PathBuf};

use super::ConfigError;

/// The file name looked for when no path is given.
pub const DEFAULT_FILE_NAME: &str = "responder.toml";
/// The environment variable that names the config file.
pub const CONFIG_ENV: &str = "RESPONDER_CONFIG";
/// The default rule file when nothing else names one and no file is found.
pub const EMBEDDED_DEFAULT: &str = "rules/responder.toml";

include!(concat!(env!("OUT_DIR"), "/embedded_rules.rs"));

/// The rule file compiled in at `path` (`rules/responder.toml`), if there is one.
pub fn embedded(path: &Path) -> Option<&'static str> {
    let wanted = path.strip_prefix("./").unwrap_or(path);
    EMBEDDED_RULES
        .iter()
        .find(|(name, _)| Path::new(name) == wanted)
        .map(|(_, text)| *text)
}

/// Where [`search`] found the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub path: PathBuf,
    /// Set when no file was named or found and the rule file compiled into the binary is used:
    /// the places looked at, where no file was.
    pub searched_before_fallback: Option<Vec<PathBuf>>,
}

impl Located {
    /// What to tell the operator when the compiled-in rules are used because nothing was
    /// found: a surprise worth a loud line, since those may not be the rules meant.
    pub fn fallback_warning(&self) -> Option<String> {
        let searched = self.searched_before_fallback.as_ref()?;
        Some(format!(
            "no config file found (looked at {}); using the rules compiled into this binary \
             from {EMBEDDED_DEFAULT}; pass --config FILE or set {CONFIG_ENV} to use another",
            searched
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Finds the config file: `explicit`, else `$RESPONDER_CONFIG`, else `responder.toml` in
/// `$LAMBDA_TASK_ROOT`, else in the working directory, else `rules/responder.toml` as
/// compiled into the binary, saying when it fell back to that. A named file that does not
/// exist on disk is looked up among the compiled-in rule files too.
pub fn search(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Located, ConfigError> {
    let named = |path: PathBuf| Located {
        path,
        searched_before_fallback: None,
    };
    if let Some(path) = explicit {
        return Ok(named(path.to_owned()));
    }
    if let Some(path) = env(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Ok(named(PathBuf::from(path)));
    }
    let mut searched = Vec::new();
    if let Some(root) = env("LAMBDA_TASK_ROOT").filter(|p| !p.is_empty()) {
        searched.push(Path::new(&root).join(DEFAULT_FILE_NAME));
    }
    searched.push(PathBuf::from(DEFAULT_FILE_NAME));
    if let Some(found) = searched.iter().find(|p| p.is_file()) {
        return Ok(named(found.clone()));
    }
    if embedded(Path::new(EMBEDDED_DEFAULT)).is_some() {
        return Ok(Located {
            path: PathBuf::from(EMBEDDED_DEFAULT),
            searched_before_fallback: Some(searched),
        });
    }
    searched.push(PathBuf::from(format!("{EMBEDDED_DEFAULT} (compiled in)")));
    Err(ConfigError::NotFound { searched })
}

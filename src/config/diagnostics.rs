//! What is wrong with a config file and how to say it: the error type, each problem with its
//! file, line and column, and the messages that turn `toml`'s errors into fixes. Values under
//! `[auth]` are never repeated, since a secret may have been pasted there by mistake.

use std::fmt;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::CONFIG_ENV;
use crate::secret::SecretRef;

/// Byte offsets in the config text.
pub(super) type Span = std::ops::Range<usize>;
type DeEntry<'i> = Spanned<DeValue<'i>>;

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No file was named and none was found where one is looked for.
    #[error(
        "no config file found (looked for {}); pass --config FILE or set {CONFIG_ENV}",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound { searched: Vec<PathBuf> },
    /// The file could not be read. The I/O error is part of the message and not also a
    /// source: callers print the whole chain, which would repeat it.
    #[error("cannot read config file {}: {cause}; {}", .path.display(), read_hint(.cause))]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid { problems: Vec<Problem> },
}

/// One problem in a config file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// What to do about a config file that cannot be read.
fn read_hint(cause: &std::io::Error) -> String {
    if cause.kind() == std::io::ErrorKind::NotFound {
        format!("name an existing file with --config FILE or {CONFIG_ENV}")
    } else {
        format!("make it readable, or name another file with --config FILE or {CONFIG_ENV}")
    }
}

/// The problems found in one config text, in the order they were found.
pub(super) struct Problems<'a> {
    text: &'a str,
    path: &'a Path,
    found: Vec<Problem>,
}

impl<'a> Problems<'a> {
    /// None yet, in `text` read from `path` (which is only used in messages).
    pub fn new(text: &'a str, path: &'a Path) -> Self {
        Self {
            text,
            path,
            found: Vec::new(),
        }
    }

    /// A problem at `span`, or at the start of the file when there is no span.
    pub fn locate(&self, span: Option<Span>, message: String) -> Problem {
        let (line, column) = line_column(self.text, span.map_or(0, |s| s.start));
        Problem {
            path: self.path.to_owned(),
            line,
            column,
            message,
        }
    }

    /// Records a problem at `span`.
    pub fn add(&mut self, span: Span, message: String) {
        let problem = self.locate(Some(span), message);
        self.found.push(problem);
    }

    /// Every problem recorded, as one error, if there was any.
    pub fn into_result(self) -> Result<(), ConfigError> {
        if self.found.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                problems: self.found,
            })
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Where an error `toml` reports is, and what to say about it. Values under `[auth]` are never
/// repeated: a secret pasted there by mistake must not reach a terminal or a CI log. Errors
/// inside a `[[rule.action]]` table, which `toml` places at the table's header, point at the
/// key they are about when there is one. Common mistakes get their fix.
pub(super) fn describe_toml_error(text: &str, err: &toml::de::Error) -> (Option<Span>, String) {
    let message = err.message().trim_end();
    let Some(span) = err.span() else {
        return (None, explain_toml_error(message));
    };
    // A syntax error: toml's messages say what was expected, never the text it found.
    let Ok(root) = DeTable::parse(text) else {
        return (Some(span), explain_toml_error(message));
    };
    let root = root.get_ref();
    if let Some(auth) = entry(root, "auth")
        && let Some((span, message)) = auth_error(auth, span.clone(), message)
    {
        return (Some(span), message);
    }
    for rule in tables(entry(root, "rule")) {
        if rule.span() == span {
            if let Some(field) = missing_field(message) {
                return (Some(span), missing_rule_field(field));
            }
            break;
        }
        for action in tables(as_table(rule).and_then(|t| entry(t, "action"))) {
            if action.span() == span
                && let Some(table) = as_table(action)
            {
                return action_error(table, span, message);
            }
        }
    }
    (Some(span), explain_toml_error(message))
}

/// `key` in `table`: the key as written, and its value.
fn key_value<'a, 'i>(
    table: &'a DeTable<'i>,
    key: &str,
) -> Option<(&'a Spanned<std::borrow::Cow<'i, str>>, &'a DeEntry<'i>)> {
    table.iter().find(|(k, _)| k.get_ref().as_ref() == key)
}

/// The value of `key` in `table`.
fn entry<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<&'a DeEntry<'i>> {
    key_value(table, key).map(|(_, v)| v)
}

fn as_table<'a, 'i>(value: &'a DeEntry<'i>) -> Option<&'a DeTable<'i>> {
    match value.get_ref() {
        DeValue::Table(table) => Some(table),
        _ => None,
    }
}

/// The tables of an array of tables (`[[rule]]`), none for anything else.
fn tables<'a, 'i>(value: Option<&'a DeEntry<'i>>) -> impl Iterator<Item = &'a DeEntry<'i>> {
    let items: &[DeEntry<'i>] = match value.map(Spanned::get_ref) {
        Some(DeValue::Array(array)) => array,
        _ => &[],
    };
    items
        .iter()
        .filter(|v| matches!(v.get_ref(), DeValue::Table(_)))
}

/// Whether the error at `span` is inside `outer` (an empty span counts at its start).
fn within(outer: Span, span: &Span) -> bool {
    outer.start <= span.start && span.start < outer.end.max(outer.start + 1)
}

/// `x` of "missing field `x`".
fn missing_field(message: &str) -> Option<&str> {
    backticked(message, "missing field `")
}

/// The name in backticks right after `prefix` in a serde message.
fn backticked<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message
        .strip_prefix(prefix)
        .and_then(|rest| rest.split('`').next())
}

/// What is wrong inside `[auth]` and where, said without the value, or `None` when the error
/// is not there.
fn auth_error(auth: &DeEntry<'_>, span: Span, message: &str) -> Option<(Span, String)> {
    let Some(table) = as_table(auth) else {
        return within(auth.span(), &span).then(|| {
            let message = "auth must be a table: write [auth] with tokens = \
                           [\"env:WEBHOOK_TOKEN\"] on the next line (the value is not shown)";
            (span, message.to_owned())
        });
    };
    let (key, value) = table
        .iter()
        .find(|(k, v)| within(k.span(), &span) || within(v.span(), &span))?;
    if message.starts_with("unknown field") {
        // Names the key and the keys expected; no value.
        return Some((span, message.to_owned()));
    }
    let key = key.get_ref().as_ref();
    let message = match key {
        "tokens" | "signing_secrets" => return Some(secret_list_error(key, value, span, message)),
        "token_header" => "auth.token_header must be a header name in quotes, such as \
                           \"X-Webhook-Token\" (the value is not shown)"
            .to_owned(),
        "signature_tolerance" => "auth.signature_tolerance must be a duration in quotes, whole \
                                  seconds from \"1s\" to \"1h\", such as \"5m\" (the value is \
                                  not shown)"
            .to_owned(),
        "insecure_allow_literal_secrets" => {
            "auth.insecure_allow_literal_secrets must be true or false (the value is not shown)"
                .to_owned()
        }
        _ => format!("auth.{key} is not valid here (the value is not shown)"),
    };
    Some((span, message))
}

/// What is wrong with `auth.tokens` or `auth.signing_secrets` (`key`) and where, without the
/// value.
fn secret_list_error(key: &str, value: &DeEntry<'_>, span: Span, message: &str) -> (Span, String) {
    // A refused reference's message never repeats the text it refuses; toml places it at the
    // list, so point at the entry refused with that very message.
    let entries: &[DeEntry<'_>] = match value.get_ref() {
        DeValue::Array(entries) => entries,
        _ => &[],
    };
    let refused = entries.iter().find(|entry| match entry.get_ref() {
        DeValue::String(text) => SecretRef::parse(text).is_err_and(|e| e.to_string() == message),
        _ => false,
    });
    if let Some(entry) = refused {
        return (entry.span(), message.to_owned());
    }
    let example = if key == "tokens" {
        "env:WEBHOOK_TOKEN"
    } else {
        "env:WEBHOOK_SIGNING_SECRET"
    };
    let message = if value.span() == span {
        format!(
            "auth.{key} must be a list of references such as [\"{example}\"] (the value is not \
             shown); keep the secret itself out of the file"
        )
    } else {
        format!(
            "each entry of auth.{key} must be a reference in quotes, such as \"{example}\" (the \
             value is not shown)"
        )
    };
    (span, message)
}

/// An error `toml` placed at a `[[rule.action]]` header: moved to the key it is about.
fn action_error(table: &DeTable<'_>, header: Span, message: &str) -> (Option<Span>, String) {
    let find = |name: &str| key_value(table, name);
    if let Some(name) = backticked(message, "unknown field `")
        && let Some((key, _)) = find(name)
    {
        return (Some(key.span()), message.to_owned());
    }
    if message.starts_with("unknown variant")
        && let Some((_, value)) = find("type")
    {
        return (Some(value.span()), explain_toml_error(message));
    }
    if let Some(field) = missing_field(message) {
        let kind = find("type").and_then(|(_, v)| match v.get_ref() {
            DeValue::String(kind) => Some(kind.as_ref()),
            _ => None,
        });
        return (Some(header), missing_action_field(field, kind));
    }
    // The actions' own checks start with the key they are about: "to_version = ...".
    let first_word = message.split([' ', '=']).next().unwrap_or_default();
    if let Some((_, value)) = find(first_word) {
        return (Some(value.span()), message.to_owned());
    }
    (Some(header), explain_toml_error(message))
}

/// What to add to a `[[rule.action]]` of type `kind` that lacks `field`.
fn missing_action_field(field: &str, kind: Option<&str>) -> String {
    let needs = match kind {
        _ if field == "type" => {
            return "this [[rule.action]] has no type; add type = \"codedeploy-rollback\" or \
                    type = \"lambda-alias\""
                .to_owned();
        }
        Some("codedeploy-rollback") => {
            "a codedeploy-rollback action needs application = \"APPLICATION\" and \
             deployment_group = \"GROUP\" (and may set redeploy_within = \"1h\")"
        }
        Some("appconfig-rollback") => {
            "an appconfig-rollback action needs application = \"APPLICATION\" and \
             environment = \"ENVIRONMENT\" (names or ids; and may set configuration_profile = \
             \"PROFILE\" and revert_within = \"1h\")"
        }
        Some("lambda-alias") => {
            "a lambda-alias action needs function = \"NAME\", alias = \"ALIAS\" and one of \
             to_version = \"41\", to_alias = \"stable\" or drop_canary = true"
        }
        _ => "see the [[rule.action]] keys in the README's configuration reference",
    };
    format!("missing field `{field}`: add {field} = ... to this [[rule.action]]; {needs}")
}

/// What to add to a `[[rule]]` that lacks `field`.
fn missing_rule_field(field: &str) -> String {
    if field == "name" {
        "missing field `name`: every [[rule]] needs a unique name = \"...\" (1 to 64 letters, \
         digits, '-', '_' or '.')"
            .to_owned()
    } else {
        format!("missing field `{field}`: add {field} = ... to this [[rule]]")
    }
}

/// Adds the fix to the TOML errors people hit most.
fn explain_toml_error(message: &str) -> String {
    let message = message.trim_end();
    if message.starts_with("missing field `auth`") {
        return format!(
            "{message}; add an [auth] table with tokens = [\"env:WEBHOOK_TOKEN\"] so callers \
             can authenticate"
        );
    }
    if message.starts_with("unknown variant") {
        return format!("{message} (the action's `type`)");
    }
    message.to_owned()
}

//! `lambda-alias`: what the action is. It names a Lambda alias (typically `live`) and where it
//! goes back to: a fixed published version, wherever another alias (typically `stable`)
//! points, or its own primary version without canary weights. Running it is
//! `execute::lambda_alias`.

use std::fmt;

use super::check_name;
use crate::aws::Home;

/// Where the alias should end up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A published version number.
    Version(String),
    /// Wherever this other alias of the same function points.
    Alias(String),
    /// Keep the primary version; remove `RoutingConfig.AdditionalVersionWeights`.
    DropCanary,
}

impl Destination {
    /// A published version: digits only, never `$LATEST`.
    pub fn version(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("$LATEST") {
            return Err(
                "to_version = \"$LATEST\" is refused: $LATEST is whatever was uploaded \
                        last, not a known good version; name a published version number"
                    .into(),
            );
        }
        let numeric =
            !text.is_empty() && text.len() <= 16 && text.bytes().all(|b| b.is_ascii_digit());
        if !numeric || text.trim_start_matches('0').is_empty() {
            return Err(format!(
                "to_version \"{text}\" is not a published version number like \"41\""
            ));
        }
        // Lambda's versions have no leading zeros: "007" is version 7.
        Ok(Self::Version(text.trim_start_matches('0').to_owned()))
    }

    /// Another alias of the same function.
    pub fn alias(name: &str) -> Result<Self, String> {
        check_alias_name("to_alias", name)?;
        Ok(Self::Alias(name.to_owned()))
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Version(v) => write!(f, "version {v}"),
            Self::Alias(a) => write!(f, "wherever alias {a} points"),
            Self::DropCanary => f.write_str("its primary version, without canary weights"),
        }
    }
}

/// Move one alias.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasShift {
    /// Function name, partial ARN or ARN.
    pub function: String,
    /// The alias to move.
    pub alias: String,
    /// Where to move it.
    pub destination: Destination,
}

impl AliasShift {
    /// Validates names as Lambda does, and refuses to point an alias at itself.
    pub fn new(function: String, alias: String, destination: Destination) -> Result<Self, String> {
        check_name("function", &function, 170)?;
        if is_qualified(&function) {
            return Err(format!(
                "function \"{function}\" names a version or alias; give the function's name or \
                 unqualified ARN, and the alias in `alias`"
            ));
        }
        check_alias_name("alias", &alias)?;
        if destination == Destination::Alias(alias.clone()) {
            return Err(format!(
                "to_alias \"{alias}\" is the alias being moved; name the alias that holds the \
                 known good version, such as \"stable\""
            ));
        }
        Ok(Self {
            function,
            alias,
            destination,
        })
    }

    /// `function:alias`.
    pub fn target(&self) -> String {
        format!("{}:{}", self.function, self.alias)
    }

    /// The alias's ARN: the function's with `:ALIAS`, completed from `home` when the config
    /// gives a name or a partial ARN (`ACCOUNT:function:NAME`).
    pub fn arn(&self, home: &Home<'_>) -> String {
        let function = &self.function;
        let alias = &self.alias;
        if function.starts_with("arn:") {
            format!("{function}:{alias}")
        } else if function.contains(":function:") {
            let Home {
                partition, region, ..
            } = home;
            format!("arn:{partition}:lambda:{region}:{function}:{alias}")
        } else {
            home.arn("lambda", &format!("function:{function}:{alias}"))
        }
    }

    /// What the action would do.
    pub fn plan(&self) -> String {
        match &self.destination {
            Destination::DropCanary => format!("would drop the canary of {}", self.target()),
            destination => format!("would move {} to {destination}", self.target()),
        }
    }
}

/// Whether a function name or ARN carries a `:version` or `:alias` qualifier.
fn is_qualified(function: &str) -> bool {
    let parts = function.split(':').count();
    if function.starts_with("arn:") {
        parts != 7
    } else if function.contains(":function:") {
        parts != 3
    } else {
        parts != 1
    }
}

/// Lambda alias names: 1 to 128 of letters, digits, `-` and `_`, not all digits.
fn check_alias_name(field: &str, name: &str) -> Result<(), String> {
    check_name(field, name, 128)?;
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "{field} \"{name}\" may only hold letters, digits, '-' and '_'"
        ));
    }
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{field} \"{name}\" is a version number, not an alias; use to_version for versions"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alias_arn_is_completed_from_the_home_unless_the_config_gives_it_whole() {
        let home = Home {
            partition: "aws",
            region: "eu-west-1",
            account: "111122223333",
        };
        let to = || Destination::Version("7".into());
        let arn = |function: &str| {
            let shift = AliasShift::new(function.into(), "live".into(), to()).unwrap();
            shift.arn(&home)
        };
        assert_eq!(
            arn("checkout"),
            "arn:aws:lambda:eu-west-1:111122223333:function:checkout:live"
        );
        assert_eq!(
            arn("123456789012:function:checkout"),
            "arn:aws:lambda:eu-west-1:123456789012:function:checkout:live"
        );
        assert_eq!(
            arn("arn:aws:lambda:us-east-1:123456789012:function:checkout"),
            "arn:aws:lambda:us-east-1:123456789012:function:checkout:live"
        );
    }

    #[test]
    fn latest_and_non_numbers_are_not_versions() {
        assert!(
            Destination::version("$LATEST")
                .unwrap_err()
                .contains("refused")
        );
        assert!(Destination::version("v7").is_err());
        assert_eq!(
            Destination::version(" 7 ").unwrap(),
            Destination::Version("7".into())
        );
    }

    #[test]
    fn version_zero_and_qualified_functions_are_refused() {
        assert!(Destination::version("0").is_err());
        assert_eq!(
            Destination::version("007").unwrap(),
            Destination::Version("7".into())
        );
        let to = || Destination::Version("7".into());
        for ok in [
            "checkout",
            "123456789012:function:checkout",
            "arn:aws:lambda:us-east-1:123456789012:function:checkout",
        ] {
            assert!(
                AliasShift::new(ok.into(), "live".into(), to()).is_ok(),
                "{ok}"
            );
        }
        for qualified in [
            "checkout:live",
            "123456789012:function:checkout:7",
            "arn:aws:lambda:us-east-1:123456789012:function:checkout:live",
        ] {
            let err = AliasShift::new(qualified.into(), "live".into(), to()).unwrap_err();
            assert!(
                err.contains("names a version or alias"),
                "{qualified}: {err}"
            );
        }
    }

    #[test]
    fn an_alias_cannot_move_to_itself() {
        let err = AliasShift::new("f".into(), "live".into(), Destination::Alias("live".into()))
            .unwrap_err();
        assert!(err.contains("is the alias being moved"), "{err}");
    }

    #[test]
    fn plans_say_where_the_alias_goes() {
        let shift = |d| {
            AliasShift::new("checkout".into(), "live".into(), d)
                .unwrap()
                .plan()
        };
        assert_eq!(
            shift(Destination::Version("7".into())),
            "would move checkout:live to version 7"
        );
        assert_eq!(
            shift(Destination::Alias("stable".into())),
            "would move checkout:live to wherever alias stable points"
        );
        assert_eq!(
            shift(Destination::DropCanary),
            "would drop the canary of checkout:live"
        );
    }
}

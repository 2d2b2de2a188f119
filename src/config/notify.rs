//! `[notify]`: the SNS topic chat notifications go to, and which outcomes notify.

use toml::Spanned;

use super::diagnostics::Problems;
use super::raw::RawNotify;
use crate::announce::notify::{Outcomes, Settings, Topic};

/// The validated table, or `None` with its problems added.
pub(super) fn settings(raw: Spanned<RawNotify>, problems: &mut Problems<'_>) -> Option<Settings> {
    let raw = raw.into_inner();
    let topic = Topic::parse(raw.sns_topic.get_ref())
        .map_err(|why| problems.add(raw.sns_topic.span(), format!("[notify] sns_topic: {why}")))
        .ok();
    let on = match raw.on {
        None => Some(Outcomes::default()),
        Some(names) => outcomes(names, problems),
    };
    Some(Settings {
        topic: topic?,
        on: on?,
    })
}

/// `on`: the outcomes named, each known, at least one.
fn outcomes(names: Spanned<Vec<Spanned<String>>>, problems: &mut Problems<'_>) -> Option<Outcomes> {
    if names.get_ref().is_empty() {
        problems.add(
            names.span(),
            "[notify] on is empty, so nothing would ever be sent: name outcomes, leave `on` \
             out for executed, failed and refused, or remove [notify]"
                .to_owned(),
        );
        return None;
    }
    let mut valid = true;
    for name in names.get_ref() {
        if let Err(why) = Outcomes::parse([name.get_ref().as_str()]) {
            problems.add(name.span(), format!("[notify] on: {why}"));
            valid = false;
        }
    }
    let parsed = Outcomes::parse(names.get_ref().iter().map(|n| n.get_ref().as_str()));
    parsed.ok().filter(|_| valid)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::announce::chat::Kind;
    use crate::announce::notify::Topic;
    use crate::config::Config;

    const AUTH: &str = "[auth]\ntokens = [\"env:T\"]\n";

    fn parse(notify: &str) -> Result<Config, String> {
        Config::parse(&format!("{AUTH}[notify]\n{notify}\n"), Path::new("t.toml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_topic_is_an_arn_or_an_env_reference_and_on_defaults_to_what_changed_or_was_refused() {
        let config = parse("sns_topic = \"arn:aws:sns:eu-west-1:123456789012:oncall\"").unwrap();
        let notify = config.notify.unwrap();
        assert_eq!(
            notify.topic,
            Topic::Arn("arn:aws:sns:eu-west-1:123456789012:oncall".to_owned())
        );
        assert_eq!(notify.on.names(), ["executed", "failed", "refused"]);
        for quiet in [Kind::DryRun, Kind::Duplicate, Kind::NoMatch] {
            assert!(!notify.on.contains(quiet));
        }
        let config = parse("sns_topic = \"env:NOTIFY_TOPIC_ARN\"\non = [\"failed\", \"dry_run\"]");
        let notify = config.unwrap().notify.unwrap();
        assert_eq!(notify.topic, Topic::Env("NOTIFY_TOPIC_ARN".to_owned()));
        assert_eq!(notify.on.names(), ["failed", "dry_run"]);
    }

    #[test]
    fn a_bad_topic_or_outcome_is_an_error_at_the_key() {
        let err = parse("sns_topic = \"oncall\"").unwrap_err();
        assert!(err.contains("is not an SNS topic ARN"), "{err}");
        let err = parse("sns_topic = \"arn:aws:sqs:eu-west-1:123456789012:q\"").unwrap_err();
        assert!(err.contains("is not an SNS topic ARN"), "{err}");
        let err = parse("sns_topic = \"env:\"").unwrap_err();
        assert!(err.contains("env:NAME"), "{err}");
        let err = parse("sns_topic = \"env:X\"\non = [\"executed\", \"rolled_back\"]").unwrap_err();
        assert!(
            err.contains("\"rolled_back\" is not an outcome to notify on"),
            "{err}"
        );
        let err = parse("sns_topic = \"env:X\"\non = []").unwrap_err();
        assert!(err.contains("[notify] on is empty"), "{err}");
        let fifo = "arn:aws:sns:eu-west-1:123456789012:oncall.fifo";
        let err = parse(&format!("sns_topic = \"{fifo}\"")).unwrap_err();
        assert!(err.contains("FIFO topic"), "{err}");
        let err = parse("topic = \"env:X\"").unwrap_err();
        assert!(err.contains("topic"), "{err}");
    }
}

//! One rule of the record: whether it matched and why, in sentences written straight into the
//! output, and what each of its actions did.

use serde::Serialize;
use serde::ser::{SerializeSeq, SerializeStruct, Serializer};

use crate::execute::{ActionOutcome, ActionResult};
use crate::ledger::Guard;
use crate::plan::RulePlan;
use crate::plan::rules::{CheckSentence, RuleEvaluation};

/// One action of a matched rule.
#[derive(Clone, Debug, Serialize)]
pub struct ActionRecord {
    /// The action's type: `codedeploy-rollback`, `lambda-alias`.
    pub action: &'static str,
    /// What it acts on: `checkout/checkout-prod`, `checkout:live`.
    pub target: String,
    pub outcome: ActionOutcome,
    /// What it did or would do, or why not.
    pub detail: String,
    /// Request ids of the AWS calls made, for AWS support and CloudTrail.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aws_request_ids: Vec<String>,
    /// What in the ledger stopped it, if anything did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<Guard>,
}

/// One rule, matched or not.
#[derive(Clone, Debug)]
pub struct RuleRecord<'a> {
    /// The rule in the plan: its checks, its dry run, its record when it missed on the name.
    pub plan: RulePlan<'a>,
    pub actions: Vec<ActionRecord>,
}

impl<'a> RuleRecord<'a> {
    /// The rule's name.
    pub fn rule(&self) -> &'a str {
        &self.plan.rule().name
    }

    /// Whether every check of the rule held.
    pub fn matched(&self) -> bool {
        self.plan.matched()
    }
}

impl Serialize for RuleRecord<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(rendered) = self.plan.name_miss {
            return rendered.serialize(serializer);
        }
        let mut record = serializer.serialize_struct("RuleRecord", 5)?;
        record.serialize_field("rule", self.rule())?;
        record.serialize_field("matched", &self.matched())?;
        // For a matched rule every check; for the others, the first that failed.
        record.serialize_field("why", &Reasons(&self.plan.evaluation))?;
        if self.matched() {
            record.serialize_field("dry_run", &self.plan.dry_run)?;
        } else {
            record.skip_field("dry_run")?;
        }
        if self.actions.is_empty() {
            record.skip_field("actions")?;
        } else {
            record.serialize_field("actions", &self.actions)?;
        }
        record.end()
    }
}

impl ActionRecord {
    /// The record of a planned action, from what running it did.
    pub fn new(action: &crate::actions::Action, result: ActionResult) -> Self {
        Self {
            action: action.kind(),
            target: action.target(),
            outcome: result.outcome,
            detail: result.detail,
            aws_request_ids: result.aws_request_ids,
            guard: result.guard,
        }
    }
}

/// Why a rule matched or not: the sentences are written straight into the output when the
/// record is serialized, so a record of hundreds of rules builds no strings for them.
#[derive(Clone, Copy, Debug)]
pub struct Reasons<'a>(&'a RuleEvaluation<'a>);

impl Reasons<'_> {
    /// A matched rule's every check; an unmatched rule's first failed check, which is why it
    /// did not match (`explain` lists them all).
    fn each(&self, mut f: impl FnMut(&CheckSentence<'_>)) {
        if self.0.matched() {
            self.0.explained().for_each(|s| f(&s));
        } else if let Some(first) = self.0.explained().next() {
            // Failed checks come first.
            f(&first);
        }
    }
}

thread_local! {
    /// Where a sentence is written before it is escaped into the output in one pass: escaping
    /// each fragment as `Display` writes it costs more than the writing.
    static SENTENCE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl Serialize for Reasons<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        let mut result = Ok(());
        SENTENCE.with_borrow_mut(|sentence| {
            self.each(|s| {
                if result.is_ok() {
                    sentence.clear();
                    // Writing to a String cannot fail.
                    let _ = s.render(sentence);
                    result = seq.serialize_element(sentence.as_str());
                }
            });
        });
        result?;
        seq.end()
    }
}

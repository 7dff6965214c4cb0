//! Which chats are identity-related lockouts that only a phone call can solve.
//!
//! Two triggers send a cardholder to a callback desk instead of a chat queue
//! (SPEC, "Escalation of identity-related lockouts"):
//!
//! - the **topic** picked when the chat starts ([`desk_for_topic`]):
//!   `locked_account` → desk `identity`, `fraud_restriction` → desk `fraud`;
//! - for any other topic, the **first message**, checked by
//!   [`LockoutClassifier::classify`].
//!
//! The classifier is table-driven: every phrase it knows is one line of
//! `classifier_rules.txt` (embedded in the binary with `include_str!`), with a
//! rule id, a desk and a regular expression. Nothing about phrases lives in
//! this file. A message is first normalised (lower case, apostrophes dropped so
//! `can't` is `cant`, every other punctuation mark a space, spaces collapsed);
//! then the table's *neutral* rules blank out look-alikes ("lock my card",
//! "fraud department's number"); then the *escalate* rules are tried top to
//! bottom and the first that matches names the desk. Fraud rules come first,
//! so a lockout that names fraud goes to the fraud line.
//!
//! `docs/escalation.md` explains the table to support operations; the corpus in
//! `server/tests-data/lockout_corpus.txt` measures it (see the tests below).

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::domain::{Desk, Topic};

/// The embedded rule table (see its header for the format).
const BUILTIN_TABLE: &str = include_str!("classifier_rules.txt");

/// What replaces a neutral rule's match: not a word character, so the word-gap
/// patterns of escalate rules cannot reach across it.
const BLANK: &str = "~";

/// A first message that should become a callback: where it goes and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutMatch {
    /// The desk that calls the cardholder back.
    pub desk: Desk,
    /// The id of the table rule that matched (for the callback's reason and
    /// the escalations-by-trigger metric).
    pub rule: &'static str,
}

/// The first-message lockout classifier, compiled from a rule table.
#[derive(Debug)]
pub struct LockoutClassifier {
    /// Look-alikes, blanked out before the escalate rules look, in table order.
    neutral: Vec<(&'static str, Regex)>,
    /// Lockout phrases, tried in table order; the first match wins.
    escalate: Vec<EscalateRule>,
}

/// One `escalate` line of the table.
#[derive(Debug)]
struct EscalateRule {
    /// Rule id, reported in [`LockoutMatch::rule`].
    id: &'static str,
    /// Where a match goes.
    desk: Desk,
    /// The expanded pattern, matched against normalised text.
    pattern: Regex,
}

/// Why a rule table could not be read. Only the embedded table is ever read in
/// production, and a unit test reads it, so this is a build-time concern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("classifier table line {line}: {problem}")]
pub struct RuleTableError {
    /// 1-based line number in the table.
    pub line: usize,
    /// What is wrong with it.
    pub problem: String,
}

/// The classifier built from the embedded table, parsed on first use.
static BUILTIN: LazyLock<LockoutClassifier> = LazyLock::new(|| {
    // The embedded table is a constant of the build, and
    // `tests::builtin_table_is_valid` fails the build's tests if it is broken,
    // so this cannot fail in a tested binary.
    #[allow(clippy::expect_used)]
    LockoutClassifier::from_table(BUILTIN_TABLE).expect("embedded classifier table is valid")
});

impl LockoutClassifier {
    /// The classifier of the embedded `classifier_rules.txt`, compiled once.
    pub fn builtin() -> &'static LockoutClassifier {
        &BUILTIN
    }

    /// Compiles a rule table (format in the header of `classifier_rules.txt`).
    ///
    /// Rule ids borrow from `table`, hence `'static`.
    pub fn from_table(table: &'static str) -> Result<LockoutClassifier, RuleTableError> {
        let mut fragments: HashMap<&str, String> = HashMap::new();
        let mut ids: Vec<&str> = Vec::new();
        let mut neutral = Vec::new();
        let mut escalate = Vec::new();
        for (index, raw) in table.lines().enumerate() {
            let line = index + 1;
            let fail = |problem: String| RuleTableError { line, problem };
            let text = raw.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let (kind, rest) = next_field(text);
            let (name, rest) = next_field(rest);
            if name.is_empty() {
                return Err(fail(format!("`{kind}` needs a name or id")));
            }
            match kind {
                "define" => {
                    if !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                        return Err(fail(format!("piece name `{name}` must be a-z or _")));
                    }
                    let pattern = expand(rest, &fragments).map_err(fail)?;
                    compile(&pattern).map_err(fail)?;
                    fragments.insert(name, pattern);
                }
                "neutral" | "escalate" => {
                    if ids.contains(&name) {
                        return Err(fail(format!("rule id `{name}` is used twice")));
                    }
                    ids.push(name);
                    if kind == "neutral" {
                        let pattern =
                            compile(&expand(rest, &fragments).map_err(fail)?).map_err(fail)?;
                        neutral.push((name, pattern));
                    } else {
                        let (desk, rest) = next_field(rest);
                        let desk: Desk = desk
                            .parse()
                            .map_err(|e: crate::domain::UnknownName| fail(e.to_string()))?;
                        let pattern =
                            compile(&expand(rest, &fragments).map_err(fail)?).map_err(fail)?;
                        escalate.push(EscalateRule {
                            id: name,
                            desk,
                            pattern,
                        });
                    }
                }
                other => return Err(fail(format!("unknown line kind `{other}`"))),
            }
        }
        if escalate.is_empty() {
            return Err(RuleTableError {
                line: 0,
                problem: "no escalate rule".to_owned(),
            });
        }
        Ok(LockoutClassifier { neutral, escalate })
    }

    /// Whether a cardholder's first message is a lockout, and for which desk.
    ///
    /// ```
    /// use switchboard::classifier::LockoutClassifier;
    /// use switchboard::domain::Desk;
    /// let c = LockoutClassifier::builtin();
    /// assert_eq!(c.classify("Hi, I'm locked out of my account!").map(|m| m.desk), Some(Desk::Identity));
    /// assert_eq!(c.classify("how do I lock my card?"), None);
    /// ```
    pub fn classify(&self, text: &str) -> Option<LockoutMatch> {
        let mut normalised = normalise(text);
        for (_, pattern) in &self.neutral {
            if let std::borrow::Cow::Owned(blanked) = pattern.replace_all(&normalised, BLANK) {
                normalised = blanked;
            }
        }
        self.escalate
            .iter()
            .find(|rule| rule.pattern.is_match(&normalised))
            .map(|rule| LockoutMatch {
                desk: rule.desk,
                rule: rule.id,
            })
    }

    /// Every rule id of the table (neutral and escalate), in table order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.neutral
            .iter()
            .map(|(id, _)| *id)
            .chain(self.escalate.iter().map(|rule| rule.id))
    }
}

/// The desk a waiting chat about `topic` may be handed to as a phone call
/// back when the cardholder asks (`call_me_back`, offered when nobody can
/// chat): identity topics to the identity desk, a lost card to the fraud
/// desk; other topics stay in chat.
pub fn desk_for_call_back(topic: Topic) -> Option<Desk> {
    desk_for_topic(topic).or(match topic {
        Topic::ForgotLogin | Topic::TwoFactor | Topic::UpdateContact => Some(Desk::Identity),
        Topic::LostCard => Some(Desk::Fraud),
        _ => None,
    })
}

/// The topics whose waiting chat may become a call back
/// ([`desk_for_call_back`]), in [`Topic::ALL`] order: what a cardholder's
/// `welcome` tells the widget, so that it offers the call back only where
/// the hub takes it.
pub fn call_back_topics() -> Vec<Topic> {
    Topic::ALL
        .iter()
        .copied()
        .filter(|&t| desk_for_call_back(t).is_some())
        .collect()
}

/// The desk a chat topic goes to directly, without entering a chat queue.
///
/// `locked_account` → [`Desk::Identity`], `fraud_restriction` → [`Desk::Fraud`];
/// every other topic is chatted (its first message still goes through
/// [`LockoutClassifier::classify`]).
pub fn desk_for_topic(topic: Topic) -> Option<Desk> {
    match topic {
        Topic::LockedAccount => Some(Desk::Identity),
        Topic::FraudRestriction => Some(Desk::Fraud),
        Topic::General
        | Topic::Billing
        | Topic::Dispute
        | Topic::LostCard
        | Topic::ForgotLogin
        | Topic::TwoFactor
        | Topic::UpdateContact => None,
    }
}

/// Lower case, apostrophes dropped, other non-alphanumerics as one space.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.chars() {
        if matches!(
            c,
            '\'' | '\u{2019}' | '\u{2018}' | '`' | '\u{2bc}' | '\u{b4}'
        ) {
            continue;
        }
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
    }
    out
}

/// Splits off the first whitespace-separated field.
fn next_field(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.split_once(char::is_whitespace) {
        Some((field, rest)) => (field, rest.trim()),
        None => (text, ""),
    }
}

/// Replaces every `@name` with its defined piece.
fn expand(pattern: &str, fragments: &HashMap<&str, String>) -> Result<String, String> {
    if pattern.is_empty() {
        return Err("missing pattern".to_owned());
    }
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut rest = pattern;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let len = after
            .bytes()
            .take_while(|b| b.is_ascii_lowercase() || *b == b'_')
            .count();
        let name = &after[..len];
        let piece = fragments
            .get(name)
            .ok_or_else(|| format!("`@{name}` is not defined above"))?;
        out.push_str("(?:");
        out.push_str(piece);
        out.push(')');
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Compiles one expanded pattern.
fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("bad pattern: {e}"))
}

/// Precision and recall of a detector over a labelled corpus (1.0 when
/// nothing was expected); shared by the classifier's and masking's corpus
/// tests so both report the same way.
#[cfg(test)]
pub(crate) fn precision_recall(hits: usize, false_alarms: usize, misses: usize) -> (f64, f64) {
    let ratio = |num: usize, den: usize| {
        if den == 0 {
            1.0
        } else {
            num as f64 / den as f64
        }
    };
    (ratio(hits, hits + false_alarms), ratio(hits, hits + misses))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sentences with their expected outcome, one a line: `identity | …`,
    /// `fraud | …`, `none | …`, or `lookalike | …` (must never fire).
    const CORPUS: &str = include_str!("../tests-data/lockout_corpus.txt");

    #[test]
    fn builtin_table_is_valid() {
        let table = LockoutClassifier::from_table(BUILTIN_TABLE);
        assert!(table.is_ok(), "{table:?}");
    }

    #[test]
    fn corpus_precision_and_recall() {
        let classifier = LockoutClassifier::builtin();
        let (mut positives, mut negatives) = (0usize, 0usize);
        let (mut hits, mut false_alarms, mut misses) = (0usize, 0usize, 0usize);
        let mut failures = Vec::new();
        let mut lookalike_failures = Vec::new();
        // `CORPUS_VERBOSE=1` lists the rule each sentence hit (handy when editing the table).
        let verbose = std::env::var_os("CORPUS_VERBOSE").is_some();
        for (n, line) in CORPUS.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((label, sentence)) = line.split_once(" | ") else {
                panic!("corpus line {}: expected `label | sentence`", n + 1);
            };
            let got = classifier.classify(sentence);
            if verbose {
                let rule = got.as_ref().map_or("-", |m| m.rule);
                println!("  {label:<9} -> {rule:<24} {sentence}");
            }
            match label.trim() {
                "none" | "lookalike" => {
                    negatives += 1;
                    if let Some(m) = got {
                        false_alarms += 1;
                        failures.push(format!("false alarm {m:?}: {sentence}"));
                        if label.trim() == "lookalike" {
                            lookalike_failures.push(sentence);
                        }
                    }
                }
                desk => {
                    let Ok(desk) = desk.parse::<Desk>() else {
                        panic!("corpus line {}: unknown label `{desk}`", n + 1);
                    };
                    positives += 1;
                    match got {
                        Some(m) if m.desk == desk => hits += 1,
                        Some(m) => {
                            // Wrong desk: a miss for this desk and a false alarm for the other.
                            misses += 1;
                            false_alarms += 1;
                            failures.push(format!("wrong desk {m:?}: {sentence}"));
                        }
                        None => {
                            misses += 1;
                            failures.push(format!("missed ({desk}): {sentence}"));
                        }
                    }
                }
            }
        }
        let (precision, recall) = crate::classifier::precision_recall(hits, false_alarms, misses);
        println!(
            "lockout classifier: precision {precision:.2} recall {recall:.2} on {positives}+{negatives} sentences"
        );
        for failure in &failures {
            println!("  {failure}");
        }
        assert!(
            positives >= 40 && negatives >= 40,
            "corpus too small: {positives}+{negatives}"
        );
        assert!(
            lookalike_failures.is_empty(),
            "look-alikes fired: {lookalike_failures:?}"
        );
        assert!(precision >= 1.0, "precision {precision:.2}: {failures:#?}");
        assert!(recall >= 0.9, "recall {recall:.2}: {failures:#?}");
    }

    #[test]
    fn spec_examples() {
        let c = LockoutClassifier::builtin();
        let desk = |text: &str| c.classify(text).map(|m| m.desk);
        assert_eq!(desk("My account is locked"), Some(Desk::Identity));
        assert_eq!(desk("I’m locked out of my account"), Some(Desk::Identity));
        assert_eq!(desk("you restricted my account"), Some(Desk::Identity));
        assert_eq!(
            desk("got a fraud alert and now I can't use my card"),
            Some(Desk::Fraud)
        );
        assert_eq!(
            desk("got a fraud alert and now I cannot use my card"),
            Some(Desk::Fraud)
        );
        assert_eq!(
            desk("got a fraud alert and now I cant use my card"),
            Some(Desk::Fraud)
        );
        for lookalike in [
            "lock my card",
            "I locked my card in the app",
            "fraud department phone number?",
            "what is the fraud department's number",
        ] {
            assert_eq!(c.classify(lookalike), None, "{lookalike}");
        }
    }

    #[test]
    fn reports_the_rule_id() {
        let m = LockoutClassifier::builtin().classify("my account is locked");
        assert_eq!(
            m,
            Some(LockoutMatch {
                desk: Desk::Identity,
                rule: "account_locked"
            })
        );
    }

    #[test]
    fn look_alike_does_not_hide_a_real_lockout_in_the_same_message() {
        let m = LockoutClassifier::builtin()
            .classify("I locked my card in the app and now my account is locked too");
        assert_eq!(m.map(|m| m.desk), Some(Desk::Identity));
    }

    #[test]
    fn normalises_case_punctuation_and_apostrophes() {
        assert_eq!(
            normalise("  I’M  locked-out!!  Can't\tlog in. "),
            "im locked out cant log in"
        );
        assert_eq!(normalise("¿¡"), "");
    }

    #[test]
    fn topics_map_to_desks() {
        assert_eq!(desk_for_topic(Topic::LockedAccount), Some(Desk::Identity));
        assert_eq!(desk_for_topic(Topic::FraudRestriction), Some(Desk::Fraud));
        for topic in Topic::ALL {
            if !matches!(topic, Topic::LockedAccount | Topic::FraudRestriction) {
                assert_eq!(desk_for_topic(*topic), None, "{topic}");
            }
        }
    }

    #[test]
    fn bad_tables_are_refused_with_a_line_number() {
        let cases: [(&'static str, usize); 5] = [
            ("escalate a identity @nope", 1),
            ("# c\nescalate a nowhere locked", 2),
            ("neutral a (\nescalate b fraud x", 1),
            ("neutral a x\nescalate a fraud y", 2),
            ("frobnicate a x", 1),
        ];
        for (table, line) in cases {
            let err = LockoutClassifier::from_table(table).err();
            assert_eq!(err.map(|e| e.line), Some(line), "{table}");
        }
        assert!(LockoutClassifier::from_table("define x y").is_err());
    }

    #[test]
    fn docs_list_every_rule() {
        let docs = include_str!("../../docs/escalation.md");
        for id in LockoutClassifier::builtin().rule_ids() {
            assert!(
                docs.contains(&format!("`{id}`")),
                "docs/escalation.md does not mention `{id}`"
            );
        }
    }
}

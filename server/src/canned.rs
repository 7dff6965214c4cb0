//! Canned replies: short texts an agent inserts by typing `/` and a
//! shortcut, per team (`--canned-replies FILE`, SPEC "Agent desk").
//!
//! The file is JSON, one list per team:
//!
//! ```json
//! {
//!   "standard": [
//!     {"shortcut": "hello", "title": "Greeting", "text": "Hi, thanks for contacting us."}
//!   ],
//!   "premium": [
//!     {"shortcut": "hello", "title": "Greeting", "text": "Good day, and thank you for banking with us."}
//!   ]
//! }
//! ```
//!
//! It is read once at start-up; a mistake stops start-up with one sentence
//! that names the file and the entry.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use crate::domain::canned::CannedReply;
use crate::domain::Team;
use crate::protocol::MAX_TEXT_CHARS;

/// Longest shortcut, in characters.
pub const MAX_SHORTCUT_CHARS: usize = 32;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 80;

/// Every team's canned replies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CannedReplies(Vec<CannedReply>);

/// One entry as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    shortcut: String,
    title: String,
    text: String,
}

impl CannedReplies {
    /// Reads and checks a canned-replies file.
    pub fn load(path: &Path) -> Result<CannedReplies, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--canned-replies {} cannot be read: {e}", path.display()))?;
        CannedReplies::parse(&text)
            .map_err(|why| format!("--canned-replies {}: {why}", path.display()))
    }

    /// Parses and checks the file's JSON: known teams, well-formed and
    /// unique shortcuts, titles and texts within their limits.
    pub fn parse(json: &str) -> Result<CannedReplies, String> {
        let by_team: BTreeMap<String, Vec<FileEntry>> =
            serde_json::from_str(json).map_err(|e| {
                format!(
                    "not a JSON object of team name to a list of {{shortcut, title, text}}: {e}"
                )
            })?;
        let mut replies = Vec::new();
        for (name, entries) in by_team {
            let team: Team = name.parse().map_err(|e| format!("{e}"))?;
            let mut seen = HashSet::new();
            for (i, e) in entries.into_iter().enumerate() {
                let at = format!("{team} entry {}", i + 1);
                check_shortcut(&e.shortcut).map_err(|why| format!("{at}: {why}"))?;
                if !seen.insert(e.shortcut.clone()) {
                    return Err(format!("{at}: the shortcut `{}` is used twice", e.shortcut));
                }
                check_len("title", &e.title, MAX_TITLE_CHARS)
                    .map_err(|why| format!("{at}: {why}"))?;
                check_len("text", &e.text, MAX_TEXT_CHARS).map_err(|why| format!("{at}: {why}"))?;
                replies.push(CannedReply {
                    team,
                    shortcut: e.shortcut,
                    title: e.title.trim().to_owned(),
                    text: e.text,
                });
            }
        }
        Ok(CannedReplies(replies))
    }

    /// The replies of the given teams, team by team (by name), each team's in file order.
    pub fn for_teams(&self, teams: &[Team]) -> Vec<CannedReply> {
        self.0
            .iter()
            .filter(|r| teams.contains(&r.team))
            .cloned()
            .collect()
    }

    /// How many replies there are in all.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn check_shortcut(s: &str) -> Result<(), String> {
    let well_formed = !s.is_empty()
        && s.chars().count() <= MAX_SHORTCUT_CHARS
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "the shortcut `{s}` must be 1–{MAX_SHORTCUT_CHARS} lower-case letters, digits, `-` or `_`"
        ))
    }
}

fn check_len(what: &str, s: &str, max: usize) -> Result<(), String> {
    let n = s.trim().chars().count();
    if n == 0 {
        Err(format!("the {what} is empty"))
    } else if n > max {
        Err(format!("the {what} has {n} characters, more than {max}"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Desk, Tier};

    const FILE: &str = r#"{
        "standard": [
            {"shortcut": "hello", "title": "Greeting", "text": "Hi, thanks for contacting us."},
            {"shortcut": "bye", "title": "Closing", "text": "Anything else I can help with?"}
        ],
        "premium": [{"shortcut": "hello", "title": "Greeting", "text": "Good day."}],
        "fraud": [{"shortcut": "verify", "title": "Verify", "text": "We will call you back."}]
    }"#;

    #[test]
    fn an_agent_gets_the_replies_of_its_teams_only() {
        let all = CannedReplies::parse(FILE).expect("valid file");
        assert_eq!(all.len(), 4);
        let got = all.for_teams(&[Team::Tier(Tier::Standard), Team::Desk(Desk::Fraud)]);
        let shortcuts: Vec<(Team, &str)> =
            got.iter().map(|r| (r.team, r.shortcut.as_str())).collect();
        assert_eq!(
            shortcuts,
            vec![
                (Team::Desk(Desk::Fraud), "verify"),
                (Team::Tier(Tier::Standard), "hello"),
                (Team::Tier(Tier::Standard), "bye"),
            ]
        );
        assert!(all.for_teams(&[Team::Tier(Tier::Prepaid)]).is_empty());
    }

    #[test]
    fn mistakes_are_named_in_one_sentence() {
        let cases = [
            (r#"{"gold": []}"#, "gold"),
            (
                r#"{"standard": [{"shortcut": "Hi There", "title": "t", "text": "x"}]}"#,
                "standard entry 1: the shortcut `Hi There`",
            ),
            (
                r#"{"standard": [{"shortcut": "a", "title": "t", "text": "x"}, {"shortcut": "a", "title": "t", "text": "y"}]}"#,
                "used twice",
            ),
            (
                r#"{"standard": [{"shortcut": "a", "title": " ", "text": "x"}]}"#,
                "the title is empty",
            ),
            (
                r#"{"standard": [{"shortcut": "a", "title": "t", "text": "x", "extra": 1}]}"#,
                "unknown field",
            ),
            (r#"["hello"]"#, "not a JSON object"),
        ];
        for (json, expected) in cases {
            let err = CannedReplies::parse(json).expect_err(json);
            assert!(
                err.contains(expected),
                "{json}: `{err}` should mention `{expected}`"
            );
            assert!(!err.contains('\n'), "one line: {err}");
        }
        let long = format!(
            r#"{{"standard": [{{"shortcut": "a", "title": "t", "text": "{}"}}]}}"#,
            "x".repeat(MAX_TEXT_CHARS + 1)
        );
        assert!(CannedReplies::parse(&long)
            .expect_err("too long")
            .contains("more than 4000"));
    }

    #[test]
    fn a_missing_file_names_the_flag_and_the_path() {
        let err = CannedReplies::load(Path::new("/nonexistent/canned.json")).expect_err("missing");
        assert!(
            err.starts_with("--canned-replies /nonexistent/canned.json cannot be read"),
            "{err}"
        );
    }
}

//! Opening hours per team (`--hours FILE`, SPEC "Secure messaging").
//!
//! The file is JSON, one entry per team, in the team's own time zone (an
//! IANA name; the time zone database is built into the binary, so daylight
//! saving time follows the rules whatever the host has installed):
//!
//! ```json
//! {
//!   "standard": {
//!     "zone": "Europe/London",
//!     "weekly": {"mon": [["08:00", "20:00"]], "sat": [["09:00", "13:00"], ["14:00", "17:00"]]},
//!     "holidays": ["2026-12-25"]
//!   },
//!   "premium": {"zone": "America/New_York", "weekly": {"fri": [["22:00", "02:00"]]}}
//! }
//! ```
//!
//! A day missing from `weekly` is closed; a range whose end is before its
//! start runs past midnight into the next day (`"24:00"` ends a day); a
//! holiday is closed all day (local), even where the day before runs past
//! midnight. A team not in the file is always open. Times are wall-clock
//! times: an opening that falls in a daylight-saving gap happens at the
//! first instant after it. The file is read once at start-up; a mistake
//! stops start-up with one sentence that names the file and the entry.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;

use crate::domain::{Millis, Team};

/// Minutes in a day.
const DAY: u16 = 24 * 60;

/// How far ahead [`Hours::next_open`] looks (a year of holidays and more).
const HORIZON_DAYS: i32 = 400;

/// The day names of the file, Monday first.
const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

/// Every team's opening hours; teams not listed are always open.
#[derive(Debug, Clone, Default)]
pub struct Hours {
    teams: HashMap<Team, TeamHours>,
}

/// One team's hours.
#[derive(Debug, Clone)]
struct TeamHours {
    zone: TimeZone,
    /// Per weekday (Monday = 0): ranges as minutes of the day, start < end
    /// or, past midnight, end < start.
    weekly: [Vec<(u16, u16)>; 7],
    holidays: BTreeSet<Date>,
}

/// One team as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTeam {
    zone: String,
    #[serde(default)]
    weekly: BTreeMap<String, Vec<[String; 2]>>,
    #[serde(default)]
    holidays: Vec<String>,
}

impl Hours {
    /// Reads and checks an hours file.
    pub fn load(path: &Path) -> Result<Hours, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--hours {} cannot be read: {e}", path.display()))?;
        Hours::parse(&text).map_err(|why| format!("--hours {}: {why}", path.display()))
    }

    /// Parses and checks the file's JSON.
    pub fn parse(json: &str) -> Result<Hours, String> {
        let by_team: BTreeMap<String, FileTeam> = serde_json::from_str(json).map_err(|e| {
            format!("not a JSON object of team name to {{zone, weekly, holidays}}: {e}")
        })?;
        let mut teams = HashMap::new();
        for (name, t) in by_team {
            let team: Team = name.parse().map_err(|e| format!("{e}"))?;
            teams.insert(team, TeamHours::from_file(&name, t)?);
        }
        Ok(Hours { teams })
    }

    /// Whether `team` is open at `now` (ms).
    pub fn is_open(&self, team: Team, now: Millis) -> bool {
        match (self.teams.get(&team), Timestamp::from_millisecond(now)) {
            (Some(t), Ok(now)) => t.is_open(now),
            _ => true,
        }
    }

    /// When `team` next opens after `now` (ms); `None` for a team always
    /// open, or one that never opens within the coming year.
    pub fn next_open(&self, team: Team, now: Millis) -> Option<Millis> {
        let t = self.teams.get(&team)?;
        let now = Timestamp::from_millisecond(now).ok()?;
        t.next_open(now).map(|at| at.as_millisecond())
    }

    /// Whether no team has hours (everyone always open).
    pub fn is_empty(&self) -> bool {
        self.teams.is_empty()
    }
}

impl TeamHours {
    fn from_file(name: &str, t: FileTeam) -> Result<TeamHours, String> {
        let zone = TimeZone::get(&t.zone).map_err(|_| {
            format!(
                "{name}: `{}` is not an IANA time zone like Europe/London",
                t.zone
            )
        })?;
        let mut weekly: [Vec<(u16, u16)>; 7] = Default::default();
        for (day, ranges) in t.weekly {
            let i = DAYS
                .iter()
                .position(|(d, _)| *d == day)
                .ok_or_else(|| format!("{name}: `{day}` is not a day (mon, tue, …, sun)"))?;
            for [from, to] in ranges {
                let (start, end) = (minutes(name, &from)?, minutes(name, &to)?);
                if start == end || start == DAY {
                    return Err(format!(
                        "{name} {day}: `{from}`–`{to}` is not a range of time"
                    ));
                }
                weekly[i].push((start, end));
            }
        }
        let holidays = t
            .holidays
            .iter()
            .map(|d| {
                d.parse::<Date>()
                    .map_err(|_| format!("{name}: holiday `{d}` is not a date like 2026-12-25"))
            })
            .collect::<Result<_, _>>()?;
        Ok(TeamHours {
            zone,
            weekly,
            holidays,
        })
    }

    /// The ranges of `date`'s weekday, none on a holiday.
    fn ranges(&self, date: Date) -> &[(u16, u16)] {
        if self.holidays.contains(&date) {
            return &[];
        }
        &self.weekly[day_index(date.weekday())]
    }

    fn is_open(&self, now: Timestamp) -> bool {
        let local = now.to_zoned(self.zone.clone());
        let date = local.date();
        if self.holidays.contains(&date) {
            return false;
        }
        let minute =
            u16::from(local.hour().unsigned_abs()) * 60 + u16::from(local.minute().unsigned_abs());
        let today = self.ranges(date).iter().any(|&(start, end)| {
            if start < end {
                start <= minute && minute < end
            } else {
                start <= minute
            }
        });
        let from_yesterday = date.yesterday().is_ok_and(|y| {
            self.ranges(y)
                .iter()
                .any(|&(start, end)| end < start && minute < end)
        });
        today || from_yesterday
    }

    fn next_open(&self, now: Timestamp) -> Option<Timestamp> {
        let mut date = now.to_zoned(self.zone.clone()).date();
        for _ in 0..HORIZON_DAYS {
            let mut starts: Vec<u16> = self.ranges(date).iter().map(|r| r.0).collect();
            starts.sort_unstable();
            for start in starts {
                let at = date
                    .at(
                        i8::try_from(start / 60).ok()?,
                        i8::try_from(start % 60).ok()?,
                        0,
                        0,
                    )
                    .to_zoned(self.zone.clone())
                    .ok()?
                    .timestamp();
                if at > now {
                    return Some(at);
                }
            }
            date = date.checked_add(1.day()).ok()?;
        }
        None
    }
}

fn day_index(day: Weekday) -> usize {
    usize::try_from(day.to_monday_zero_offset()).unwrap_or(0)
}

/// `HH:MM` (00:00 to 24:00) as minutes of the day.
fn minutes(team: &str, text: &str) -> Result<u16, String> {
    let bad = || format!("{team}: `{text}` is not a time like 08:30 (00:00 to 24:00)");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 24 || m > 59 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Desk, Tier};

    const STANDARD: Team = Team::Tier(Tier::Standard);

    fn ms(rfc3339: &str) -> Millis {
        rfc3339
            .parse::<Timestamp>()
            .expect("a timestamp")
            .as_millisecond()
    }

    fn hours(json: &str) -> Hours {
        Hours::parse(json).expect("valid hours")
    }

    #[test]
    fn daylight_saving_time_moves_the_opening_in_utc() {
        let h = hours(
            r#"{"standard": {"zone": "Europe/London", "weekly": {
                "sat": [["08:00", "20:00"]], "sun": [["08:00", "20:00"]]}}}"#,
        );
        // Saturday 28 March 2026 is GMT (UTC+0), Sunday 29 March BST (UTC+1).
        assert!(!h.is_open(STANDARD, ms("2026-03-28T07:30:00Z")));
        assert!(h.is_open(STANDARD, ms("2026-03-29T07:30:00Z")));
        assert_eq!(
            h.next_open(STANDARD, ms("2026-03-28T21:00:00Z")),
            Some(ms("2026-03-29T07:00:00Z"))
        );
        // An opening inside the spring-forward gap happens when it ends.
        let gap = hours(
            r#"{"standard": {"zone": "Europe/London", "weekly": {"sun": [["01:30", "03:00"]]}}}"#,
        );
        assert_eq!(
            gap.next_open(STANDARD, ms("2026-03-28T12:00:00Z")),
            Some(ms("2026-03-29T01:30:00Z"))
        );
    }

    #[test]
    fn a_holiday_is_closed_and_skipped() {
        let h = hours(
            r#"{"standard": {"zone": "Europe/London",
                "weekly": {"thu": [["08:00", "20:00"]], "fri": [["08:00", "20:00"]]},
                "holidays": ["2026-12-25"]}}"#,
        );
        assert!(h.is_open(STANDARD, ms("2026-12-24T12:00:00Z")));
        assert!(
            !h.is_open(STANDARD, ms("2026-12-25T12:00:00Z")),
            "Christmas Day"
        );
        assert_eq!(
            h.next_open(STANDARD, ms("2026-12-24T21:00:00Z")),
            Some(ms("2026-12-31T08:00:00Z")),
            "the next Thursday"
        );
    }

    #[test]
    fn an_overnight_range_runs_past_midnight() {
        let h = hours(r#"{"standard": {"zone": "UTC", "weekly": {"fri": [["22:00", "02:00"]]}}}"#);
        // Friday 4 December 2026.
        assert!(!h.is_open(STANDARD, ms("2026-12-04T21:59:00Z")));
        assert!(h.is_open(STANDARD, ms("2026-12-04T23:00:00Z")));
        assert!(
            h.is_open(STANDARD, ms("2026-12-05T01:59:00Z")),
            "Saturday small hours"
        );
        assert!(!h.is_open(STANDARD, ms("2026-12-05T02:00:00Z")));
        assert_eq!(
            h.next_open(STANDARD, ms("2026-12-05T03:00:00Z")),
            Some(ms("2026-12-11T22:00:00Z"))
        );
        let to_midnight =
            hours(r#"{"standard": {"zone": "UTC", "weekly": {"fri": [["20:00", "24:00"]]}}}"#);
        assert!(to_midnight.is_open(STANDARD, ms("2026-12-04T23:59:00Z")));
        assert!(!to_midnight.is_open(STANDARD, ms("2026-12-05T00:00:00Z")));
    }

    #[test]
    fn closed_all_week_never_opens_and_unlisted_teams_are_always_open() {
        let h = hours(r#"{"standard": {"zone": "Europe/Paris", "weekly": {}}}"#);
        let now = ms("2026-12-05T12:00:00Z");
        assert!(!h.is_open(STANDARD, now));
        assert_eq!(h.next_open(STANDARD, now), None);
        let other = Team::Desk(Desk::Fraud);
        assert!(h.is_open(other, now));
        assert_eq!(h.next_open(other, now), None);
        assert!(Hours::default().is_open(STANDARD, now));
    }

    #[test]
    fn mistakes_are_named() {
        for (json, says) in [
            (r#"{"gold": {"zone": "UTC"}}"#, "gold"),
            (r#"{"standard": {"zone": "Mars/Olympus"}}"#, "Mars/Olympus"),
            (
                r#"{"standard": {"zone": "UTC", "weekly": {"mon": [["8:00", "20:00"]]}}}"#,
                "8:00",
            ),
            (
                r#"{"standard": {"zone": "UTC", "weekly": {"mon": [["08:00", "24:30"]]}}}"#,
                "24:30",
            ),
            (
                r#"{"standard": {"zone": "UTC", "weekly": {"mon": [["08:00", "08:00"]]}}}"#,
                "08:00",
            ),
            (
                r#"{"standard": {"zone": "UTC", "weekly": {"monday": []}}}"#,
                "monday",
            ),
            (
                r#"{"standard": {"zone": "UTC", "holidays": ["25/12/2026"]}}"#,
                "25/12/2026",
            ),
            (r#"{"standard": {"zone": "UTC", "open": true}}"#, "open"),
        ] {
            let err = Hours::parse(json).expect_err(json);
            assert!(err.contains(says), "{err}");
        }
    }
}

//! `/metrics` read exactly: the text exposition (Prometheus 0.0.4 or
//! OpenMetrics 1.0, which the hub serves) parsed into series, each named by
//! its metric name and its whole label set. A lookup names both, and a
//! series that is not there fails the test instead of reading as 0.

use std::collections::BTreeMap;
use std::fmt;

use crate::{http_get, TestHub};

/// One sample: a metric name, its labels, its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name as exposed (`switchboard_assignments_total`, a
    /// histogram's `…_count`, …).
    pub name: String,
    /// Its labels, by name.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", series(&self.name, self.labels.iter()))?;
        write!(f, " {}", self.value)
    }
}

/// `name{a="1",b="2"}` (the bare name without labels).
fn series<K: AsRef<str>, V: AsRef<str>>(
    name: &str,
    labels: impl Iterator<Item = (K, V)>,
) -> String {
    let labels: Vec<String> = labels
        .map(|(k, v)| format!("{}={:?}", k.as_ref(), v.as_ref()))
        .collect();
    if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", labels.join(","))
    }
}

/// A whole scrape.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposition {
    samples: Vec<Sample>,
}

impl Exposition {
    /// Parses a text exposition; an error names the line it could not read
    /// (a series given twice is an error too).
    pub fn parse(text: &str) -> Result<Exposition, String> {
        let mut samples: Vec<Sample> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let sample = parse_line(line).map_err(|e| format!("line {}: {e}: {line}", n + 1))?;
            if samples
                .iter()
                .any(|s| s.name == sample.name && s.labels == sample.labels)
            {
                return Err(format!("line {}: a series given twice: {line}", n + 1));
            }
            samples.push(sample);
        }
        Ok(Exposition { samples })
    }

    /// Every sample, in the order served.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The value of the series with exactly this name and exactly these
    /// labels (no more, no fewer); `None` when there is none.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .map(|s| s.value)
    }

    /// Like [`Exposition::get`], but a series that is absent fails the
    /// test, naming it and the series that the metric does have.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or_else(|| {
            panic!(
                "no series {} in /metrics; of `{name}` there are: [{}]",
                series(name, labels.iter().copied()),
                self.of(name)
            )
        })
    }

    /// The sum over every label set of `name`; fails the test when the
    /// metric has no series at all.
    pub fn sum(&self, name: &str) -> f64 {
        let values: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .collect();
        assert!(!values.is_empty(), "no series of `{name}` in /metrics");
        values.iter().sum()
    }

    /// The series of `name`, for a failure message.
    fn of(&self, name: &str) -> String {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .map(Sample::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One sample line: `name[{labels}] value [timestamp] [# exemplar]`.
fn parse_line(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("no metric name".to_owned());
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let rest = rest
        .strip_prefix(' ')
        .ok_or_else(|| "no space before the value".to_owned())?;
    let value = rest.split(' ').next().unwrap_or_default();
    let value = value
        .parse::<f64>()
        .map_err(|_| format!("`{value}` is not a value"))?;
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Reads `a="x",b="y"}` into `labels`; returns what follows the `}`.
fn parse_labels<'a>(
    mut rest: &'a str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, String> {
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let (key, after) = rest
            .split_once("=\"")
            .ok_or_else(|| "a label without `=\"`".to_owned())?;
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`{key}` is not a label name"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    _ => return Err(format!("a bad escape in label `{key}`")),
                },
                Some((_, c)) => value.push(c),
                None => return Err(format!("label `{key}` is not closed")),
            }
        };
        if labels.insert(key.to_owned(), value).is_some() {
            return Err(format!("label `{key}` given twice"));
        }
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Scrapes a hub's `/metrics`; fails the test when it does not answer 200
/// with a readable exposition.
pub async fn scrape(hub: &TestHub) -> Exposition {
    let (status, text) = http_get(&hub.http_url("/metrics")).await;
    assert_eq!(status, 200, "/metrics answered {status}: {text}");
    Exposition::parse(&text).unwrap_or_else(|e| panic!("/metrics is not an exposition: {e}"))
}

/// The value of one series of a hub's `/metrics`, named exactly by its
/// metric name and its labels; fails the test when the series is absent.
pub async fn metric(hub: &TestHub, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape(hub).await.value(name, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP switchboard_connections Open WebSocket connections by role.\n\
        # TYPE switchboard_connections gauge\n\
        switchboard_connections{role=\"cardholder\"} 1\n\
        switchboard_connections{role=\"agent\"} 2\n\
        # TYPE switchboard_ratings counter\n\
        switchboard_ratings_total{score=\"4\",tier=\"business\"} 1\n\
        switchboard_ratings_total{score=\"5\",tier=\"standard\"} 3\n\
        switchboard_archive_backlog 0\n\
        switchboard_archive_backlog_oldest 7.5\n\
        switchboard_wait_bucket{tier=\"a\\\"b\\\\c\",le=\"+Inf\"} 4 1700000000\n\
        switchboard_lag 0.25 # {trace_id=\"x\"} 1.0\n\
        # EOF\n";

    #[test]
    fn a_series_is_found_by_its_exact_name_and_labels() {
        let e = Exposition::parse(TEXT).expect("parses");
        assert_eq!(
            e.get("switchboard_connections", &[("role", "agent")]),
            Some(2.0)
        );
        assert_eq!(e.get("switchboard_archive_backlog", &[]), Some(0.0));
        assert_eq!(e.get("switchboard_archive_backlog_oldest", &[]), Some(7.5));
        assert_eq!(e.get("switchboard_lag", &[]), Some(0.25));
        assert_eq!(
            e.get(
                "switchboard_wait_bucket",
                &[("le", "+Inf"), ("tier", "a\"b\\c")]
            ),
            Some(4.0)
        );
        assert_eq!(e.sum("switchboard_ratings_total"), 4.0);
    }

    #[test]
    fn a_prefix_a_subset_of_the_labels_or_an_absent_series_is_not_found() {
        let e = Exposition::parse(TEXT).expect("parses");
        assert_eq!(e.get("switchboard_connection", &[("role", "agent")]), None);
        assert_eq!(e.get("switchboard_ratings_total", &[("score", "4")]), None);
        assert_eq!(e.get("switchboard_connections", &[]), None);
        assert_eq!(
            e.get("switchboard_connections", &[("role", "supervisor")]),
            None
        );
        let absent = std::panic::catch_unwind(|| e.value("switchboard_nothing", &[]));
        assert!(absent.is_err(), "an absent series fails the test");
        let none = std::panic::catch_unwind(|| e.sum("switchboard_nothing"));
        assert!(none.is_err(), "a sum over no series fails the test");
    }

    #[test]
    fn malformed_lines_and_repeated_series_are_refused() {
        for bad in [
            "switchboard_x",
            "switchboard_x{a=\"1\" 1",
            "switchboard_x{a=1} 1",
            "switchboard_x{a=\"1\",a=\"2\"} 1",
            "switchboard_x one",
            "{a=\"1\"} 1",
            "switchboard_x 1\nswitchboard_x 2",
        ] {
            assert!(Exposition::parse(bad).is_err(), "{bad:?} is refused");
        }
    }
}

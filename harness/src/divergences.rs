//! The divergences file: differences between kernel and shim that are known
//! and accepted.
//!
//! Format, one entry a line:
//!
//! ```text
//! # comment
//! <test> <case> <reason...>
//! t_udp  recv#2  the shim delivers in one go what the kernel splits
//! t_odd  *       every case of this test (use sparingly)
//! t_tcp  "connect refused"  a case name with spaces goes in double quotes
//! ```
//!
//! Fields are separated by white space. `<case>` is a case name (matching
//! all its occurrences), an occurrence key like `send#2` (matching that one
//! only), `<exit>` for the exit status, or `*` for every case of the test.
//! An entry that matches no difference in a run is stale; the caller
//! reports it from the set of entry indexes that were used.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

/// The case field that matches every case of a test.
pub const WILDCARD: &str = "*";

/// One accepted divergence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub test: String,
    pub case: String,
    pub reason: String,
    /// 1-based line number in the file.
    pub line: usize,
}

/// `<test> <case>`, the case quoted when it holds white space.
impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.case.contains(char::is_whitespace) {
            write!(f, "{} \"{}\"", self.test, self.case)
        } else {
            write!(f, "{} {}", self.test, self.case)
        }
    }
}

/// A problem with one line of a divergences file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

/// All entries of a divergences file.
#[derive(Debug, Clone, Default)]
pub struct Divergences {
    entries: Vec<Entry>,
}

impl Divergences {
    /// Parses the text of a divergences file. Returns the entries and
    /// warnings about lines that look wrong (those lines are skipped, or
    /// kept when only the reason is missing).
    pub fn parse(text: &str) -> (Divergences, Vec<Warning>) {
        let mut entries: Vec<Entry> = Vec::new();
        let mut warnings = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let mut warn = |message: String| warnings.push(Warning { line, message });
            let content = raw.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let (test, rest) = next_field(content);
            let (case, reason) = match case_field(rest) {
                Ok(("", _)) => {
                    warn("expected `<test> <case> <reason>`, line skipped".to_string());
                    continue;
                }
                Ok(fields) => fields,
                Err(e) => {
                    warn(format!("{e}, line skipped"));
                    continue;
                }
            };
            let entry = Entry {
                test: test.to_string(),
                case: case.to_string(),
                reason: reason.trim().to_string(),
                line,
            };
            if entry.reason.is_empty() {
                warn(format!("{entry} has no reason"));
            }
            if let Some(prev) = entries.iter().find(|e| e.test == test && e.case == case) {
                warn(format!("{entry} repeats line {}", prev.line));
            }
            entries.push(entry);
        }
        (Divergences { entries }, warnings)
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> std::io::Result<(Divergences, Vec<Warning>)> {
        Ok(Self::parse(&std::fs::read_to_string(path)?))
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The index of the entry that accepts a difference in case `name`
    /// (occurrence key `key`) of `test`. The most specific entry wins: the
    /// key, then the name, then `*`.
    pub fn find(&self, test: &str, name: &str, key: &str) -> Option<usize> {
        let of_test = || {
            self.entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.test == test)
        };
        [key, name, WILDCARD]
            .iter()
            .find_map(|want| of_test().find(|(_, e)| e.case == *want).map(|(i, _)| i))
    }

    /// Entries that matched no difference: those not in `used` whose test
    /// `checked` says was compared in this run.
    pub fn stale(&self, used: &HashSet<usize>, checked: impl Fn(&str) -> bool) -> Vec<&Entry> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(i, e)| !used.contains(i) && checked(&e.test))
            .map(|(_, e)| e)
            .collect()
    }
}

/// Splits off the first white-space separated field of `s`.
fn next_field(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    s.split_once(char::is_whitespace).unwrap_or((s, ""))
}

/// Splits off the case field of `s`, which may be in double quotes.
fn case_field(s: &str) -> Result<(&str, &str), String> {
    let s = s.trim_start();
    let Some(quoted) = s.strip_prefix('"') else {
        return Ok(next_field(s));
    };
    let (case, rest) = quoted
        .split_once('"')
        .ok_or_else(|| "unterminated quote".to_string())?;
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err("white space must follow a quoted case".to_string());
    }
    Ok((case, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# known differences
t_a   bind      the shim picks another port   

t_a   send#2    split differently
t_a   send      whole name
  # indented comment
t_b   *         everything
t_c   <exit>    exits by signal
t_c   "connect refused"   a name with spaces
t_c   "send"x   bad quoting
t_c   "open     unterminated
"#;

    #[test]
    fn parses_entries_and_skips_comments() {
        let (d, warnings) = Divergences::parse(FILE);
        let lines: Vec<usize> = warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, vec![10, 11], "{warnings:?}");
        let got: Vec<(&str, &str, &str, usize)> = d
            .entries()
            .iter()
            .map(|e| (e.test.as_str(), e.case.as_str(), e.reason.as_str(), e.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("t_a", "bind", "the shim picks another port", 2),
                ("t_a", "send#2", "split differently", 4),
                ("t_a", "send", "whole name", 5),
                ("t_b", "*", "everything", 7),
                ("t_c", "<exit>", "exits by signal", 8),
                ("t_c", "connect refused", "a name with spaces", 9),
            ]
        );
    }

    #[test]
    fn warns_about_bad_lines() {
        let (d, warnings) = Divergences::parse("t_lonely\nt_a x\nt_a x again\n");
        assert_eq!(d.entries().len(), 2);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert_eq!(warnings[0].line, 1);
        assert!(warnings[0].message.contains("expected"));
        assert_eq!(warnings[1].message, "t_a x has no reason");
        assert_eq!(warnings[2].message, "t_a x repeats line 2");
    }

    #[test]
    fn most_specific_entry_wins() {
        let (d, _) = Divergences::parse(FILE);
        assert_eq!(d.find("t_a", "bind", "bind"), Some(0));
        assert_eq!(d.find("t_a", "send", "send#2"), Some(1));
        assert_eq!(d.find("t_a", "send", "send"), Some(2));
        assert_eq!(d.find("t_a", "send", "send#3"), Some(2));
        assert_eq!(d.find("t_a", "recv", "recv"), None);
        assert_eq!(d.find("t_b", "anything", "anything#4"), Some(3));
        assert_eq!(d.find("t_c", "<exit>", "<exit>"), Some(4));
        assert_eq!(d.find("t_c", "other", "other"), None);
        assert_eq!(d.find("t_c", "connect refused", "connect refused"), Some(5));
        assert_eq!(d.entries()[5].to_string(), "t_c \"connect refused\"");
        assert_eq!(d.entries()[0].to_string(), "t_a bind");
        assert_eq!(d.find("t_zzz", "bind", "bind"), None);
    }

    #[test]
    fn stale_entries_are_unused_ones_of_checked_tests() {
        let (d, _) = Divergences::parse(FILE);
        let used: HashSet<usize> = [0, 3].into_iter().collect();
        let stale: Vec<usize> = d
            .stale(&used, |t| t == "t_a" || t == "t_b")
            .iter()
            .map(|e| e.line)
            .collect();
        assert_eq!(stale, vec![4, 5]);
        assert!(d.stale(&used, |_| false).is_empty());
    }
}

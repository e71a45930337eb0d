//! Parsing a test program's stdout into case lines.
//!
//! The protocol (tests/c/tcase.h) is one line per case, `<case>: <result>`,
//! split at the first `": "`. Anything else on stdout is noise: it is kept so
//! the report can show it, but it takes no part in the comparison. Empty
//! lines are dropped silently.
//!
//! A case name may repeat within one run (a loop printing the same case).
//! Repeats keep their order and get a key with an occurrence suffix, so the
//! second `send` becomes `send#2`, the third `send#3`, and so on; the first
//! keeps the plain name.

use std::collections::HashMap;

/// One case line of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The name as printed.
    pub name: String,
    /// The name made unique within the run (`name`, `name#2`, ...).
    pub key: String,
    /// Everything after the first `": "`.
    pub result: String,
}

/// A run's stdout, split into cases and noise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The case lines, in output order.
    pub cases: Vec<Case>,
    /// Non-empty lines that are not case lines, in output order.
    pub noise: Vec<String>,
}

/// The separator between a case name and its result.
const SEP: &str = ": ";

/// Splits one line into `(name, result)`, or `None` if it is not a case line.
pub fn split_case_line(line: &str) -> Option<(&str, &str)> {
    let (name, result) = line.split_once(SEP)?;
    if name.trim().is_empty() {
        return None;
    }
    Some((name, result))
}

/// The key of the `n`th (1-based) occurrence of `name`.
pub fn occurrence_key(name: &str, n: usize) -> String {
    if n <= 1 {
        name.to_string()
    } else {
        format!("{name}#{n}")
    }
}

/// Parses a run's whole stdout. Invalid UTF-8 is replaced, and a trailing
/// `\r` on a line is dropped.
pub fn parse_output(stdout: &[u8]) -> Parsed {
    let text = String::from_utf8_lossy(stdout);
    let mut parsed = Parsed::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        match split_case_line(line) {
            Some((name, result)) => {
                let count = seen.entry(name.to_string()).or_insert(0);
                *count += 1;
                parsed.cases.push(Case {
                    name: name.to_string(),
                    key: occurrence_key(name, *count),
                    result: result.to_string(),
                });
            }
            None => parsed.noise.push(line.to_string()),
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &Parsed) -> Vec<(&str, &str)> {
        p.cases
            .iter()
            .map(|c| (c.key.as_str(), c.result.as_str()))
            .collect()
    }

    #[test]
    fn splits_at_first_separator() {
        assert_eq!(split_case_line("a: b: c"), Some(("a", "b: c")));
        assert_eq!(
            split_case_line("connect refused: -1 ECONNREFUSED"),
            Some(("connect refused", "-1 ECONNREFUSED"))
        );
        assert_eq!(split_case_line("empty: "), Some(("empty", "")));
    }

    #[test]
    fn rejects_non_case_lines() {
        assert_eq!(split_case_line("no separator"), None);
        assert_eq!(split_case_line("colon:without space"), None);
        assert_eq!(split_case_line(": no name"), None);
        assert_eq!(split_case_line("   : blank name"), None);
    }

    #[test]
    fn parses_cases_and_noise() {
        let p = parse_output(b"socket: ok\nhello world\n\nbind: -1 EADDRINUSE\r\nread: = 5");
        assert_eq!(
            pairs(&p),
            vec![("socket", "ok"), ("bind", "-1 EADDRINUSE"), ("read", "= 5")]
        );
        assert_eq!(p.noise, vec!["hello world".to_string()]);
    }

    #[test]
    fn numbers_repeated_names() {
        let p = parse_output(b"send: = 1\nrecv: = 1\nsend: = 2\nsend: -1 EPIPE\n");
        assert_eq!(
            pairs(&p),
            vec![
                ("send", "= 1"),
                ("recv", "= 1"),
                ("send#2", "= 2"),
                ("send#3", "-1 EPIPE")
            ]
        );
        assert!(p.cases.iter().filter(|c| c.name == "send").count() == 3);
    }

    #[test]
    fn tolerates_invalid_utf8_and_empty_output() {
        let p = parse_output(b"bytes: \xff\xfe\n");
        assert_eq!(p.cases.len(), 1);
        assert_eq!(p.cases[0].name, "bytes");
        assert_eq!(parse_output(b""), Parsed::default());
        assert_eq!(parse_output(b"\n\n  \n"), Parsed::default());
    }
}

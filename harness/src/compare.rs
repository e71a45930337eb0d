//! Comparing the kernel run of a test with its shim run, case by case.
//!
//! Rows follow the kernel's case order, then the cases only the shim
//! printed in the shim's order, then the `<exit>` pseudo-case holding the
//! exit status of both runs. A row whose two results are equal is `same`;
//! otherwise (including a case missing on one side) it is `known` when the
//! divergences file accepts it and `DIFF` when not.

use crate::divergences::Divergences;
use crate::parse::{Case, Parsed};
use crate::run::Status;
use std::collections::HashMap;
use std::fmt;

/// The name of the pseudo-case that compares exit statuses.
pub const EXIT_CASE: &str = "<exit>";

/// The verdict on one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Same,
    /// Different, and accepted by the divergences entry with this index.
    Known(usize),
    Diff,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Same => "same",
            Verdict::Known(_) => "known",
            Verdict::Diff => "DIFF",
        })
    }
}

/// One compared case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The case name as printed.
    pub name: String,
    /// The occurrence key (`name`, `name#2`, ...), shown in the report.
    pub key: String,
    /// The result on the kernel, `None` if the kernel run lacks the case.
    pub kernel: Option<String>,
    /// The result under the shim, `None` if the shim run lacks the case.
    pub shim: Option<String>,
    pub verdict: Verdict,
}

/// How many rows got which verdict. `cases` counts every row, the `<exit>`
/// pseudo-case included, so `cases == same + known + diff`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub cases: usize,
    pub same: usize,
    pub known: usize,
    pub diff: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.cases += o.cases;
        self.same += o.same;
        self.known += o.known;
        self.diff += o.diff;
    }
}

/// The comparison of one test.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    pub rows: Vec<Row>,
}

impl Comparison {
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            cases: self.rows.len(),
            ..Counts::default()
        };
        for row in &self.rows {
            match row.verdict {
                Verdict::Same => c.same += 1,
                Verdict::Known(_) => c.known += 1,
                Verdict::Diff => c.diff += 1,
            }
        }
        c
    }

    /// Indexes of the divergences entries that accepted a row.
    pub fn used_entries(&self) -> impl Iterator<Item = usize> + '_ {
        self.rows.iter().filter_map(|r| match r.verdict {
            Verdict::Known(i) => Some(i),
            _ => None,
        })
    }
}

/// One side of a comparison: the parsed stdout and how the run ended.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub parsed: &'a Parsed,
    pub status: Status,
}

/// Compares the kernel and shim runs of `test`.
pub fn compare(test: &str, kernel: Side<'_>, shim: Side<'_>, known: &Divergences) -> Comparison {
    let shim_by_key: HashMap<&str, &Case> = shim
        .parsed
        .cases
        .iter()
        .map(|c| (c.key.as_str(), c))
        .collect();
    let kernel_keys: HashMap<&str, ()> = kernel
        .parsed
        .cases
        .iter()
        .map(|c| (c.key.as_str(), ()))
        .collect();

    let mut pairs: Vec<(&str, &str, Option<&str>, Option<&str>)> = Vec::new();
    for k in &kernel.parsed.cases {
        let s = shim_by_key.get(k.key.as_str()).map(|c| c.result.as_str());
        pairs.push((&k.name, &k.key, Some(&k.result), s));
    }
    for s in &shim.parsed.cases {
        if !kernel_keys.contains_key(s.key.as_str()) {
            pairs.push((&s.name, &s.key, None, Some(&s.result)));
        }
    }
    let (ks, ss) = (kernel.status.to_string(), shim.status.to_string());
    pairs.push((EXIT_CASE, EXIT_CASE, Some(&ks), Some(&ss)));

    let rows = pairs
        .into_iter()
        .map(|(name, key, k, s)| {
            let verdict = if k.is_some() && k == s {
                Verdict::Same
            } else {
                known
                    .find(test, name, key)
                    .map_or(Verdict::Diff, Verdict::Known)
            };
            Row {
                name: name.to_string(),
                key: key.to_string(),
                kernel: k.map(str::to_string),
                shim: s.map(str::to_string),
                verdict,
            }
        })
        .collect();
    Comparison { rows }
}

/// Why the kernel run shows the test itself is broken, if it does: it must
/// exit 0 and print at least one case.
pub fn native_failure(kernel: Side<'_>) -> Option<String> {
    if !kernel.status.success() {
        Some(format!("native {}", kernel.status))
    } else if kernel.parsed.cases.is_empty() {
        Some("native run printed no cases".to_string())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_output;

    fn side(p: &Parsed, status: Status) -> Side<'_> {
        Side { parsed: p, status }
    }

    fn table(c: &Comparison) -> Vec<(String, Option<String>, Option<String>, String)> {
        c.rows
            .iter()
            .map(|r| {
                (
                    r.key.clone(),
                    r.kernel.clone(),
                    r.shim.clone(),
                    r.verdict.to_string(),
                )
            })
            .collect()
    }

    fn row(
        key: &str,
        k: Option<&str>,
        s: Option<&str>,
        v: &str,
    ) -> (String, Option<String>, Option<String>, String) {
        (key.into(), k.map(Into::into), s.map(Into::into), v.into())
    }

    const OK: Status = Status::Exited(0);

    #[test]
    fn identical_runs_are_all_same() {
        let p = parse_output(b"socket: ok\nbind: ok\nsend: = 5\nsend: = 3\n");
        let c = compare("t_x", side(&p, OK), side(&p, OK), &Divergences::default());
        assert_eq!(
            c.counts(),
            Counts {
                cases: 5,
                same: 5,
                known: 0,
                diff: 0
            }
        );
        assert_eq!(c.rows.last().unwrap().key, EXIT_CASE);
        assert_eq!(c.rows.last().unwrap().kernel.as_deref(), Some("exit 0"));
    }

    #[test]
    fn differences_missing_cases_and_exit_status() {
        let k = parse_output(b"a: ok\nb: ok\nc: = 1\n");
        let s = parse_output(b"a: ok\nc: = 2\nd: yes\n");
        let c = compare(
            "t_x",
            side(&k, OK),
            side(&s, Status::Signaled(11)),
            &Divergences::default(),
        );
        assert_eq!(
            table(&c),
            vec![
                row("a", Some("ok"), Some("ok"), "same"),
                row("b", Some("ok"), None, "DIFF"),
                row("c", Some("= 1"), Some("= 2"), "DIFF"),
                row("d", None, Some("yes"), "DIFF"),
                row("<exit>", Some("exit 0"), Some("signal 11"), "DIFF"),
            ]
        );
        assert_eq!(
            c.counts(),
            Counts {
                cases: 5,
                same: 1,
                known: 0,
                diff: 4
            }
        );
    }

    #[test]
    fn repeated_names_compare_by_occurrence() {
        let k = parse_output(b"recv: = 4\nrecv: = 4\nrecv: = 0\n");
        let s = parse_output(b"recv: = 4\nrecv: = 0\n");
        let c = compare("t_x", side(&k, OK), side(&s, OK), &Divergences::default());
        assert_eq!(
            table(&c)[..3],
            [
                row("recv", Some("= 4"), Some("= 4"), "same"),
                row("recv#2", Some("= 4"), Some("= 0"), "DIFF"),
                row("recv#3", Some("= 0"), None, "DIFF"),
            ]
        );
    }

    #[test]
    fn divergences_turn_diffs_into_known() {
        let (d, _) = Divergences::parse(
            "t_x b reason\nt_x recv#2 reason\nt_x a never differs\nt_y * all\nt_y <exit> specific\n",
        );
        let k = parse_output(b"a: ok\nb: ok\nrecv: = 1\nrecv: = 1\n");
        let s = parse_output(b"a: ok\nb: no\nrecv: = 2\nrecv: = 2\n");
        let c = compare("t_x", side(&k, OK), side(&s, OK), &d);
        let verdicts: Vec<Verdict> = c.rows.iter().map(|r| r.verdict).collect();
        assert_eq!(
            verdicts,
            vec![
                Verdict::Same,
                Verdict::Known(0),
                Verdict::Diff,
                Verdict::Known(1),
                Verdict::Same
            ]
        );
        assert_eq!(c.used_entries().collect::<Vec<_>>(), vec![0, 1]);

        let c = compare("t_y", side(&k, OK), side(&s, Status::TimedOut), &d);
        let verdicts: Vec<Verdict> = c.rows.iter().map(|r| r.verdict).collect();
        assert_eq!(
            verdicts,
            vec![
                Verdict::Same,
                Verdict::Known(3),
                Verdict::Known(3),
                Verdict::Known(3),
                Verdict::Known(4)
            ]
        );
        assert_eq!(
            c.counts(),
            Counts {
                cases: 5,
                same: 1,
                known: 4,
                diff: 0
            }
        );
    }

    #[test]
    fn native_failures() {
        let some = parse_output(b"a: ok\n");
        let none = parse_output(b"noise only\n");
        assert_eq!(native_failure(side(&some, OK)), None);
        assert_eq!(
            native_failure(side(&some, Status::Exited(2))).as_deref(),
            Some("native exit 2")
        );
        assert_eq!(
            native_failure(side(&some, Status::TimedOut)).as_deref(),
            Some("native timeout")
        );
        assert_eq!(
            native_failure(side(&none, OK)).as_deref(),
            Some("native run printed no cases")
        );
    }
}

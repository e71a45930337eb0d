//! Text output: aligned tables, the per-test block and the summary.
//!
//! Everything here returns strings, so the layout can be unit tested; the
//! binary decides what to print and where. The last line of a whole run is
//! always [`final_line`], `N passed, M failed`, which CI parses.

use crate::compare::{Counts, Row, Verdict};
use crate::parse::Parsed;
use crate::suite::{RunResult, TestResult};

/// A table whose columns are padded to their widest cell.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The header, a rule of dashes, then the rows; columns separated by two
    /// spaces, no trailing white space. Ends with a newline.
    pub fn render(&self) -> String {
        let ncols = self
            .header
            .len()
            .max(self.rows.iter().map(Vec::len).max().unwrap_or(0));
        let mut widths = vec![0; ncols];
        for line in std::iter::once(&self.header).chain(&self.rows) {
            for (w, cell) in widths.iter_mut().zip(line) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        let mut out = String::new();
        for line in std::iter::once(&self.header)
            .chain(std::iter::once(&rule))
            .chain(&self.rows)
        {
            let mut text = String::new();
            for (i, w) in widths.iter().enumerate() {
                let cell = line.get(i).map_or("", String::as_str);
                if i > 0 {
                    text.push_str("  ");
                }
                text.push_str(&format!("{cell:<w$}"));
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Shown for a case one run did not print.
pub const MISSING: &str = "(missing)";

/// Shown for a case whose result is empty.
pub const EMPTY: &str = "\"\"";

/// How a result appears in a table.
fn cell(result: Option<&str>) -> String {
    match result {
        None => MISSING.to_string(),
        Some("") => EMPTY.to_string(),
        Some(r) => r.to_string(),
    }
}

/// Above this many rows, only the rows that are not `same` are listed
/// (unless verbose).
pub const MANY_ROWS: usize = 20;

/// The conformance table of one test: case | kernel | shim | verdict. With
/// `all` false and more than [`MANY_ROWS`] rows, the `same` rows are left
/// out; returns the table (empty string when nothing is listed) and the
/// number of rows left out.
pub fn case_table(rows: &[Row], all: bool) -> (String, usize) {
    let only_different = !all && rows.len() > MANY_ROWS;
    let mut table = Table::new(&["case", "kernel", "shim", "verdict"]);
    let mut hidden = 0;
    for row in rows {
        if only_different && row.verdict == Verdict::Same {
            hidden += 1;
            continue;
        }
        table.push(vec![
            row.key.clone(),
            cell(row.kernel.as_deref()),
            cell(row.shim.as_deref()),
            row.verdict.to_string(),
        ]);
    }
    let text = if table.is_empty() {
        String::new()
    } else {
        table.render()
    };
    (text, hidden)
}

/// The cases of a native-only run: case | kernel.
pub fn native_table(parsed: &Parsed) -> String {
    let mut table = Table::new(&["case", "kernel"]);
    for case in &parsed.cases {
        table.push(vec![case.key.clone(), case.result.clone()]);
    }
    table.render()
}

/// `t_name: 42 cases, 40 same, 1 known, 1 diff`.
pub fn count_line(test: &str, c: &Counts) -> String {
    format!(
        "{test}: {} cases, {} same, {} known, {} diff",
        c.cases, c.same, c.known, c.diff
    )
}

/// The outcome of one test, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub test: String,
    /// The number of cases the kernel run printed (native-only mode).
    pub native_cases: usize,
    /// The comparison counts; `None` in native-only mode.
    pub counts: Option<Counts>,
    /// Why the test failed; `None` if it passed.
    pub failure: Option<String>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    /// `pass` or `FAIL (why)`.
    pub fn verdict(&self) -> String {
        match &self.failure {
            None => "pass".to_string(),
            Some(why) => format!("FAIL ({why})"),
        }
    }
}

/// The summary table: test | cases | same | known | diff | verdict, with a
/// total row when there is more than one test.
pub fn summary_table(outcomes: &[Outcome]) -> String {
    let mut table = Table::new(&["test", "cases", "same", "known", "diff", "verdict"]);
    let dash = || "-".to_string();
    let mut total = Counts::default();
    let mut native_total = 0;
    for o in outcomes {
        native_total += o.native_cases;
        let mut row = vec![o.test.clone()];
        match o.counts {
            Some(c) => {
                total += c;
                row.extend([c.cases, c.same, c.known, c.diff].map(|n| n.to_string()));
            }
            None => row.extend([o.native_cases.to_string(), dash(), dash(), dash()]),
        }
        row.push(o.verdict());
        table.push(row);
    }
    if outcomes.len() > 1 {
        let failed = outcomes.iter().filter(|o| !o.passed()).count();
        let mut row = vec!["total".to_string()];
        if outcomes.iter().all(|o| o.counts.is_none()) {
            row.extend([native_total.to_string(), dash(), dash(), dash()]);
        } else {
            row.extend([total.cases, total.same, total.known, total.diff].map(|n| n.to_string()));
        }
        row.push(format!("{failed} failed"));
        table.push(row);
    }
    table.render()
}

/// The line CI parses: `N passed, M failed`.
pub fn final_line(outcomes: &[Outcome]) -> String {
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    format!("{passed} passed, {} failed", outcomes.len() - passed)
}

/// Indents captured output for display, keeping at most the last
/// `max_lines` lines (all of them with `None`).
pub fn indented(bytes: &[u8], max_lines: Option<usize>) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    let skip = max_lines.map_or(0, |m| lines.len().saturating_sub(m));
    let mut out = String::new();
    if skip > 0 {
        out.push_str(&format!(
            "    ... {skip} earlier lines left out (--verbose shows them)\n"
        ));
    }
    for line in &lines[skip..] {
        out.push_str("    ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Without --verbose, at most this many lines of a run's stderr are shown.
pub const STDERR_TAIL: usize = 40;
/// Without --verbose, at most this many noise lines of a run are shown.
pub const NOISE_LINES: usize = 10;

fn noise_lines(side: &str, parsed: &Parsed, verbose: bool) -> String {
    let limit = if verbose { usize::MAX } else { NOISE_LINES };
    let mut out = String::new();
    for line in parsed.noise.iter().take(limit) {
        out.push_str(&format!("noise ({side}): {line}\n"));
    }
    if parsed.noise.len() > limit {
        out.push_str(&format!(
            "noise ({side}): ... {} more lines\n",
            parsed.noise.len() - limit
        ));
    }
    out
}

fn stderr_section(side: &str, run: &RunResult, verbose: bool) -> String {
    if run.output.stderr.is_empty() {
        return String::new();
    }
    let tail = if verbose { None } else { Some(STDERR_TAIL) };
    format!("-- {side} stderr:\n{}", indented(&run.output.stderr, tail))
}

/// Everything printed about one test after its `== name` header: the table,
/// noise, run details (verbose), stderr (on failure or verbose), the count
/// line, and a `name: FAIL (why)` line if it failed.
pub fn test_block(r: &TestResult, verbose: bool) -> String {
    let name = &r.program.name;
    let mut out = String::new();
    let native = match &r.native {
        Ok(native) => native,
        Err(e) => return format!("error: {e}\n{name}: {}\n", r.outcome().verdict()),
    };
    let shim = r.shim.as_ref().map(|(ns, run)| (ns, run.as_ref()));

    match (&r.comparison, shim) {
        (Some(cmp), _) => {
            let (table, hidden) = case_table(&cmp.rows, verbose);
            out.push_str(&table);
            if hidden > 0 {
                out.push_str(&format!(
                    "({hidden} same rows not listed; --verbose lists them)\n"
                ));
            }
        }
        (None, Some((_, Err(e)))) => out.push_str(&format!("error: shim run: {e}\n")),
        (None, _) if verbose => out.push_str(&native_table(&native.parsed)),
        (None, _) => {}
    }

    out.push_str(&noise_lines("kernel", &native.parsed, verbose));
    if let Some((_, Ok(s))) = shim {
        out.push_str(&noise_lines("shim", &s.parsed, verbose));
    }
    if verbose {
        let o = &native.output;
        out.push_str(&format!(
            "kernel run: {} after {:.2}s\n",
            o.status,
            o.elapsed.as_secs_f64()
        ));
        if let Some((ns, Ok(s))) = shim {
            let o = &s.output;
            out.push_str(&format!(
                "shim run (NETSHIM_NS={ns}): {} after {:.2}s\n",
                o.status,
                o.elapsed.as_secs_f64()
            ));
        }
    }
    if verbose || r.failure.is_some() {
        out.push_str(&stderr_section("kernel", native, verbose));
        if let Some((_, Ok(s))) = shim {
            out.push_str(&stderr_section("shim", s, verbose));
        }
    }

    match &r.comparison {
        Some(cmp) => out.push_str(&count_line(name, &cmp.counts())),
        None => out.push_str(&format!(
            "{name}: {} cases on the kernel, {}",
            native.parsed.cases.len(),
            native.output.status
        )),
    }
    out.push('\n');
    if r.failure.is_some() {
        out.push_str(&format!("{name}: {}\n", r.outcome().verdict()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::Counts;

    fn row(key: &str, k: &str, s: Option<&str>, verdict: Verdict) -> Row {
        Row {
            name: key.into(),
            key: key.into(),
            kernel: Some(k.into()),
            shim: s.map(Into::into),
            verdict,
        }
    }

    #[test]
    fn table_aligns_columns_without_trailing_space() {
        let mut t = Table::new(&["case", "kernel", "verdict"]);
        t.push(vec!["socket".into(), "ok".into(), "same".into()]);
        t.push(vec!["a".into(), "-1 ECONNREFUSED".into(), "".into()]);
        assert_eq!(
            t.render(),
            "\
case    kernel           verdict
------  ---------------  -------
socket  ok               same
a       -1 ECONNREFUSED
"
        );
    }

    #[test]
    fn case_table_shows_missing_and_hides_same_rows_when_many() {
        let rows = vec![
            row("e", "", Some(""), Verdict::Same),
            row("a", "ok", Some("ok"), Verdict::Same),
            row("b", "ok", None, Verdict::Diff),
        ];
        let (text, hidden) = case_table(&rows, false);
        assert_eq!(hidden, 0);
        assert!(text.contains("e     \"\"      \"\"         same"), "{text}");
        assert!(text.contains("b     ok      (missing)  DIFF"), "{text}");

        let mut many: Vec<Row> = (0..MANY_ROWS)
            .map(|i| row(&format!("c{i}"), "ok", Some("ok"), Verdict::Same))
            .collect();
        many.push(row("odd", "= 1", Some("= 2"), Verdict::Known(0)));
        let (text, hidden) = case_table(&many, false);
        assert_eq!(hidden, MANY_ROWS);
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.lines().last().unwrap().ends_with("known"));
        let (text, hidden) = case_table(&many, true);
        assert_eq!((text.lines().count(), hidden), (MANY_ROWS + 3, 0));

        let all_same: Vec<Row> = many[..MANY_ROWS]
            .iter()
            .cloned()
            .chain([row("x", "y", Some("y"), Verdict::Same)])
            .collect();
        assert_eq!(case_table(&all_same, false), (String::new(), MANY_ROWS + 1));
    }

    #[test]
    fn count_line_format() {
        let c = Counts {
            cases: 42,
            same: 40,
            known: 1,
            diff: 1,
        };
        assert_eq!(
            count_line("t_tcp", &c),
            "t_tcp: 42 cases, 40 same, 1 known, 1 diff"
        );
    }

    #[test]
    fn summary_and_final_line() {
        let outcomes = vec![
            Outcome {
                test: "t_a".into(),
                native_cases: 3,
                counts: Some(Counts {
                    cases: 4,
                    same: 4,
                    known: 0,
                    diff: 0,
                }),
                failure: None,
            },
            Outcome {
                test: "t_bb".into(),
                native_cases: 2,
                counts: Some(Counts {
                    cases: 3,
                    same: 1,
                    known: 1,
                    diff: 1,
                }),
                failure: Some("1 diff".into()),
            },
        ];
        assert_eq!(
            summary_table(&outcomes),
            "\
test   cases  same  known  diff  verdict
-----  -----  ----  -----  ----  -------------
t_a    4      4     0      0     pass
t_bb   3      1     1      1     FAIL (1 diff)
total  7      5     1      1     1 failed
"
        );
        assert_eq!(final_line(&outcomes), "1 passed, 1 failed");
        assert_eq!(final_line(&[]), "0 passed, 0 failed");
    }

    #[test]
    fn summary_in_native_only_mode() {
        let outcomes = vec![Outcome {
            test: "t_a".into(),
            native_cases: 3,
            counts: None,
            failure: None,
        }];
        assert_eq!(
            summary_table(&outcomes).lines().nth(2),
            Some("t_a   3      -     -      -     pass")
        );
    }

    #[test]
    fn indented_keeps_the_tail() {
        assert_eq!(indented(b"a\nb\n", None), "    a\n    b\n");
        let text = indented(b"1\n2\n3\n4\n", Some(2));
        assert_eq!(
            text.lines().skip(1).collect::<Vec<_>>(),
            vec!["    3", "    4"]
        );
        assert!(text.starts_with("    ... 2 earlier lines"));
    }
}

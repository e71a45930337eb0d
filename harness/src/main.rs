//! The `harness` binary: reads the command line, runs the selected tests on
//! the kernel and under the shim, and prints a block per test, warnings
//! about stale divergences, the summary table and `N passed, M failed`.
//!
//! Exit status: 0 when every test passed, 1 when one failed, 2 on a usage
//! or set-up error (no shim library, no tests, unreadable divergences).

use harness::cli::{self, Command, Options};
use harness::divergences::Divergences;
use harness::kernel;
use harness::report;
use harness::suite::{self, Namespaces, Setup, TestResult};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let parsed = match args {
        Ok(args) => cli::parse_args(args),
        Err(bad) => Err(format!("argument is not valid UTF-8: {bad:?}")),
    };
    match parsed {
        Ok(Command::Help) => {
            println!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Command::Run(opts)) => match run(&opts) {
            Ok(all_passed) => {
                if all_passed {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("harness: {e}");
                ExitCode::from(2)
            }
        },
        Err(e) => {
            eprintln!("harness: {e}\n(harness --help shows the usage)");
            ExitCode::from(2)
        }
    }
}

fn absolute(path: &Path) -> Result<PathBuf, String> {
    std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The divergences file; a missing file is fine unless it was named.
fn load_divergences(opts: &Options) -> Result<Divergences, String> {
    let path = &opts.divergences;
    if !opts.divergences_given && !path.exists() {
        return Ok(Divergences::default());
    }
    let (divergences, warnings) = Divergences::load(path)
        .map_err(|e| format!("cannot read divergences file {}: {e}", path.display()))?;
    for w in warnings {
        println!("warning: {}:{}: {}", path.display(), w.line, w.message);
    }
    Ok(divergences)
}

/// Prints a warning for every divergences entry that matched no difference.
fn warn_stale(opts: &Options, divergences: &Divergences, results: &[TestResult]) {
    let used: HashSet<usize> = results
        .iter()
        .filter_map(|r| r.comparison.as_ref())
        .flat_map(|c| c.used_entries())
        .collect();
    let compared: HashSet<&str> = results
        .iter()
        .filter(|r| r.comparison.is_some() && !r.broken)
        .map(|r| r.program.name.as_str())
        .collect();
    let present: HashSet<&str> = results.iter().map(|r| r.program.name.as_str()).collect();
    // Only a run of the whole suite can tell that a test no longer exists.
    let whole_suite = opts.tests.is_empty() && opts.filter.is_none();
    let checked = |t: &str| compared.contains(t) || (whole_suite && !present.contains(t));
    for e in divergences.stale(&used, checked) {
        let why = if present.contains(e.test.as_str()) {
            "no longer differs"
        } else {
            "no such test"
        };
        println!(
            "warning: {}:{}: stale divergence {e}: {why}",
            opts.divergences.display(),
            e.line
        );
    }
}

/// Runs the tests; `Ok(true)` when all passed.
fn run(opts: &Options) -> Result<bool, String> {
    let shim = if opts.native_only {
        None
    } else if opts.shim.is_file() {
        Some(absolute(&opts.shim)?)
    } else {
        return Err(format!(
            "shim library not found: {} (build it with `cargo build --release -p netshim`, \
             pass --shim PATH, or use --native-only)",
            opts.shim.display()
        ));
    };
    let divergences = load_divergences(opts)?;
    let mut programs = suite::select(
        &opts.tests,
        &opts.tests_dirs,
        opts.filter.as_deref(),
        opts.tests_dirs_given,
    )?;
    if programs.is_empty() {
        let dirs: Vec<String> = opts
            .tests_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        return Err(format!(
            "no tests selected (tests directories {}{})",
            dirs.join(", "),
            opts.filter
                .as_ref()
                .map_or(String::new(), |f| format!(", filter `{f}`"))
        ));
    }
    for p in &mut programs {
        p.path = absolute(&p.path)?;
    }

    // Where kernels differ (the shim's net/kver.rs), the shim runs follow
    // the kernel beside them unless NETSHIM_KERNEL_RULES says otherwise.
    let probe = kernel::probe();
    let user_rules = std::env::var(suite::NETSHIM_KERNEL_RULES).ok().filter(|v| !v.is_empty());
    // What the shim runs get, and how the summary names it.
    let (kernel_rules, rules_label) = match (&user_rules, probe.rules()) {
        (Some(u), _) => (None, format!("{u} (NETSHIM_KERNEL_RULES)")),
        (None, Some(r)) => (Some(r.name()), format!("{} (probed)", r.name())),
        (None, None) => {
            println!("warning: the kernel's probes disagree or failed ({probe:?}); the shim runs use its default rules");
            (None, "shim default".to_string())
        }
    };
    let namespaces = Namespaces::new();
    let setup = Setup {
        shim: shim.as_deref(),
        timeout: opts.timeout,
        divergences: &divergences,
        namespaces: &namespaces,
        kernel_rules,
    };
    let mut results = Vec::new();
    for program in &programs {
        println!("== {}", program.name);
        let _ = std::io::stdout().flush();
        let result = suite::run_test(program, &setup);
        print!("{}", report::test_block(&result, opts.verbose));
        println!();
        results.push(result);
    }

    if !opts.native_only {
        warn_stale(opts, &divergences, &results);
    }
    let outcomes: Vec<report::Outcome> = results.iter().map(TestResult::outcome).collect();
    println!("== summary");
    // Kernels differ on a few rules (the shim's net/kver.rs): say which one
    // the native runs were.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!("kernel {}, rules {rules_label}", release.trim());
    print!("{}", report::summary_table(&outcomes));
    println!("{}", report::final_line(&outcomes));
    Ok(outcomes.iter().all(report::Outcome::passed))
}

//! The command line: options, their defaults, and the usage text.

use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "\
usage: harness [OPTIONS] [TEST...]

Runs the tests twice, on the kernel and under the netshim LD_PRELOAD
library, and compares their case lines (tests/c/tcase.h). A test is a C
conformance program (t_*) or a real-program scenario script (s_*).

TEST is a test name (t_foo or s_bar, looked up in the tests directories,
also with `.sh` added) or a path (anything with a '/'); without any, every
t_* and s_* executable of the tests directories runs, sorted by name within
each directory, the directories in their order.

options:
  --shim PATH          the shim library [target/release/libnetshim.so]
  --tests DIR          a tests directory; repeat for more
                       [tests/c/build and tests/programs]
  --divergences FILE   known kernel/shim differences [tests/c/divergences.txt]
  --filter SUBSTR      only tests whose name contains SUBSTR
  --timeout SECS       wall-clock limit of each run [60]
  --native-only        only run on the kernel: check exit 0 and >= 1 case
  --verbose, -v        list every row, show stderr and noise in full
  --help, -h           this text

The last line of the output is `N passed, M failed`. Exit status: 0 when
no test failed, 1 when one did, 2 on a usage or set-up error.";

/// Where the tests are unless `--tests` says otherwise: the built C
/// conformance programs and the real-program scenarios.
pub const DEFAULT_TESTS_DIRS: [&str; 2] = ["tests/c/build", "tests/programs"];

/// Parsed options.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub shim: PathBuf,
    /// The tests directories, searched in order.
    pub tests_dirs: Vec<PathBuf>,
    /// Whether `--tests` was given (then every directory must exist; the
    /// default ones may be missing).
    pub tests_dirs_given: bool,
    pub divergences: PathBuf,
    /// Whether `--divergences` was given (then the file must exist).
    pub divergences_given: bool,
    pub filter: Option<String>,
    pub timeout: Duration,
    pub native_only: bool,
    pub verbose: bool,
    /// Test names or paths, in command-line order.
    pub tests: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            shim: PathBuf::from("target/release/libnetshim.so"),
            tests_dirs: DEFAULT_TESTS_DIRS.iter().map(PathBuf::from).collect(),
            tests_dirs_given: false,
            divergences: PathBuf::from("tests/c/divergences.txt"),
            divergences_given: false,
            filter: None,
            timeout: Duration::from_secs(60),
            native_only: false,
            verbose: false,
            tests: Vec::new(),
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Run(Options),
    Help,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs < 1e9 => {
            Ok(Duration::from_secs_f64(secs))
        }
        _ => Err(format!(
            "--timeout wants a positive number of seconds, not `{text}`"
        )),
    }
}

/// Parses the arguments after the program name. Options take their value
/// as the next argument or after `=`; `--` ends the options.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut opts = Options::default();
    let mut args = args.into_iter();
    let mut only_tests = false;
    while let Some(arg) = args.next() {
        if only_tests || !arg.starts_with('-') || arg == "-" {
            opts.tests.push(arg);
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let takes_value = matches!(
            flag.as_str(),
            "--shim" | "--tests" | "--divergences" | "--filter" | "--timeout"
        );
        let value = if takes_value {
            match inline.or_else(|| args.next()) {
                Some(v) => v,
                None => return Err(format!("{flag} needs a value")),
            }
        } else if inline.is_some() {
            return Err(format!("{flag} takes no value"));
        } else {
            String::new()
        };
        match flag.as_str() {
            "--" => only_tests = true,
            "--help" | "-h" => return Ok(Command::Help),
            "--shim" => opts.shim = PathBuf::from(value),
            "--tests" => {
                if !opts.tests_dirs_given {
                    opts.tests_dirs.clear();
                    opts.tests_dirs_given = true;
                }
                opts.tests_dirs.push(PathBuf::from(value));
            }
            "--divergences" => {
                opts.divergences = PathBuf::from(value);
                opts.divergences_given = true;
            }
            "--filter" => opts.filter = Some(value),
            "--timeout" => opts.timeout = parse_timeout(&value)?,
            "--native-only" => opts.native_only = true,
            "--verbose" | "-v" => opts.verbose = true,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(Command::Run(opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    fn opts(args: &[&str]) -> Options {
        match parse(args) {
            Ok(Command::Run(o)) => o,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let o = opts(&[]);
        assert_eq!(o, Options::default());
        assert_eq!(o.shim, PathBuf::from("target/release/libnetshim.so"));
        assert_eq!(o.timeout, Duration::from_secs(60));
        assert_eq!(
            o.tests_dirs,
            vec![
                PathBuf::from("tests/c/build"),
                PathBuf::from("tests/programs")
            ]
        );
        assert!(!o.tests_dirs_given);
    }

    #[test]
    fn several_tests_dirs() {
        let o = opts(&["--tests", "a", "--tests=b", "t_x"]);
        assert_eq!(o.tests_dirs, vec![PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(o.tests, vec!["t_x"]);
    }

    #[test]
    fn options_and_tests() {
        let o = opts(&[
            "--shim",
            "/x.so",
            "t_a",
            "--tests=build",
            "--divergences",
            "d.txt",
            "--filter",
            "udp",
            "--timeout",
            "2.5",
            "--native-only",
            "-v",
            "./t_b",
        ]);
        assert_eq!(o.shim, PathBuf::from("/x.so"));
        assert_eq!(o.tests_dirs, vec![PathBuf::from("build")]);
        assert!(o.tests_dirs_given);
        assert_eq!(o.divergences, PathBuf::from("d.txt"));
        assert!(o.divergences_given);
        assert_eq!(o.filter.as_deref(), Some("udp"));
        assert_eq!(o.timeout, Duration::from_millis(2500));
        assert!(o.native_only && o.verbose);
        assert_eq!(o.tests, vec!["t_a", "./t_b"]);
    }

    #[test]
    fn double_dash_ends_options() {
        assert_eq!(opts(&["--", "--verbose"]).tests, vec!["--verbose"]);
    }

    #[test]
    fn errors_and_help() {
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert_eq!(parse(&["t_a", "-h"]), Ok(Command::Help));
        assert!(parse(&["--bogus"]).unwrap_err().contains("unknown option"));
        assert!(parse(&["--shim"]).unwrap_err().contains("needs a value"));
        assert!(parse(&["--verbose=yes"])
            .unwrap_err()
            .contains("takes no value"));
        for bad in ["0", "-1", "soon", "inf", "NaN"] {
            assert!(parse(&["--timeout", bad]).is_err(), "{bad}");
        }
    }
}

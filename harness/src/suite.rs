//! Finding the test programs and running one test on both sides.
//!
//! A test is an executable whose name starts with `t_` (a C conformance
//! program of tests/c) or `s_` (a real-program scenario script of
//! tests/programs); both speak the case protocol. A script's `.sh` is not
//! part of its test name.
//!
//! The kernel run gets an environment without `LD_PRELOAD`, `NETSHIM_NS`
//! and `NETSHIM_MODE`. The shim run gets `LD_PRELOAD=<absolute shim path>`,
//! a namespace of its own in `NETSHIM_NS` (`h<harness pid>-<n>`, never
//! reused within a harness run), and no `NETSHIM_MODE`. Other `NETSHIM_*`
//! variables (log settings, say) pass through to both.

use crate::compare::{self, Comparison, Side};
use crate::divergences::Divergences;
use crate::parse::{parse_output, Parsed};
use crate::report::Outcome;
use crate::run::{self, Output, Spec};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The prefixes of test program names: C tests and scenario scripts.
pub const TEST_PREFIXES: [&str; 2] = ["t_", "s_"];

/// A suffix that is not part of a test's name.
pub const SCRIPT_SUFFIX: &str = ".sh";

/// A test program to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The file name less a `.sh`, `t_foo` or `s_bar`: what the report and
    /// the divergences file use.
    pub name: String,
    pub path: PathBuf,
}

impl Program {
    fn from_path(path: PathBuf) -> Program {
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let name = match file.strip_suffix(SCRIPT_SUFFIX) {
            Some(stem) if !stem.is_empty() => stem.to_string(),
            _ => file,
        };
        Program { name, path }
    }
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Every `t_*` and `s_*` executable file in `dir`, sorted by name.
pub fn discover(dir: &Path) -> std::io::Result<Vec<Program>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_test = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| TEST_PREFIXES.iter().any(|p| n.starts_with(p)));
        if is_test && is_executable_file(&path) {
            found.push(Program::from_path(path));
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// A command-line test: a name looked up in each of `dirs` (as is, then
/// with `.sh`), or a path if it holds a `/`.
pub fn resolve(arg: &str, dirs: &[PathBuf]) -> Result<Program, String> {
    let path = if arg.contains('/') {
        PathBuf::from(arg)
    } else {
        let candidates = dirs
            .iter()
            .flat_map(|d| [d.join(arg), d.join(format!("{arg}{SCRIPT_SUFFIX}"))]);
        let mut first = None;
        let mut found = None;
        for c in candidates {
            if is_executable_file(&c) {
                found = Some(c);
                break;
            }
            if first.is_none() && c.exists() {
                first = Some(c);
            }
        }
        match (found, first) {
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => {
                let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                return Err(format!("no such test: {arg} (not in {})", dirs.join(", ")));
            }
        }
    };
    if is_executable_file(&path) {
        Ok(Program::from_path(path))
    } else if path.exists() {
        Err(format!(
            "test {arg}: {} is not an executable file",
            path.display()
        ))
    } else {
        Err(format!(
            "no such test: {arg} ({} does not exist)",
            path.display()
        ))
    }
}

/// The tests to run: the named ones, or all of `dirs` (in order); then only
/// those whose name contains `filter`. With `require_all` false, a
/// directory that does not exist is skipped, as long as one does.
pub fn select(
    names: &[String],
    dirs: &[PathBuf],
    filter: Option<&str>,
    require_all: bool,
) -> Result<Vec<Program>, String> {
    let all = if names.is_empty() {
        let mut all = Vec::new();
        let mut listed = 0;
        let mut first_err = None;
        for dir in dirs {
            if !require_all && !dir.exists() {
                first_err.get_or_insert_with(|| format!("{}: does not exist", dir.display()));
                continue;
            }
            let found = discover(dir).map_err(|e| {
                format!(
                    "cannot list the tests directory {}: {e} (build the tests with `make build`)",
                    dir.display()
                )
            })?;
            listed += 1;
            all.extend(found);
        }
        if listed == 0 {
            return Err(format!(
                "cannot list the tests directory {} (build the tests with `make build`)",
                first_err.unwrap_or_else(|| "(none given)".into())
            ));
        }
        all
    } else {
        names
            .iter()
            .map(|n| resolve(n, dirs))
            .collect::<Result<_, _>>()?
    };
    Ok(all
        .into_iter()
        .filter(|p| filter.is_none_or(|f| p.name.contains(f)))
        .collect())
}

/// Hands out shim namespace names, `h<pid>-1`, `h<pid>-2`, ...
#[derive(Debug)]
pub struct Namespaces {
    pid: u32,
    next: AtomicUsize,
}

impl Namespaces {
    pub fn new() -> Namespaces {
        Namespaces {
            pid: std::process::id(),
            next: AtomicUsize::new(1),
        }
    }

    pub fn fresh(&self) -> String {
        format!(
            "h{}-{}",
            self.pid,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }
}

impl Default for Namespaces {
    fn default() -> Self {
        Self::new()
    }
}

/// The environment variables the harness controls.
const LD_PRELOAD: &str = "LD_PRELOAD";
const NETSHIM_NS: &str = "NETSHIM_NS";
const NETSHIM_MODE: &str = "NETSHIM_MODE";
pub const NETSHIM_KERNEL_RULES: &str = "NETSHIM_KERNEL_RULES";

/// The kernel run of `program`.
pub fn native_spec(program: &Path, timeout: Duration) -> Spec {
    Spec {
        program: program.to_path_buf(),
        set_env: vec![],
        remove_env: vec![LD_PRELOAD.into(), NETSHIM_NS.into(), NETSHIM_MODE.into()],
        timeout,
    }
}

/// The shim run of `program` with library `shim` in namespace `ns`.
pub fn shim_spec(program: &Path, shim: &Path, ns: &str, timeout: Duration) -> Spec {
    Spec {
        program: program.to_path_buf(),
        set_env: vec![
            (LD_PRELOAD.into(), shim.into()),
            (NETSHIM_NS.into(), ns.into()),
        ],
        remove_env: vec![NETSHIM_MODE.into()],
        timeout,
    }
}

/// One run of a test and its parsed stdout.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub output: Output,
    pub parsed: Parsed,
}

impl RunResult {
    fn side(&self) -> Side<'_> {
        Side {
            parsed: &self.parsed,
            status: self.output.status,
        }
    }
}

fn run_parsed(spec: &Spec) -> Result<RunResult, String> {
    let output =
        run::run(spec).map_err(|e| format!("cannot run {}: {e}", spec.program.display()))?;
    let parsed = parse_output(&output.stdout);
    Ok(RunResult { output, parsed })
}

/// How to run the tests.
#[derive(Debug)]
pub struct Setup<'a> {
    /// The absolute path of the shim library; `None` for native-only runs.
    pub shim: Option<&'a Path>,
    pub timeout: Duration,
    pub divergences: &'a Divergences,
    pub namespaces: &'a Namespaces,
    /// `NETSHIM_KERNEL_RULES` for the shim runs (the kernel's own, as
    /// kernel::probe found it); `None` leaves the environment's.
    pub kernel_rules: Option<&'static str>,
}

/// Everything known about one test after running it.
#[derive(Debug, Clone)]
pub struct TestResult {
    pub program: Program,
    pub native: Result<RunResult, String>,
    /// The shim run and its namespace; `None` in native-only mode or when
    /// the kernel run could not even start.
    pub shim: Option<(String, Result<RunResult, String>)>,
    pub comparison: Option<Comparison>,
    /// Why the test failed, `None` if it passed.
    pub failure: Option<String>,
    /// Whether the native run shows the test itself is broken.
    pub broken: bool,
}

impl TestResult {
    pub fn outcome(&self) -> Outcome {
        Outcome {
            test: self.program.name.clone(),
            native_cases: self.native.as_ref().map_or(0, |r| r.parsed.cases.len()),
            counts: self.comparison.as_ref().map(Comparison::counts),
            failure: self.failure.clone(),
        }
    }
}

/// Runs `program` on the kernel and, unless native-only, under the shim,
/// and compares the two.
/// Removes what a run's namespace left in the shared-memory directory: the
/// namespace file and any poll-waiter FIFOs (`netshim-<uid>-<ns>.v<N>[.w<i>]`).
/// The run's processes are gone (its process group was killed), so nothing
/// maps it any more.
pub fn remove_namespace(ns: &str) {
    let dir = std::env::var("NETSHIM_SHM_DIR").unwrap_or_else(|_| "/dev/shm".into());
    // SAFETY: getuid has no failure mode.
    let uid = unsafe { getuid() };
    let prefix = format!("netshim-{uid}-{ns}.v");
    let Ok(entries) = std::fs::read_dir(&dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if let Some(rest) = name.strip_prefix(&prefix) {
            // The version digits, then optionally ".w<i>": not another namespace's name.
            let ver_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if ver_end > 0 && (rest.len() == ver_end || rest[ver_end..].starts_with(".w")) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

extern "C" {
    fn getuid() -> u32;
}

pub fn run_test(program: &Program, setup: &Setup<'_>) -> TestResult {
    let native = run_parsed(&native_spec(&program.path, setup.timeout));
    let mut result = TestResult {
        program: program.clone(),
        native,
        shim: None,
        comparison: None,
        failure: None,
        broken: true,
    };
    let native = match &result.native {
        Ok(native) => native,
        Err(e) => {
            result.failure = Some(e.clone());
            return result;
        }
    };
    let native_failure = compare::native_failure(native.side());
    result.broken = native_failure.is_some();
    result.failure = native_failure;

    if let Some(shim) = setup.shim {
        let ns = setup.namespaces.fresh();
        let mut spec = shim_spec(&program.path, shim, &ns, setup.timeout);
        if let Some(rules) = setup.kernel_rules {
            spec.set_env.push((NETSHIM_KERNEL_RULES.into(), rules.into()));
        }
        let shim_run = run_parsed(&spec);
        remove_namespace(&ns);
        match &shim_run {
            Ok(s) => {
                let cmp =
                    compare::compare(&program.name, native.side(), s.side(), setup.divergences);
                let diff = cmp.counts().diff;
                if result.failure.is_none() && diff > 0 {
                    result.failure = Some(format!("{diff} diff"));
                }
                result.comparison = Some(cmp);
            }
            Err(e) => {
                if result.failure.is_none() {
                    result.failure = Some(format!("shim run: {e}"));
                }
            }
        }
        result.shim = Some((ns, shim_run));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;
    use std::ffi::OsString;

    #[test]
    fn discovers_select_and_resolve() {
        let tmp = TempDir::new("select");
        let dir = tmp.path();
        tmp.script("t_b", "");
        tmp.script("t_a", "");
        tmp.write("t_data", "not a program", 0o644);
        tmp.script("server", "");
        std::fs::create_dir(dir.join("t_dir")).unwrap();
        let dirs = vec![dir.to_path_buf()];

        let names: Vec<String> = discover(dir).unwrap().into_iter().map(|p| p.name).collect();
        assert_eq!(names, vec!["t_a", "t_b"]);
        let names: Vec<String> = select(&[], &dirs, Some("b"), true)
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, vec!["t_b"]);

        let by_path = format!("{}/t_a", dir.display());
        let chosen = select(&["t_b".into(), by_path.clone()], &dirs, None, true).unwrap();
        assert_eq!(
            chosen[0],
            Program {
                name: "t_b".into(),
                path: dir.join("t_b")
            }
        );
        assert_eq!(
            chosen[1],
            Program {
                name: "t_a".into(),
                path: PathBuf::from(by_path)
            }
        );

        assert!(resolve("t_nope", &dirs)
            .unwrap_err()
            .contains("no such test"));
        assert!(resolve("t_data", &dirs)
            .unwrap_err()
            .contains("not an executable"));
        let missing = vec![dir.join("missing")];
        assert!(select(&[], &missing, None, true)
            .unwrap_err()
            .contains("make build"));
        assert!(select(&[], &missing, None, false)
            .unwrap_err()
            .contains("make build"));
    }

    #[test]
    fn scenarios_in_a_second_directory() {
        let c = TempDir::new("cdir");
        let progs = TempDir::new("progs");
        c.script("t_z", "");
        progs.script("s_b.sh", "");
        progs.script("s_a.sh", "");
        progs.write("lib.sh", "", 0o644);
        progs.script("helper.sh", "");
        let dirs = vec![c.path().to_path_buf(), progs.path().to_path_buf()];
        let all = select(&[], &dirs, None, true).unwrap();
        let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["t_z", "s_a", "s_b"]);
        assert_eq!(all[1].path, progs.path().join("s_a.sh"));

        // By name, with or without the .sh; a missing default directory is skipped.
        let mut with_missing = dirs.clone();
        with_missing.insert(0, c.path().join("missing"));
        let chosen = select(&["s_b".into(), "s_a.sh".into()], &with_missing, None, false).unwrap();
        assert_eq!(chosen[0].name, "s_b");
        assert_eq!(chosen[1].name, "s_a");
        assert_eq!(select(&[], &with_missing, None, false).unwrap().len(), 3);
        assert!(select(&[], &with_missing, None, true).is_err());
    }

    #[test]
    fn namespaces_are_unique() {
        let ns = Namespaces::new();
        let pid = std::process::id();
        assert_eq!(ns.fresh(), format!("h{pid}-1"));
        assert_eq!(ns.fresh(), format!("h{pid}-2"));
    }

    #[test]
    fn environments() {
        let t = Duration::from_secs(1);
        let native = native_spec(Path::new("/t"), t);
        assert!(native.set_env.is_empty());
        assert_eq!(
            native.remove_env,
            vec![
                OsString::from("LD_PRELOAD"),
                "NETSHIM_NS".into(),
                "NETSHIM_MODE".into()
            ]
        );
        let shim = shim_spec(Path::new("/t"), Path::new("/lib/s.so"), "h1-1", t);
        assert_eq!(
            shim.set_env,
            vec![
                ("LD_PRELOAD".into(), "/lib/s.so".into()),
                ("NETSHIM_NS".into(), "h1-1".into())
            ]
        );
        assert_eq!(shim.remove_env, vec![OsString::from("NETSHIM_MODE")]);
    }

    #[test]
    fn runs_and_compares_a_test() {
        let tmp = TempDir::new("run");
        // Prints a case that differs when the preload is set.
        let t_env = tmp.script("t_env", "echo 'a: ok'\necho \"ns: ${NETSHIM_NS:+set}\"");
        let program = Program::from_path(t_env);
        let (div, _) = Divergences::parse("");
        let namespaces = Namespaces::new();
        let shim = PathBuf::from("/nonexistent-but-unused-by-sh.so");
        let setup = Setup {
            shim: Some(&shim),
            timeout: Duration::from_secs(10),
            divergences: &div,
            namespaces: &namespaces,
            kernel_rules: None,
        };
        let r = run_test(&program, &setup);
        assert!(!r.broken);
        let counts = r.comparison.as_ref().unwrap().counts();
        assert_eq!((counts.cases, counts.same, counts.diff), (3, 2, 1));
        assert_eq!(r.failure.as_deref(), Some("1 diff"));

        let native_only = Setup {
            shim: None,
            ..setup
        };
        let r = run_test(&program, &native_only);
        assert!(r.failure.is_none() && r.comparison.is_none() && r.shim.is_none());
        assert_eq!(r.outcome().native_cases, 2);

        let t_broken = tmp.script("t_broken", "echo 'a: ok'\nexit 1");
        let r = run_test(&Program::from_path(t_broken), &native_only);
        assert!(r.broken);
        assert_eq!(r.failure.as_deref(), Some("native exit 1"));
    }
}

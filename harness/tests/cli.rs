//! End-to-end runs of the `harness` binary on small shell scripts that
//! stand in for the C tests. A script notices the "shim" through
//! `NETSHIM_NS`, which only the shim run gets; any existing shared library
//! serves as the preload (the C library's libm loads harmlessly).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("harness-cli-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A shared library that is safe to preload, if the system has one where
/// we look.
fn harmless_library() -> Option<PathBuf> {
    [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/lib/aarch64-linux-gnu/libm.so.6",
        "/usr/lib64/libm.so.6",
        "/lib64/libm.so.6",
        "/usr/lib/libm.so.6",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

fn harness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn last_line(out: &Output) -> String {
    text(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn native_only_checks_exit_and_cases() {
    let dir = TempDir::new("native");
    dir.script("t_good", "echo 'a: ok'; echo 'b: = 3'");
    dir.script("t_silent", "echo 'no cases here'");
    dir.script("t_dies", "echo 'a: ok'; exit 2");
    dir.script("helper", "exit 1");

    let out = harness(&["--native-only", "--tests", s(&dir.0)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(last_line(&out), "1 passed, 2 failed");
    assert!(stdout.contains("== t_good\n"), "{stdout}");
    assert!(
        stdout.contains("t_silent: FAIL (native run printed no cases)"),
        "{stdout}"
    );
    assert!(stdout.contains("t_dies: FAIL (native exit 2)"), "{stdout}");
    assert!(!stdout.contains("helper"), "{stdout}");

    let out = harness(&["--native-only", "--tests", s(&dir.0), "--filter", "good"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(last_line(&out), "1 passed, 0 failed");
}

#[test]
fn compares_with_the_shim_and_applies_divergences() {
    let Some(lib) = harmless_library() else {
        eprintln!("no libm found; skipped");
        return;
    };
    let dir = TempDir::new("compare");
    dir.script("t_same", "echo 'a: ok'; echo 'a: ok'; echo 'b: -1 EINVAL'");
    dir.script(
        "t_differs",
        "echo 'a: ok'; if [ -n \"$NETSHIM_NS\" ]; then echo 'b: no'; else echo 'b: yes'; fi",
    );
    let none = dir.file("none.txt", "");
    let known = dir.file(
        "known.txt",
        "t_differs b the shim says no\nt_same a stale entry\n",
    );

    let out = harness(&[
        "--shim",
        s(&lib),
        "--tests",
        s(&dir.0),
        "--divergences",
        s(&none),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(last_line(&out), "1 passed, 1 failed");
    assert!(
        stdout.contains("t_same: 4 cases, 4 same, 0 known, 0 diff"),
        "{stdout}"
    );
    assert!(
        stdout.contains("t_differs: 3 cases, 2 same, 0 known, 1 diff"),
        "{stdout}"
    );

    let out = harness(&[
        "--shim",
        s(&lib),
        "--tests",
        s(&dir.0),
        "--divergences",
        s(&known),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(last_line(&out), "2 passed, 0 failed");
    assert!(
        stdout.contains("t_differs: 3 cases, 2 same, 1 known, 0 diff"),
        "{stdout}"
    );
    assert!(
        stdout.contains(":2: stale divergence t_same a: no longer differs"),
        "{stdout}"
    );
}

#[test]
fn set_up_errors_exit_2() {
    let dir = TempDir::new("errors");
    dir.script("t_x", "echo 'a: ok'");
    let missing = dir.0.join("libnothing.so");

    let out = harness(&["--shim", s(&missing), "--tests", s(&dir.0)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("shim library not found"));

    let out = harness(&["--native-only", "--tests", s(&dir.0), "t_nothere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no such test"));

    let out = harness(&[
        "--native-only",
        "--tests",
        s(&dir.0),
        "--divergences",
        s(&missing),
    ]);
    assert_eq!(out.status.code(), Some(2));

    let out = harness(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));

    let out = harness(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("usage: harness"));
}

#[test]
fn runs_c_tests_and_scenarios_from_several_directories() {
    let c = TempDir::new("multi-c");
    let progs = TempDir::new("multi-progs");
    c.script("t_c", "echo 'c: ok'");
    progs.script("s_scenario.sh", "echo 'redis_ping: completed, no errors'");
    progs.file("lib.sh", "# sourced, not a test");

    let out = harness(&["--native-only", "--tests", s(&c.0), "--tests", s(&progs.0)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(last_line(&out), "2 passed, 0 failed");
    assert!(stdout.contains("== t_c\n"), "{stdout}");
    assert!(stdout.contains("== s_scenario\n"), "{stdout}");

    let out = harness(&[
        "--native-only",
        "--tests",
        s(&c.0),
        "--tests",
        s(&progs.0),
        "s_scenario",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(last_line(&out), "1 passed, 0 failed");
}

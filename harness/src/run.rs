//! Running one test program with captured output and a wall-clock timeout.
//!
//! The child is started in a process group of its own, so that a timeout
//! (or the clean-up after a normal exit) can kill it together with every
//! process it forked: `kill(-pgid, SIGKILL)`. Stdout and stderr are read by
//! two threads into shared buffers; if a stray process outside the group
//! still holds a pipe open after the group is gone, the harness stops
//! waiting for it after a short grace period and keeps what was read.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

extern "C" {
    // The C library's kill(2); std links it anyway, so no crate is needed.
    fn kill(pid: i32, sig: i32) -> i32;
}

const SIGKILL: i32 = 9;

/// How long to wait for the output pipes to close once the process group
/// is dead.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The program exited with this code.
    Exited(i32),
    /// The program was killed by this signal.
    Signaled(i32),
    /// The harness killed it when the timeout expired.
    TimedOut,
}

impl Status {
    fn from_exit(status: ExitStatus) -> Status {
        match (status.code(), status.signal()) {
            (Some(code), _) => Status::Exited(code),
            (None, Some(sig)) => Status::Signaled(sig),
            (None, None) => Status::Exited(-1),
        }
    }

    pub fn success(self) -> bool {
        self == Status::Exited(0)
    }
}

/// The text of the `<exit>` pseudo-case: `exit 0`, `signal 9`, `timeout`.
impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Exited(code) => write!(f, "exit {code}"),
            Status::Signaled(sig) => write!(f, "signal {sig}"),
            Status::TimedOut => write!(f, "timeout"),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    pub program: PathBuf,
    /// Variables to set in the child's environment.
    pub set_env: Vec<(OsString, OsString)>,
    /// Variables to remove from the child's environment.
    pub remove_env: Vec<OsString>,
    pub timeout: Duration,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: Status,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

/// A thread reading one pipe to its end into a shared buffer.
struct Reader {
    buf: Arc<Mutex<Vec<u8>>>,
    handle: JoinHandle<()>,
}

impl Reader {
    fn start<R: Read + Send + 'static>(mut pipe: R) -> Reader {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buf);
        let handle = thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => lock(&sink).extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
        });
        Reader { buf, handle }
    }

    /// What was read so far; the thread is left alone if it is still
    /// blocked on a pipe some stray process holds open.
    fn finish(self) -> Vec<u8> {
        if self.handle.is_finished() {
            let _ = self.handle.join();
        }
        let out = std::mem::take(&mut *lock(&self.buf));
        out
    }
}

fn lock(buf: &Mutex<Vec<u8>>) -> std::sync::MutexGuard<'_, Vec<u8>> {
    buf.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits until the readers are done or `deadline` passes, then returns
/// what they read.
fn drain(readers: Vec<Reader>, deadline: Instant) -> Vec<Vec<u8>> {
    while Instant::now() < deadline && !readers.iter().all(|r| r.handle.is_finished()) {
        thread::sleep(Duration::from_millis(5));
    }
    readers.into_iter().map(Reader::finish).collect()
}

/// Kills every process of the group `pgid`.
fn kill_group(pgid: u32) {
    if let Ok(pgid) = i32::try_from(pgid) {
        if pgid > 0 {
            // SAFETY: kill(2) has no memory-safety preconditions; ESRCH (the
            // group is already gone) is fine.
            unsafe {
                kill(-pgid, SIGKILL);
            }
        }
    }
}

/// `errno` ETXTBSY on Linux.
const ETXTBSY: i32 = 26;

/// Spawns `cmd`, retrying a few times on ETXTBSY: a program written just
/// before (as the unit tests do) can be briefly held open for writing by a
/// child some other thread forked in the meantime.
fn spawn(cmd: &mut Command) -> io::Result<Child> {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && tries < 20 => {
                tries += 1;
                thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Runs `spec.program` with no arguments and stdin from /dev/null.
pub fn run(spec: &Spec) -> io::Result<Output> {
    let mut cmd = Command::new(&spec.program);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for name in &spec.remove_env {
        cmd.env_remove(name);
    }
    for (name, value) in &spec.set_env {
        cmd.env(name, value);
    }

    let start = Instant::now();
    let mut child = spawn(&mut cmd)?;
    let pgid = child.id();
    let readers = vec![
        Reader::start(child.stdout.take().expect("stdout is piped")),
        Reader::start(child.stderr.take().expect("stderr is piped")),
    ];

    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let (status, timed_out) = match rx.recv_timeout(spec.timeout) {
        Ok(status) => (status, false),
        Err(_) => {
            kill_group(pgid);
            (
                rx.recv()
                    .unwrap_or_else(|_| Err(io::Error::other("waiter thread died"))),
                true,
            )
        }
    };
    let elapsed = start.elapsed();
    let _ = waiter.join();
    // Whatever the program left behind (forked children) goes too.
    kill_group(pgid);

    let status = status?;
    let mut outputs = drain(readers, Instant::now() + PIPE_GRACE).into_iter();
    Ok(Output {
        status: if timed_out {
            Status::TimedOut
        } else {
            Status::from_exit(status)
        },
        stdout: outputs.next().unwrap_or_default(),
        stderr: outputs.next().unwrap_or_default(),
        elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    /// Writes an executable shell script into a fresh temporary directory.
    fn script(name: &str, body: &str) -> (TempDir, PathBuf) {
        let dir = TempDir::new(name);
        let path = dir.script(name, body);
        (dir, path)
    }

    fn spec(program: PathBuf, timeout_ms: u64) -> Spec {
        Spec {
            program,
            set_env: vec![],
            remove_env: vec![],
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    #[test]
    fn captures_output_and_exit_code() {
        let (_dir, p) = script("exit3", "echo out; echo err >&2; exit 3");
        let out = run(&spec(p, 10_000)).unwrap();
        assert_eq!(out.status, Status::Exited(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn reports_signals() {
        let (_dir, p) = script("sig", "kill -SEGV $$");
        let out = run(&spec(p, 10_000)).unwrap();
        assert_eq!(out.status, Status::Signaled(11));
        assert_eq!(out.status.to_string(), "signal 11");
    }

    #[test]
    fn sets_and_removes_environment() {
        let (_dir, p) = script(
            "env",
            "echo \"a: ${HARNESS_A-unset}\"; echo \"home: ${HOME-unset}\"",
        );
        let mut s = spec(p, 10_000);
        s.set_env.push(("HARNESS_A".into(), "1".into()));
        s.remove_env.push("HOME".into());
        let out = run(&s).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a: 1\nhome: unset\n");
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        // The background sleeper holds stdout open; the run must still end
        // soon after the timeout because the whole group is killed.
        let (_dir, p) = script("hang", "echo started; sleep 30 & sleep 30");
        let t0 = Instant::now();
        let out = run(&spec(p, 300)).unwrap();
        assert_eq!(out.status, Status::TimedOut);
        assert_eq!(out.status.to_string(), "timeout");
        assert_eq!(out.stdout, b"started\n");
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "took {:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn leftover_children_are_killed_after_exit() {
        let (_dir, p) = script("leftover", "sleep 30 & echo done");
        let t0 = Instant::now();
        let out = run(&spec(p, 10_000)).unwrap();
        assert_eq!(out.status, Status::Exited(0));
        assert_eq!(out.stdout, b"done\n");
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "took {:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn missing_program_is_an_error() {
        assert!(run(&spec(PathBuf::from("/nonexistent/t_nothing"), 1000)).is_err());
    }
}

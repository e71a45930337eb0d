//! `netshim`: run programs under the shim and look inside a namespace.
//!
//! ```text
//! netshim run [--ns NAME] [--trace] [--trace-file FILE] [--pcap FILE] [--] PROGRAM ARGS...
//! netshim ss  [--ns NAME] [-a -l -x -t -u -p -n]
//! netshim ns  list | rm [-f] NAME...
//! ```
//!
//! `run` sets the environment the library reads and execs the program (the
//! exit status is the program's). `ss` maps the namespace, copies its
//! sockets under the host lock and prints them as `ss` does. `ns` manages
//! the namespace files of the calling user.
//!
//! This binary links the netshim crate, hooks included; the hooks notice
//! they are in the main program and pass every call to libc.

mod ns;
mod ss;

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: netshim run [--ns NAME] [--trace] [--trace-file FILE] [--pcap FILE] [--] PROGRAM [ARGS...]
       netshim ss [--ns NAME] [-a] [-l] [-x] [-t] [-u] [-p] [-n]
       netshim ns list
       netshim ns rm [-f] NAME...

  run   runs PROGRAM with libnetshim.so preloaded (found next to this
        executable, or NETSHIM_LIB) in namespace NAME (else $NETSHIM_NS,
        else \"default\"); --trace prints one strace-like line per call and
        the kernel path (NETSHIM_LOG=netshim=trace) on stderr, or appended
        to FILE with --trace-file (NETSHIM_TRACE_FILE), --pcap appends the
        emulated TCP/UDP traffic to the capture FILE (NETSHIM_PCAP; created
        if missing, remove it to start afresh). Exit status is the program's.
  ss    lists the namespace's sockets: -a all, -l listening only, -x unix,
        -t tcp, -u udp (none of -x -t -u: all kinds), -p owning processes,
        -n numeric (always).
  ns    lists the namespaces of this user (with processes and sockets), or
        removes them (-f: even when processes still use them).
";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let Some(cmd) = args.first().and_then(|a| a.to_str()) else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let r = match cmd {
        "run" => run(rest),
        "ss" => ss::main(rest),
        "ns" => ns::main(rest),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(0)
        }
        _ => Err(format!("unknown command {cmd:?}")),
    };
    match r {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("netshim: {e}");
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The namespace directory (`NETSHIM_SHM_DIR`, else /dev/shm).
pub fn shm_dir() -> String {
    std::env::var("NETSHIM_SHM_DIR").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| "/dev/shm".into())
}

/// The namespace name as the library spells it in the file name.
pub fn ns_name(given: Option<&str>) -> String {
    let ns = given.map(str::to_string).or_else(|| std::env::var("NETSHIM_NS").ok().filter(|v| !v.is_empty()));
    let ns = ns.unwrap_or_else(|| "default".into());
    ns.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

/// Takes the value of an option that needs one.
fn value<'a>(it: &mut impl Iterator<Item = &'a OsString>, opt: &str) -> Result<&'a OsString, String> {
    it.next().ok_or_else(|| format!("{opt} needs a value"))
}

/// Where libnetshim.so is: NETSHIM_LIB, else beside this executable.
fn find_lib() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("NETSHIM_LIB").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(std::path::absolute(&p).unwrap_or(p)) } else { Err(format!("NETSHIM_LIB={} is not a file", p.display())) };
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find my own executable: {e}"))?;
    let lib = exe.with_file_name("libnetshim.so");
    if lib.is_file() {
        Ok(lib)
    } else {
        Err(format!("{} not found (set NETSHIM_LIB)", lib.display()))
    }
}

/// An existing, non-empty `--pcap` file must be a pcap capture (records
/// are appended to it; remove it to start a new capture).
fn check_pcap(p: &std::path::Path) -> Result<(), String> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    match std::fs::File::open(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("--pcap {}: {e}", p.display())),
        Ok(mut f) => match f.read(&mut magic) {
            Ok(0) => Ok(()),
            Ok(4) if [0xa1b2_3c4du32, 0xa1b2_c3d4].contains(&u32::from_ne_bytes(magic)) => Ok(()),
            Ok(_) => Err(format!("--pcap {}: exists and is not a pcap capture", p.display())),
            Err(e) => Err(format!("--pcap {}: {e}", p.display())),
        },
    }
}

/// `netshim run`.
fn run(args: &[OsString]) -> Result<u8, String> {
    let mut ns: Option<String> = None;
    let mut trace = false;
    let mut trace_file: Option<PathBuf> = None;
    let mut pcap: Option<PathBuf> = None;
    let mut it = args.iter();
    let mut program: Vec<OsString> = Vec::new();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--ns") => ns = Some(value(&mut it, "--ns")?.to_string_lossy().into_owned()),
            Some("--trace") => trace = true,
            Some("--pcap") => pcap = Some(PathBuf::from(value(&mut it, "--pcap")?)),
            Some("--trace-file") => trace_file = Some(PathBuf::from(value(&mut it, "--trace-file")?)),
            Some(s) if s.starts_with("--trace-file=") => trace_file = Some(PathBuf::from(&s[13..])),
            Some("--") => {
                program.extend(it.by_ref().cloned());
                break;
            }
            Some(s) if s.starts_with("--ns=") => ns = Some(s[5..].to_string()),
            Some(s) if s.starts_with("--pcap=") => pcap = Some(PathBuf::from(&s[7..])),
            Some(s) if s.starts_with('-') && program.is_empty() => return Err(format!("unknown option {s}")),
            _ => {
                program.push(a.clone());
                program.extend(it.by_ref().cloned());
                break;
            }
        }
    }
    if program.is_empty() {
        return Err("run: no program given".into());
    }
    let lib = find_lib()?;
    let preload = match std::env::var_os("LD_PRELOAD").filter(|p| !p.is_empty()) {
        Some(old) => {
            let mut v = old;
            v.push(":");
            v.push(lib.as_os_str());
            v
        }
        None => lib.clone().into_os_string(),
    };
    let mut cmd = Command::new(&program[0]);
    cmd.args(&program[1..]).env("LD_PRELOAD", preload).env("NETSHIM_NS", ns_name(ns.as_deref()));
    if let Some(f) = trace_file {
        let f = std::path::absolute(&f).map_err(|e| format!("--trace-file {}: {e}", f.display()))?;
        cmd.env("NETSHIM_TRACE_FILE", f);
        trace = true;
    }
    if trace {
        cmd.env("NETSHIM_LOG", "netshim=trace");
    }
    if let Some(p) = pcap {
        // Every process of the run, and of other runs given the same file
        // (a server and its clients), appends to one capture: the library
        // writes the header into an empty or new file. Give it an absolute
        // path (programs may chdir), and refuse a file that is not a capture.
        let p = std::path::absolute(&p).map_err(|e| format!("--pcap {}: {e}", p.display()))?;
        check_pcap(&p)?;
        cmd.env("NETSHIM_PCAP", &p);
    }
    let err = cmd.exec();
    eprintln!("netshim: cannot run {}: {err}", program[0].to_string_lossy());
    Ok(if err.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 })
}

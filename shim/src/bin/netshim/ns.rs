//! `netshim ns list|rm`: the namespace files of the calling user.
//!
//! A namespace is `$NETSHIM_SHM_DIR/netshim-<uid>-<ns>.v<layout>` plus its
//! poll-waiter FIFOs `<that>.w<n>`.

use netshim::inspect;
use netshim::shm::{Host, LAYOUT_VERSION};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One namespace file.
struct NsFile {
    name: String,
    version: u32,
    path: PathBuf,
}

fn my_uid() -> Result<u32, String> {
    std::fs::metadata("/proc/self").map(|m| m.uid()).map_err(|e| format!("/proc/self: {e}"))
}

/// `netshim-<uid>-<name>.v<N>` -> (name, N).
fn parse_file_name(file: &str, uid: u32) -> Option<(String, u32)> {
    let rest = file.strip_prefix(&format!("netshim-{uid}-"))?;
    let dot = rest.rfind(".v")?;
    let v = &rest[dot + 2..];
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((rest[..dot].to_string(), v.parse().ok()?))
}

fn namespaces(dir: &str) -> Result<Vec<NsFile>, String> {
    let uid = my_uid()?;
    let mut v = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{dir}: {e}"))?;
    for ent in rd.flatten() {
        let f = ent.file_name();
        let Some(f) = f.to_str() else { continue };
        if let Some((name, version)) = parse_file_name(f, uid) {
            v.push(NsFile { name, version, path: ent.path() });
        }
    }
    v.sort_by(|a, b| (&a.name, a.version).cmp(&(&b.name, b.version)));
    Ok(v)
}

/// Live processes and sockets of a namespace this build can read.
fn usage(dir: &str, f: &NsFile) -> Option<(Vec<u32>, usize)> {
    if f.version != LAYOUT_VERSION {
        return None;
    }
    let host = Host::open_existing(dir, &f.name).ok()?;
    let snap = inspect::snapshot(&host);
    let live: Vec<u32> = snap.procs.iter().map(|p| p.pid).filter(|pid| Path::new(&format!("/proc/{pid}")).exists()).collect();
    Some((live, snap.socks.len()))
}

pub fn main(args: &[OsString]) -> Result<u8, String> {
    let dir = super::shm_dir();
    let words: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    match words.first().map(String::as_str) {
        Some("list") | Some("ls") | None => list(&dir),
        Some("rm") => {
            let force = words[1..].iter().any(|w| w == "-f" || w == "--force");
            let names: Vec<&String> = words[1..].iter().filter(|w| !w.starts_with('-')).collect();
            if names.is_empty() {
                return Err("ns rm: no namespace given".into());
            }
            let mut code = 0;
            for n in names {
                if let Err(e) = rm(&dir, &super::ns_name(Some(n)), force) {
                    eprintln!("netshim: {e}");
                    code = 1;
                }
            }
            Ok(code)
        }
        Some(w) => Err(format!("ns: unknown subcommand {w:?}")),
    }
}

fn list(dir: &str) -> Result<u8, String> {
    let all = namespaces(dir)?;
    println!("{:<24} {:>6} {:>10} {:>9} {:>7}  pids", "NAMESPACE", "LAYOUT", "DISK", "PROCESSES", "SOCKETS");
    for f in &all {
        let disk = std::fs::metadata(&f.path).map(|m| m.blocks() * 512).unwrap_or(0);
        let (procs, socks, pids) = match usage(dir, f) {
            Some((live, socks)) => {
                let pids: Vec<String> = live.iter().map(u32::to_string).collect();
                (live.len().to_string(), socks.to_string(), pids.join(","))
            }
            None => ("-".into(), "-".into(), "(other layout)".into()),
        };
        println!("{:<24} {:>6} {:>9}K {:>9} {:>7}  {pids}", f.name, format!("v{}", f.version), disk / 1024, procs, socks);
    }
    Ok(0)
}

/// Removes every layout version of namespace `name` and its FIFOs.
fn rm(dir: &str, name: &str, force: bool) -> Result<(), String> {
    let files: Vec<NsFile> = namespaces(dir)?.into_iter().filter(|f| f.name == name).collect();
    if files.is_empty() {
        return Err(format!("no namespace {name:?}"));
    }
    for f in &files {
        if let Some((live, _)) = usage(dir, f) {
            if !live.is_empty() && !force {
                return Err(format!("namespace {name:?} is in use by pid {:?} (use -f to remove it anyway)", live));
            }
        }
    }
    for f in &files {
        let base = f.path.file_name().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let fifo_prefix = format!("{base}.w");
        if let Ok(rd) = std::fs::read_dir(dir) {
            for ent in rd.flatten() {
                let n = ent.file_name();
                if n.to_str().is_some_and(|n| n.strip_prefix(&fifo_prefix).is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))) {
                    let _ = std::fs::remove_file(ent.path());
                }
            }
        }
        std::fs::remove_file(&f.path).map_err(|e| format!("{}: {e}", f.path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_file_name;

    #[test]
    fn file_names() {
        assert_eq!(parse_file_name("netshim-0-default.v2", 0), Some(("default".into(), 2)));
        assert_eq!(parse_file_name("netshim-0-a.b.v13", 0), Some(("a.b".into(), 13)));
        assert_eq!(parse_file_name("netshim-0-default.v2.w3", 0), None);
        assert_eq!(parse_file_name("netshim-1000-x.v2", 0), None);
    }
}

//! Configuration, read once from the environment at load time.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `NETSHIM_NS` | the namespace (emulated host) to join | `default` |
//! | `NETSHIM_MODE` | `emulate`, or `passthrough` (everything to the kernel, still traced) | `emulate` |
//! | `NETSHIM_SHM_DIR` | where namespaces' shared files live | `/dev/shm` |
//! | `NETSHIM_NONLOCAL` | connect/send to an address off the emulated host: `refuse` (ENETUNREACH), or `kernel` (the socket becomes a kernel socket before it is used: net::handoff) | `refuse` |
//! | `NETSHIM_TIME_WAIT` | seconds a TCP TIME_WAIT entry holds its port (read in net::inet_timewait) | `60` |
//! | `NETSHIM_KERNEL_RULES` | `strict` or `classic`: which kernel's answer to give where kernels differ (read in net::kver) | `strict` |
//! | `NETSHIM_SPIN` | spins before a blocked call sleeps (read in net::sock) | `4000` |
//! | `NETSHIM_LOG` (or `RUST_LOG`) | env_logger filter; `netshim=debug` traces every call, `netshim=trace` the kernel path too (read in trace) | off |
//! | `NETSHIM_TRACE_FILE` | append the trace lines to this file instead of fd 2 (read in trace) | unset |
//! | `NETSHIM_PCAP` | append the emulated TCP/UDP traffic to this pcap file (read in pcap) | unset |

use once_cell::sync::OnceCell;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Emulate,
    Passthrough,
}

#[derive(Debug)]
pub struct Config {
    pub ns: String,
    pub mode: Mode,
    pub shm_dir: String,
}

static CONFIG: OnceCell<Config> = OnceCell::new();

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub fn get() -> &'static Config {
    CONFIG.get_or_init(|| {
        let ns = var("NETSHIM_NS").unwrap_or_else(|| "default".into());
        // A namespace name becomes part of a file name: keep it to a safe alphabet.
        let ns: String = ns.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
        let mode = match var("NETSHIM_MODE").as_deref() {
            Some("passthrough") | Some("kernel") => Mode::Passthrough,
            _ => Mode::Emulate,
        };
        let shm_dir = var("NETSHIM_SHM_DIR").unwrap_or_else(|| "/dev/shm".into());
        Config { ns, mode, shm_dir }
    })
}

/// What connect/sendto to an address off this host returns.
/// `NETSHIM_NONLOCAL`: what a connect or send to an address off the
/// emulated host does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nonlocal {
    /// ENETUNREACH, as a host with only `lo` answers.
    Refuse,
    /// The socket becomes a kernel socket before it is used (`net::handoff`).
    Kernel,
}

pub fn nonlocal() -> Nonlocal {
    static V: OnceCell<Nonlocal> = OnceCell::new();
    *V.get_or_init(|| match var("NETSHIM_NONLOCAL").as_deref() {
        Some("kernel") | Some("passthrough") => Nonlocal::Kernel,
        _ => Nonlocal::Refuse,
    })
}

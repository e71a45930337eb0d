//! Tracing: one strace-format line per intercepted call (log level debug)
//! and, at level trace, the kernel functions the emulation went through.
//!
//! Both go through env_logger (filter in NETSHIM_LOG, else RUST_LOG). When
//! tracing is off the cost is one relaxed load of log's max level.

use std::cell::RefCell;

thread_local! {
    /// The kernel path of the call in progress on this thread.
    static PATH: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// `ktrace!("unix_stream_connect")`: records a kernel function on the path.
#[macro_export]
macro_rules! ktrace {
    ($($arg:tt)*) => {
        if log::log_enabled!(target: "netshim::kernel", log::Level::Trace) {
            $crate::trace::push(format!($($arg)*));
        }
    };
}

pub fn push(s: String) {
    PATH.with(|p| p.borrow_mut().push(s));
}

/// Takes the recorded path (emptying it).
pub fn take_path() -> Vec<String> {
    PATH.with(|p| std::mem::take(&mut *p.borrow_mut()))
}

/// Whether per-call lines are wanted.
#[inline]
pub fn calls_enabled() -> bool {
    log::log_enabled!(target: "netshim", log::Level::Debug)
}

/// Emits the strace-like line for a finished call.
pub fn call(name: &str, args: &str, ret: i64, err: Option<crate::errno::Errno>, emulated: bool) {
    let pid = crate::sys::getpid();
    let tag = if emulated { "" } else { " [kernel]" };
    match err {
        Some(e) => log::debug!(target: "netshim", "[pid {pid}] {name}({args}) = -1 {e}{tag}"),
        None => log::debug!(target: "netshim", "[pid {pid}] {name}({args}) = {ret}{tag}"),
    }
    let path = take_path();
    if !path.is_empty() {
        log::trace!(target: "netshim::kernel", "[pid {pid}]   {}", path.join(" -> "));
    }
}

/// Sets up env_logger once (NETSHIM_LOG, falling back to RUST_LOG).
pub fn init() {
    let filter = std::env::var("NETSHIM_LOG").or_else(|_| std::env::var("RUST_LOG"));
    if let Ok(f) = filter {
        let _ = env_logger::Builder::new().parse_filters(&f).format_timestamp(None).format_target(false).try_init();
    }
}

/// Formats a sockaddr the way strace does.
pub fn fmt_sockaddr(b: &[u8]) -> String {
    use crate::net::addr::{family_of, InetAddr, UnixName};
    match family_of(b) as i32 {
        libc::AF_UNIX => match UnixName::parse(b) {
            Ok((UnixName::Path(p), _)) => format!("{{sa_family=AF_UNIX, sun_path={:?}}}", String::from_utf8_lossy(&p)),
            Ok((UnixName::Abstract(p), _)) => format!("{{sa_family=AF_UNIX, sun_path=@{:?}}}", String::from_utf8_lossy(&p)),
            Err(_) => "{sa_family=AF_UNIX}".into(),
        },
        libc::AF_INET if b.len() >= 16 => match InetAddr::parse(b) {
            Some(a) => {
                let ip = a.v4_bytes();
                format!("{{sa_family=AF_INET, sin_port=htons({}), sin_addr=inet_addr(\"{}.{}.{}.{}\")}}", a.port, ip[0], ip[1], ip[2], ip[3])
            }
            None => "{sa_family=AF_INET}".into(),
        },
        libc::AF_INET6 if b.len() >= 24 => match InetAddr::parse(b) {
            Some(a) => format!("{{sa_family=AF_INET6, sin6_port=htons({}), sin6_addr={}}}", a.port, std::net::Ipv6Addr::from(a.ip)),
            None => "{sa_family=AF_INET6}".into(),
        },
        f => format!("{{sa_family={f}}}"),
    }
}

pub fn family_name(f: i32) -> String {
    match f {
        libc::AF_UNIX => "AF_UNIX".into(),
        libc::AF_INET => "AF_INET".into(),
        libc::AF_INET6 => "AF_INET6".into(),
        libc::AF_NETLINK => "AF_NETLINK".into(),
        _ => f.to_string(),
    }
}

pub fn type_name(t: i32) -> String {
    let base = match t & 0xf {
        libc::SOCK_STREAM => "SOCK_STREAM".to_string(),
        libc::SOCK_DGRAM => "SOCK_DGRAM".to_string(),
        libc::SOCK_SEQPACKET => "SOCK_SEQPACKET".to_string(),
        libc::SOCK_RAW => "SOCK_RAW".to_string(),
        x => x.to_string(),
    };
    let mut s = base;
    if t & libc::SOCK_CLOEXEC != 0 {
        s.push_str("|SOCK_CLOEXEC");
    }
    if t & libc::SOCK_NONBLOCK != 0 {
        s.push_str("|SOCK_NONBLOCK");
    }
    s
}

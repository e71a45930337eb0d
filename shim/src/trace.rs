//! Tracing: one strace-format line per intercepted call (log level debug)
//! and, at level trace, the kernel functions the emulation went through.
//!
//! ```text
//! [pid 4242] connect(3, {sa_family=AF_UNIX, sun_path="/tmp/s"}, 110) = -1 ECONNREFUSED (Connection refused)
//! [pid 4242]   unix_stream_connect -> unix_find_other -> unix_find_bsd: no socket bound to the inode -> ECONNREFUSED
//! ```
//!
//! - Both go through env_logger (filter in NETSHIM_LOG, else RUST_LOG):
//!   `netshim=debug` gives the call lines, `netshim=trace` the kernel path
//!   too. A call line is the record of target `netshim::call`, a path line
//!   of `netshim::kernel`; they are printed as they are (the custom format
//!   of `init`); any other record keeps env_logger's usual `[LEVEL target]`.
//! - `[pid N]` is the calling thread's id, as `strace -f` prints it (the
//!   process id for a single-threaded program).
//! - Arguments are formatted as strace does (`fmt_*` below): flag names,
//!   sockaddrs, strings quoted and cut at 32 bytes (`strace -s 32`), errno
//!   names with strerror's text.
//! - Where the lines go: the file NETSHIM_TRACE_FILE when set (appended,
//!   one write(2) per line, so several processes can share it), else fd 2.
//!   The writes are raw system calls, so the shim's own `write` hook is
//!   never entered; a line for fd 2 is dropped while fd 2 is an emulated
//!   socket (a program that dup2'd a connection onto it): the program's
//!   peer must not receive trace text.
//! - When tracing is off, a call (`run`) and each trace point (`ktrace!`)
//!   cost one relaxed load of log's max level and a branch; the filter
//!   lookup and the formatting are out of line.
//! - Logging never panics, also in exit handlers that run after the
//!   thread's TLS was destroyed: the path then goes to a process-wide list.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Mutex;

/// The log target of the call lines.
pub const CALL: &str = "netshim::call";
/// The log target of the kernel-path lines.
pub const KERNEL: &str = "netshim::kernel";

thread_local! {
    /// The kernel path of the call in progress on this thread.
    static PATH: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// The return value of the call being traced (read by argument
    /// formatters that print what the call wrote, as strace does on exit).
    static RET: Cell<i64> = const { Cell::new(0) };
    /// How the return value reads when strace decodes it (`0x2 (flags
    /// O_RDWR)` for F_GETFL), set by the argument formatter.
    static RET_TEXT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The path of calls made after this thread's TLS was torn down (the
/// exit handlers run after glibc destroyed the main thread's TLS).
static LATE_PATH: Mutex<Vec<String>> = Mutex::new(Vec::new());
static LATE_USED: AtomicBool = AtomicBool::new(false);

/// `ktrace!("unix_stream_connect")`: records a kernel function on the path.
/// The arguments are evaluated only when the kernel path is traced.
///
/// What is inlined at a trace point is `kernel_on()` (one relaxed load and
/// a compare) and the call of a closure-taking cold function: the
/// formatting, and log's filter lookup, stay out of line. A fatter point
/// (log's own `log_enabled!` and a `format_args!` built in place) made the
/// functions that hold one too big to inline: `__sys_sendmsg` and
/// `__sys_recvmsg` stayed calls: 44 instructions per emulated read or write
/// over a build with the points compiled out (callgrind), now about 27.
#[macro_export]
macro_rules! ktrace {
    ($($arg:tt)*) => {
        if $crate::trace::kernel_on() {
            $crate::trace::push_with(|| ::std::format!($($arg)*));
        }
    };
}

/// Whether the kernel path is traced: log's global level first (a relaxed
/// load), the per-target filter only when that level lets trace through.
#[inline(always)]
pub fn kernel_on() -> bool {
    cfg!(not(feature = "notrace")) && log::max_level() >= log::LevelFilter::Trace && target_on(KERNEL, log::Level::Trace)
}

/// The filter of one target, out of line (a call through the logger).
#[cold]
#[inline(never)]
fn target_on(target: &str, level: log::Level) -> bool {
    log::logger().enabled(&log::Metadata::builder().level(level).target(target).build())
}

/// `ktrace!`'s out-of-line half: the formatting.
#[cold]
#[inline(never)]
pub fn push_with(f: impl FnOnce() -> String) {
    push(f());
}

pub fn push(s: String) {
    let mut s = Some(s);
    let _ = PATH.try_with(|p| {
        if let Ok(mut v) = p.try_borrow_mut() {
            if let Some(s) = s.take() {
                v.push(s);
            }
        }
    });
    if let Some(s) = s {
        LATE_USED.store(true, Ordering::Relaxed);
        LATE_PATH.lock().unwrap_or_else(|e| e.into_inner()).push(s);
    }
}

/// Takes the recorded path (emptying it).
pub fn take_path() -> Vec<String> {
    let mut v = PATH.try_with(|p| p.try_borrow_mut().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default()).unwrap_or_default();
    if LATE_USED.swap(false, Ordering::Relaxed) {
        v.append(&mut LATE_PATH.lock().unwrap_or_else(|e| e.into_inner()));
    }
    v
}

/// Forgets a path recorded outside a traced call (so that it is not
/// printed under the next call's line).
#[inline]
pub fn clear_path() {
    if kernel_on() {
        drop_path();
    }
}

#[cold]
#[inline(never)]
fn drop_path() {
    take_path();
}

/// Whether any trace line can be wanted (log's level lets debug through):
/// the first, cheap, test of `run`.
#[inline(always)]
pub fn any_on() -> bool {
    cfg!(not(feature = "notrace")) && log::max_level() >= log::LevelFilter::Debug
}

/// Whether per-call lines are wanted.
#[inline]
pub fn calls_enabled() -> bool {
    any_on() && target_on(CALL, log::Level::Debug)
}

/// Sets the return value the argument formatters of this call see.
pub fn set_ret(v: i64) {
    let _ = RET.try_with(|r| r.set(v));
    let _ = RET_TEXT.try_with(|r| r.take());
}

/// The return value of the call being traced (bytes read, for instance);
/// negative when it failed.
pub fn ret() -> i64 {
    RET.try_with(|r| r.get()).unwrap_or(-1)
}

/// Shows the return value of the call being traced as `t`.
pub fn set_ret_text(t: String) {
    let _ = RET_TEXT.try_with(|r| r.replace(Some(t)));
}

fn take_ret_text() -> Option<String> {
    RET_TEXT.try_with(|r| r.take()).ok().flatten()
}

/// `[pid N]`: the thread id, as `strace -f` labels lines.
fn pid_tag() -> u32 {
    crate::sys::gettid()
}

/// Emits the strace-like line for a finished call, then its kernel path.
pub fn call(name: &str, args: &str, ret: i64, err: Option<crate::errno::Errno>, emulated: bool) {
    let pid = pid_tag();
    let tag = if emulated { "" } else { " [kernel]" };
    match err {
        Some(e) => log::debug!(target: "netshim::call", "[pid {pid}] {name}({args}) = -1 {e}{tag}"),
        None => {
            let shown = take_ret_text().unwrap_or_else(|| ret.to_string());
            log::debug!(target: "netshim::call", "[pid {pid}] {name}({args}) = {shown}{tag}")
        }
    }
    path_line(pid);
}

/// The kernel path recorded so far, on its own line.
fn path_line(pid: u32) {
    let path = take_path();
    if !path.is_empty() {
        log::trace!(target: "netshim::kernel", "[pid {pid}]   {}", path.join(" -> "));
    }
}

/// The exit path closed this process's sockets: a line for it, as strace
/// ends a process with `+++ exited +++`, and the kernel path of the closes.
pub fn exit_line() {
    if !calls_enabled() {
        return;
    }
    let path = take_path();
    if path.is_empty() {
        return;
    }
    let pid = pid_tag();
    log::debug!(target: "netshim::call", "[pid {pid}] +++ exiting: emulated sockets released +++");
    log::trace!(target: "netshim::kernel", "[pid {pid}]   do_exit -> exit_files -> {}", path.join(" -> "));
}

// ----- the logger --------------------------------------------------------------------

/// The trace file's fd (NETSHIM_TRACE_FILE), -1 for fd 2.
static FILE_FD: AtomicI32 = AtomicI32::new(-1);
static FILE_ID: AtomicU64 = AtomicU64::new(0);
static FILE_PATH: once_cell::sync::OnceCell<std::ffi::CString> = once_cell::sync::OnceCell::new();

fn open_trace_file() -> Option<i32> {
    let path = FILE_PATH.get()?;
    let fd = crate::sys::open_append(path).ok()?;
    let fd = crate::ffi::poll::high_fd(fd);
    let (dev, ino, _) = crate::sys::fstat_id(fd).ok()?;
    FILE_ID.store(dev.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ino, Ordering::Relaxed);
    FILE_FD.store(fd, Ordering::Relaxed);
    Some(fd)
}

/// Where a line goes now: the trace file (opened again if the program
/// closed or replaced our fd), else fd 2 unless it is an emulated socket.
fn sink_fd() -> Option<i32> {
    if FILE_PATH.get().is_some() {
        let fd = FILE_FD.load(Ordering::Relaxed);
        let ours = fd >= 0 && matches!(crate::sys::fstat_id(fd), Ok((d, i, _)) if d.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i == FILE_ID.load(Ordering::Relaxed));
        if ours {
            return Some(fd);
        }
        if let Some(fd) = open_trace_file() {
            return Some(fd);
        }
        // The file cannot be opened (a read-only directory, a chroot...):
        // fd 2 rather than nothing.
    }
    match crate::ffi::attached_host() {
        Some(h) if crate::task::lookup(h, 2).is_some() => None,
        _ => Some(2),
    }
}

/// env_logger's output: each formatted record in one write(2).
struct Sink;

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Some(fd) = sink_fd() {
            let mut rest = b;
            while !rest.is_empty() {
                match crate::sys::write(fd, rest) {
                    Ok(0) => break,
                    Ok(n) => rest = &rest[n..],
                    Err(e) if e == crate::errno::Errno::EINTR => {}
                    Err(_) => break,
                }
            }
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sets up env_logger once (NETSHIM_LOG, falling back to RUST_LOG).
pub fn init() {
    let filter = std::env::var("NETSHIM_LOG").or_else(|_| std::env::var("RUST_LOG"));
    let Ok(f) = filter else { return };
    if let Some(p) = std::env::var_os("NETSHIM_TRACE_FILE").filter(|p| !p.is_empty()) {
        let p = std::path::absolute(&p).unwrap_or_else(|_| p.into());
        if let Ok(c) = std::ffi::CString::new(p.into_os_string().into_encoded_bytes()) {
            let _ = FILE_PATH.set(c);
            open_trace_file();
        }
    }
    let _ = env_logger::Builder::new()
        .parse_filters(&f)
        .format(|buf, r| {
            use std::io::Write;
            match r.target() {
                CALL | KERNEL => writeln!(buf, "{}", r.args()),
                t => writeln!(buf, "[{} {t}] {}", r.level(), r.args()),
            }
        })
        .target(env_logger::Target::Pipe(Box::new(Sink)))
        .try_init();
}

// ----- strace's argument formats -------------------------------------------------------

/// strace's default string limit (`-s 32`).
pub const STRLEN: usize = 32;

/// A string as strace quotes it: `"abc\n\0"`, octal escapes for other
/// bytes, `...` after it when `total` (the buffer's length) is longer
/// than what is shown.
pub fn quote(b: &[u8], total: usize) -> String {
    let mut s = String::with_capacity(b.len() + 2);
    s.push('"');
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            0x0b => s.push_str("\\v"),
            0x0c => s.push_str("\\f"),
            b'\r' => s.push_str("\\r"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                // \ooo when an octal digit follows, else the shortest form.
                s.push('\\');
                let next_octal = b.get(i + 1).is_some_and(|n| (b'0'..=b'7').contains(n));
                if next_octal || c >> 6 != 0 {
                    s.push((b'0' + (c >> 6)) as char);
                }
                if next_octal || c >> 3 != 0 {
                    s.push((b'0' + ((c >> 3) & 7)) as char);
                }
                s.push((b'0' + (c & 7)) as char);
            }
        }
    }
    s.push('"');
    if total > b.len() {
        s.push_str("...");
    }
    s
}

/// A buffer of the program's as strace prints it: its first 32 bytes
/// quoted, or the pointer if it cannot be read.
pub fn fmt_buf(ptr: usize, len: usize) -> String {
    match crate::ffi::uaccess::copy_from_user(ptr, len.min(STRLEN)) {
        Ok(b) if ptr != 0 || len == 0 => quote(&b, len),
        _ => fmt_ptr(ptr),
    }
}

/// A pointer: `NULL` or `0x7ffd...`.
pub fn fmt_ptr(ptr: usize) -> String {
    if ptr == 0 {
        "NULL".into()
    } else {
        format!("{ptr:#x}")
    }
}

/// `A|B|0x40` from a table of (bit, name); `0` for none.
fn flags(v: u64, table: &[(u64, &str)]) -> String {
    let mut parts = Vec::new();
    let mut rest = v;
    for &(bit, name) in table {
        if bit != 0 && v & bit == bit && rest & bit != 0 {
            parts.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        "0".into()
    } else {
        parts.join("|")
    }
}

const MSG_FLAGS: &[(u64, &str)] = &[
    (libc::MSG_OOB as u64, "MSG_OOB"),
    (libc::MSG_PEEK as u64, "MSG_PEEK"),
    (libc::MSG_DONTROUTE as u64, "MSG_DONTROUTE"),
    (libc::MSG_CTRUNC as u64, "MSG_CTRUNC"),
    (0x10, "MSG_PROXY"),
    (libc::MSG_TRUNC as u64, "MSG_TRUNC"),
    (libc::MSG_DONTWAIT as u64, "MSG_DONTWAIT"),
    (libc::MSG_EOR as u64, "MSG_EOR"),
    (libc::MSG_WAITALL as u64, "MSG_WAITALL"),
    (libc::MSG_FIN as u64, "MSG_FIN"),
    (libc::MSG_SYN as u64, "MSG_SYN"),
    (libc::MSG_CONFIRM as u64, "MSG_CONFIRM"),
    (libc::MSG_RST as u64, "MSG_RST"),
    (libc::MSG_ERRQUEUE as u64, "MSG_ERRQUEUE"),
    (libc::MSG_NOSIGNAL as u64, "MSG_NOSIGNAL"),
    (libc::MSG_MORE as u64, "MSG_MORE"),
    (libc::MSG_WAITFORONE as u64, "MSG_WAITFORONE"),
    (0x2000_0000, "MSG_FASTOPEN"),
    (libc::MSG_CMSG_CLOEXEC as u64, "MSG_CMSG_CLOEXEC"),
];

/// send/recv flags: `MSG_DONTWAIT|MSG_NOSIGNAL`, `0`.
pub fn fmt_msg_flags(f: i32) -> String {
    flags(f as u32 as u64, MSG_FLAGS)
}

/// accept4's and socket's SOCK_* flags: `SOCK_CLOEXEC|SOCK_NONBLOCK`, `0`.
pub fn fmt_sock_flags(f: i32) -> String {
    flags(f as u32 as u64, &[(libc::SOCK_CLOEXEC as u64, "SOCK_CLOEXEC"), (libc::SOCK_NONBLOCK as u64, "SOCK_NONBLOCK")])
}

/// open-style flags as fcntl F_SETFL/F_GETFL and dup3 print them.
pub fn fmt_open_flags(f: i32) -> String {
    let acc = match f & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        _ => "O_RDWR",
    };
    let rest = flags(
        (f & !libc::O_ACCMODE) as u32 as u64,
        &[
            (libc::O_APPEND as u64, "O_APPEND"),
            (libc::O_NONBLOCK as u64, "O_NONBLOCK"),
            (libc::O_DSYNC as u64, "O_DSYNC"),
            (libc::O_ASYNC as u64, "O_ASYNC"),
            (libc::O_DIRECT as u64, "O_DIRECT"),
            (libc::O_LARGEFILE as u64, "O_LARGEFILE"),
            (libc::O_NOATIME as u64, "O_NOATIME"),
            (libc::O_CLOEXEC as u64, "O_CLOEXEC"),
        ],
    );
    if rest == "0" {
        acc.into()
    } else {
        format!("{acc}|{rest}")
    }
}

/// dup3's flags: `O_CLOEXEC` or `0`.
pub fn fmt_cloexec_flag(f: i32) -> String {
    flags(f as u32 as u64, &[(libc::O_CLOEXEC as u64, "O_CLOEXEC")])
}

pub fn family_name(f: i32) -> String {
    match f {
        libc::AF_UNSPEC => "AF_UNSPEC".into(),
        libc::AF_UNIX => "AF_UNIX".into(),
        libc::AF_INET => "AF_INET".into(),
        libc::AF_INET6 => "AF_INET6".into(),
        libc::AF_NETLINK => "AF_NETLINK".into(),
        libc::AF_PACKET => "AF_PACKET".into(),
        libc::AF_VSOCK => "AF_VSOCK".into(),
        libc::AF_BLUETOOTH => "AF_BLUETOOTH".into(),
        libc::AF_ALG => "AF_ALG".into(),
        _ => format!("{f:#x} /* AF_??? */"),
    }
}

/// socket's type argument: `SOCK_STREAM|SOCK_CLOEXEC`.
pub fn type_name(t: i32) -> String {
    let base = match t & 0xf {
        libc::SOCK_STREAM => "SOCK_STREAM".to_string(),
        libc::SOCK_DGRAM => "SOCK_DGRAM".to_string(),
        libc::SOCK_SEQPACKET => "SOCK_SEQPACKET".to_string(),
        libc::SOCK_RAW => "SOCK_RAW".to_string(),
        libc::SOCK_RDM => "SOCK_RDM".to_string(),
        10 => "SOCK_PACKET".to_string(),
        x => format!("{x:#x} /* SOCK_??? */"),
    };
    let f = fmt_sock_flags(t & !0xf);
    if f == "0" {
        base
    } else {
        format!("{base}|{f}")
    }
}

/// socket's protocol argument: `IPPROTO_TCP` for the inet families, a
/// number for AF_UNIX (strace prints `0`).
pub fn protocol_name(family: i32, p: i32) -> String {
    if family != libc::AF_INET && family != libc::AF_INET6 {
        return p.to_string();
    }
    match p {
        libc::IPPROTO_IP => "IPPROTO_IP".into(),
        libc::IPPROTO_ICMP => "IPPROTO_ICMP".into(),
        libc::IPPROTO_TCP => "IPPROTO_TCP".into(),
        libc::IPPROTO_UDP => "IPPROTO_UDP".into(),
        libc::IPPROTO_ICMPV6 => "IPPROTO_ICMPV6".into(),
        libc::IPPROTO_SCTP => "IPPROTO_SCTP".into(),
        libc::IPPROTO_UDPLITE => "IPPROTO_UDPLITE".into(),
        libc::IPPROTO_RAW => "IPPROTO_RAW".into(),
        libc::IPPROTO_MPTCP => "IPPROTO_MPTCP".into(),
        _ => p.to_string(),
    }
}

/// Formats a sockaddr the way strace does (`b` is what the program
/// passed, its length the address length).
pub fn fmt_sockaddr(b: &[u8]) -> String {
    if b.len() < 2 {
        return "{sa_family=???}".into();
    }
    let fam = u16::from_ne_bytes([b[0], b[1]]) as i32;
    match fam {
        libc::AF_UNIX => {
            let path = &b[2..];
            if path.is_empty() {
                "{sa_family=AF_UNIX}".into()
            } else if path[0] == 0 && path.len() > 1 {
                format!("{{sa_family=AF_UNIX, sun_path=@{}}}", quote(&path[1..], 0))
            } else {
                let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
                format!("{{sa_family=AF_UNIX, sun_path={}}}", quote(&path[..end], 0))
            }
        }
        libc::AF_INET if b.len() >= 16 => {
            let port = u16::from_be_bytes([b[2], b[3]]);
            format!("{{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr(\"{}.{}.{}.{}\")}}", b[4], b[5], b[6], b[7])
        }
        libc::AF_INET6 if b.len() >= 24 => {
            let port = u16::from_be_bytes([b[2], b[3]]);
            let flow = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&b[8..24]);
            let ip = std::net::Ipv6Addr::from(ip);
            let scope = if b.len() >= 28 { format!(", sin6_scope_id={}", u32::from_ne_bytes([b[24], b[25], b[26], b[27]])) } else { String::new() };
            format!("{{sa_family=AF_INET6, sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), inet_pton(AF_INET6, \"{ip}\", &sin6_addr){scope}}}")
        }
        f => format!("{{sa_family={}, sa_data={}}}", family_name(f), quote(&b[2..b.len().min(16)], 0)),
    }
}

/// A sockaddr argument (address and length) read from the program.
pub fn fmt_addr_in(ptr: usize, len: u32) -> String {
    if ptr == 0 {
        return format!("NULL, {len}");
    }
    match crate::ffi::uaccess::copy_from_user(ptr, (len as usize).min(128)) {
        Ok(b) => format!("{}, {len}", fmt_sockaddr(&b)),
        Err(_) => format!("{ptr:#x}, {len}"),
    }
}

/// An address the call wrote (accept, getsockname, recvfrom): the sockaddr
/// and `[in => out]` lengths (`[n]` when they agree), or the pointers.
pub fn fmt_addr_out(ptr: usize, lenp: usize, len_in: Option<i32>, ok: bool) -> String {
    if ptr == 0 || lenp == 0 {
        return format!("{}, {}", fmt_ptr(ptr), fmt_ptr(lenp));
    }
    let Some(ulen) = len_in else { return format!("{ptr:#x}, {lenp:#x}") };
    let rlen = if ok { crate::ffi::uaccess::get_i32(lenp).ok() } else { None };
    match rlen {
        None => format!("{ptr:#x}, [{ulen}]"),
        Some(rlen) => {
            let shown = ulen.min(rlen).clamp(0, 128) as usize;
            let a = crate::ffi::uaccess::copy_from_user(ptr, shown).map(|b| fmt_sockaddr(&b)).unwrap_or_else(|_| format!("{ptr:#x}"));
            if ulen == rlen {
                format!("{a}, [{ulen}]")
            } else {
                format!("{a}, [{ulen} => {rlen}]")
            }
        }
    }
}

/// shutdown's `how`.
pub fn fmt_shut(how: i32) -> String {
    match how {
        libc::SHUT_RD => "SHUT_RD".into(),
        libc::SHUT_WR => "SHUT_WR".into(),
        libc::SHUT_RDWR => "SHUT_RDWR".into(),
        h => format!("{h:#x} /* SHUT_??? */"),
    }
}

fn level_name(level: i32) -> String {
    match level {
        libc::SOL_SOCKET => "SOL_SOCKET".into(),
        libc::IPPROTO_IP => "SOL_IP".into(),
        libc::IPPROTO_TCP => "SOL_TCP".into(),
        libc::IPPROTO_UDP => "SOL_UDP".into(),
        libc::IPPROTO_IPV6 => "SOL_IPV6".into(),
        l => l.to_string(),
    }
}

fn optname(level: i32, name: i32) -> String {
    let n: Option<&str> = match level {
        libc::SOL_SOCKET => match name {
            libc::SO_DEBUG => Some("SO_DEBUG"),
            libc::SO_REUSEADDR => Some("SO_REUSEADDR"),
            libc::SO_TYPE => Some("SO_TYPE"),
            libc::SO_ERROR => Some("SO_ERROR"),
            libc::SO_DONTROUTE => Some("SO_DONTROUTE"),
            libc::SO_BROADCAST => Some("SO_BROADCAST"),
            libc::SO_SNDBUF => Some("SO_SNDBUF"),
            libc::SO_RCVBUF => Some("SO_RCVBUF"),
            libc::SO_KEEPALIVE => Some("SO_KEEPALIVE"),
            libc::SO_OOBINLINE => Some("SO_OOBINLINE"),
            libc::SO_NO_CHECK => Some("SO_NO_CHECK"),
            libc::SO_PRIORITY => Some("SO_PRIORITY"),
            libc::SO_LINGER => Some("SO_LINGER"),
            libc::SO_REUSEPORT => Some("SO_REUSEPORT"),
            libc::SO_PASSCRED => Some("SO_PASSCRED"),
            libc::SO_PEERCRED => Some("SO_PEERCRED"),
            libc::SO_RCVLOWAT => Some("SO_RCVLOWAT"),
            libc::SO_SNDLOWAT => Some("SO_SNDLOWAT"),
            20 => Some("SO_RCVTIMEO_OLD"),
            21 => Some("SO_SNDTIMEO_OLD"),
            libc::SO_BINDTODEVICE => Some("SO_BINDTODEVICE"),
            libc::SO_TIMESTAMP => Some("SO_TIMESTAMP_OLD"),
            libc::SO_ACCEPTCONN => Some("SO_ACCEPTCONN"),
            libc::SO_PEERSEC => Some("SO_PEERSEC"),
            libc::SO_SNDBUFFORCE => Some("SO_SNDBUFFORCE"),
            libc::SO_RCVBUFFORCE => Some("SO_RCVBUFFORCE"),
            libc::SO_PASSSEC => Some("SO_PASSSEC"),
            libc::SO_MARK => Some("SO_MARK"),
            libc::SO_PROTOCOL => Some("SO_PROTOCOL"),
            libc::SO_DOMAIN => Some("SO_DOMAIN"),
            libc::SO_PEEK_OFF => Some("SO_PEEK_OFF"),
            libc::SO_BUSY_POLL => Some("SO_BUSY_POLL"),
            libc::SO_INCOMING_CPU => Some("SO_INCOMING_CPU"),
            libc::SO_ZEROCOPY => Some("SO_ZEROCOPY"),
            _ => None,
        },
        libc::IPPROTO_TCP => match name {
            libc::TCP_NODELAY => Some("TCP_NODELAY"),
            libc::TCP_MAXSEG => Some("TCP_MAXSEG"),
            libc::TCP_CORK => Some("TCP_CORK"),
            libc::TCP_KEEPIDLE => Some("TCP_KEEPIDLE"),
            libc::TCP_KEEPINTVL => Some("TCP_KEEPINTVL"),
            libc::TCP_KEEPCNT => Some("TCP_KEEPCNT"),
            libc::TCP_SYNCNT => Some("TCP_SYNCNT"),
            libc::TCP_LINGER2 => Some("TCP_LINGER2"),
            libc::TCP_DEFER_ACCEPT => Some("TCP_DEFER_ACCEPT"),
            libc::TCP_WINDOW_CLAMP => Some("TCP_WINDOW_CLAMP"),
            libc::TCP_INFO => Some("TCP_INFO"),
            libc::TCP_QUICKACK => Some("TCP_QUICKACK"),
            libc::TCP_CONGESTION => Some("TCP_CONGESTION"),
            libc::TCP_USER_TIMEOUT => Some("TCP_USER_TIMEOUT"),
            libc::TCP_FASTOPEN => Some("TCP_FASTOPEN"),
            25 => Some("TCP_NOTSENT_LOWAT"),
            _ => None,
        },
        libc::IPPROTO_IP => match name {
            libc::IP_TOS => Some("IP_TOS"),
            libc::IP_TTL => Some("IP_TTL"),
            libc::IP_HDRINCL => Some("IP_HDRINCL"),
            libc::IP_OPTIONS => Some("IP_OPTIONS"),
            libc::IP_RECVOPTS => Some("IP_RECVOPTS"),
            libc::IP_PKTINFO => Some("IP_PKTINFO"),
            libc::IP_MTU_DISCOVER => Some("IP_MTU_DISCOVER"),
            libc::IP_RECVERR => Some("IP_RECVERR"),
            libc::IP_RECVTTL => Some("IP_RECVTTL"),
            libc::IP_RECVTOS => Some("IP_RECVTOS"),
            libc::IP_MTU => Some("IP_MTU"),
            libc::IP_FREEBIND => Some("IP_FREEBIND"),
            libc::IP_TRANSPARENT => Some("IP_TRANSPARENT"),
            24 => Some("IP_BIND_ADDRESS_NO_PORT"),
            libc::IP_MULTICAST_IF => Some("IP_MULTICAST_IF"),
            libc::IP_MULTICAST_TTL => Some("IP_MULTICAST_TTL"),
            libc::IP_MULTICAST_LOOP => Some("IP_MULTICAST_LOOP"),
            libc::IP_ADD_MEMBERSHIP => Some("IP_ADD_MEMBERSHIP"),
            libc::IP_DROP_MEMBERSHIP => Some("IP_DROP_MEMBERSHIP"),
            _ => None,
        },
        libc::IPPROTO_IPV6 => match name {
            libc::IPV6_UNICAST_HOPS => Some("IPV6_UNICAST_HOPS"),
            libc::IPV6_MULTICAST_IF => Some("IPV6_MULTICAST_IF"),
            libc::IPV6_MULTICAST_HOPS => Some("IPV6_MULTICAST_HOPS"),
            libc::IPV6_MULTICAST_LOOP => Some("IPV6_MULTICAST_LOOP"),
            libc::IPV6_V6ONLY => Some("IPV6_V6ONLY"),
            libc::IPV6_RECVPKTINFO => Some("IPV6_RECVPKTINFO"),
            libc::IPV6_PKTINFO => Some("IPV6_PKTINFO"),
            libc::IPV6_TCLASS => Some("IPV6_TCLASS"),
            libc::IPV6_RECVTCLASS => Some("IPV6_RECVTCLASS"),
            _ => None,
        },
        libc::IPPROTO_UDP => match name {
            1 => Some("UDP_CORK"),
            103 => Some("UDP_SEGMENT"),
            104 => Some("UDP_GRO"),
            _ => None,
        },
        _ => None,
    };
    n.map(str::to_string).unwrap_or_else(|| name.to_string())
}

/// An option value as strace shows it: `[1]` for an int, the linger and
/// timeval structs, else the bytes.
fn fmt_optval(level: i32, name: i32, ptr: usize, len: usize) -> String {
    if ptr == 0 {
        return "NULL".into();
    }
    let Ok(b) = crate::ffi::uaccess::copy_from_user(ptr, len.min(64)) else { return format!("{ptr:#x}") };
    let i32_at = |i: usize| i32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let i64_at = |i: usize| i64::from_ne_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
    match (level, name, len) {
        (libc::SOL_SOCKET, libc::SO_LINGER, 8) => format!("{{l_onoff={}, l_linger={}}}", i32_at(0), i32_at(4)),
        (libc::SOL_SOCKET, 20 | 21, 16) => format!("{{tv_sec={}, tv_usec={}}}", i64_at(0), i64_at(8)),
        (libc::SOL_SOCKET, libc::SO_PEERCRED, 12) => format!("{{pid={}, uid={}, gid={}}}", i32_at(0), i32_at(4) as u32, i32_at(8) as u32),
        (_, _, 4) => format!("[{}]", i32_at(0)),
        _ => quote(&b, len),
    }
}

/// setsockopt's arguments: `3, SOL_SOCKET, SO_REUSEADDR, [1], 4`.
pub fn fmt_setsockopt(fd: i32, level: i32, name: i32, val: usize, len: u32) -> String {
    format!("{fd}, {}, {}, {}, {len}", level_name(level), optname(level, name), fmt_optval(level, name, val, len as usize))
}

/// getsockopt's arguments, as written by the call: `..., [0], [4]`.
pub fn fmt_getsockopt(fd: i32, level: i32, name: i32, val: usize, lenp: usize, len_in: Option<i32>, ok: bool) -> String {
    let head = format!("{fd}, {}, {}", level_name(level), optname(level, name));
    let out_len = if ok { crate::ffi::uaccess::get_i32(lenp).ok() } else { None };
    match (out_len, len_in) {
        (Some(n), Some(i)) => {
            let v = fmt_optval(level, name, val, n.max(0) as usize);
            if n == i {
                format!("{head}, {v}, [{n}]")
            } else {
                format!("{head}, {v}, [{i} => {n}]")
            }
        }
        (_, Some(i)) => format!("{head}, {}, [{i}]", fmt_ptr(val)),
        _ => format!("{head}, {}, {}", fmt_ptr(val), fmt_ptr(lenp)),
    }
}

/// An iovec array: `[{iov_base="abc", iov_len=3}]`, showing at most
/// `limit` bytes of data in all (what was sent or received).
pub fn fmt_iov(ptr: usize, cnt: usize, limit: Option<usize>) -> String {
    let Ok(v) = crate::ffi::uaccess::read_iovecs(ptr, cnt.min(1024)) else { return fmt_ptr(ptr) };
    let mut left = limit.unwrap_or(usize::MAX);
    let mut parts = Vec::new();
    for (i, &(base, len)) in v.iter().enumerate() {
        if i == STRLEN {
            parts.push("...".to_string());
            break;
        }
        let base_s = if limit.is_some() && left == 0 {
            fmt_ptr(base)
        } else {
            let n = len.min(left);
            left -= n;
            fmt_buf(base, n)
        };
        parts.push(format!("{{iov_base={base_s}, iov_len={len}}}"));
    }
    format!("[{}]", parts.join(", "))
}

fn fmt_cmsgs(b: &[u8]) -> String {
    let hdr = core::mem::size_of::<libc::cmsghdr>();
    let mut out = Vec::new();
    let mut off = 0;
    while off + hdr <= b.len() {
        let len = usize::from_ne_bytes(b[off..off + 8].try_into().unwrap_or([0; 8]));
        let level = i32::from_ne_bytes(b[off + 8..off + 12].try_into().unwrap_or([0; 4]));
        let ty = i32::from_ne_bytes(b[off + 12..off + 16].try_into().unwrap_or([0; 4]));
        if len < hdr {
            break;
        }
        let data = &b[(off + hdr).min(b.len())..(off + len).min(b.len())];
        let (tname, d) = match (level, ty) {
            (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
                let fds: Vec<String> = data.chunks_exact(4).map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]).to_string()).collect();
                ("SCM_RIGHTS".to_string(), format!("[{}]", fds.join(", ")))
            }
            (libc::SOL_SOCKET, libc::SCM_CREDENTIALS) if data.len() >= 12 => {
                let w = |i: usize| u32::from_ne_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
                ("SCM_CREDENTIALS".to_string(), format!("{{pid={}, uid={}, gid={}}}", w(0), w(4), w(8)))
            }
            _ => (ty.to_string(), quote(&data[..data.len().min(STRLEN)], data.len())),
        };
        out.push(format!("{{cmsg_len={len}, cmsg_level={}, cmsg_type={tname}, cmsg_data={d}}}", level_name(level)));
        off += (len + 7) & !7;
    }
    format!("[{}]", out.join(", "))
}

/// A msghdr: `{msg_name=..., msg_namelen=N, msg_iov=[...], msg_iovlen=N,
/// msg_control=[...], msg_controllen=N, msg_flags=...}`. For recvmsg
/// (`received`: the byte count) it shows what the call wrote.
pub fn fmt_msghdr(m: usize, received: Option<usize>) -> String {
    let Ok(b) = crate::ffi::uaccess::copy_from_user(m, core::mem::size_of::<libc::msghdr>()) else { return fmt_ptr(m) };
    let u = |i: usize| usize::from_ne_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
    let (name, namelen, iov, iovlen, control, controllen) = (u(0), u32::from_ne_bytes([b[8], b[9], b[10], b[11]]), u(16), u(24), u(32), u(40));
    let msg_flags = i32::from_ne_bytes([b[48], b[49], b[50], b[51]]);
    let name_s = if name == 0 || namelen == 0 {
        fmt_ptr(name)
    } else {
        crate::ffi::uaccess::copy_from_user(name, (namelen as usize).min(128)).map(|a| fmt_sockaddr(&a)).unwrap_or_else(|_| fmt_ptr(name))
    };
    let ctl = if control != 0 && controllen > 0 {
        let c = crate::ffi::uaccess::copy_from_user(control, controllen.min(4096)).map(|c| fmt_cmsgs(&c)).unwrap_or_else(|_| fmt_ptr(control));
        format!("msg_control={ctl}, ", ctl = c)
    } else {
        String::new()
    };
    format!(
        "{{msg_name={name_s}, msg_namelen={namelen}, msg_iov={}, msg_iovlen={iovlen}, {ctl}msg_controllen={controllen}, msg_flags={}}}",
        fmt_iov(iov, iovlen, received),
        fmt_msg_flags(msg_flags)
    )
}

/// fcntl's command and argument: `F_SETFL, O_RDWR|O_NONBLOCK`, `F_GETFL`.
pub fn fmt_fcntl(fd: i32, cmd: i32, arg: u64) -> String {
    let r = ret();
    match cmd {
        libc::F_GETFL if r >= 0 => set_ret_text(format!("{r:#x} (flags {})", fmt_open_flags(r as i32))),
        libc::F_GETFD if r > 0 => set_ret_text(format!("{r:#x} (flags {})", if r as i32 & libc::FD_CLOEXEC != 0 { "FD_CLOEXEC" } else { "0" })),
        _ => {}
    }
    match cmd {
        libc::F_GETFL => format!("{fd}, F_GETFL"),
        libc::F_GETFD => format!("{fd}, F_GETFD"),
        libc::F_SETFL => format!("{fd}, F_SETFL, {}", fmt_open_flags(arg as i32)),
        libc::F_SETFD => format!("{fd}, F_SETFD, {}", if arg as i32 & libc::FD_CLOEXEC != 0 { "FD_CLOEXEC" } else { "0" }),
        libc::F_DUPFD => format!("{fd}, F_DUPFD, {}", arg as i32),
        libc::F_DUPFD_CLOEXEC => format!("{fd}, F_DUPFD_CLOEXEC, {}", arg as i32),
        libc::F_GETOWN => format!("{fd}, F_GETOWN"),
        libc::F_SETOWN => format!("{fd}, F_SETOWN, {}", arg as i32),
        c => format!("{fd}, {c:#x} /* F_??? */, {arg:#x}"),
    }
}

/// ioctl's request and argument, for the socket requests.
pub fn fmt_ioctl(fd: i32, req: u64, arg: u64, ok: bool) -> String {
    let int_arg = || crate::ffi::uaccess::get_i32(arg as usize).map(|v| format!("[{v}]")).unwrap_or_else(|_| fmt_ptr(arg as usize));
    let out_arg = || if ok { int_arg() } else { fmt_ptr(arg as usize) };
    match req {
        libc::FIONBIO => format!("{fd}, FIONBIO, {}", int_arg()),
        libc::FIOASYNC => format!("{fd}, FIOASYNC, {}", int_arg()),
        libc::FIOCLEX => format!("{fd}, FIOCLEX"),
        libc::FIONCLEX => format!("{fd}, FIONCLEX"),
        libc::FIONREAD => format!("{fd}, FIONREAD, {}", out_arg()),
        libc::TIOCOUTQ => format!("{fd}, TIOCOUTQ, {}", out_arg()),
        0x8905 => format!("{fd}, SIOCATMARK, {}", out_arg()),
        0x894b => format!("{fd}, SIOCOUTQNSD, {}", out_arg()),
        r => format!("{fd}, {r:#x}, {arg:#x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_as_strace_does() {
        assert_eq!(quote(b"hi\n", 3), "\"hi\\n\"");
        assert_eq!(quote(b"a\0b", 3), "\"a\\0b\"");
        assert_eq!(quote(b"\x001", 2), "\"\\0001\"");
        assert_eq!(quote(b"\xff\"\\", 3), "\"\\377\\\"\\\\\"");
        assert_eq!(quote(b"abc", 1024), "\"abc\"...");
    }

    #[test]
    fn sockaddrs_as_strace() {
        let mut un = vec![1u8, 0];
        un.extend_from_slice(b"/tmp/s\0");
        un.resize(110, 0);
        assert_eq!(fmt_sockaddr(&un), "{sa_family=AF_UNIX, sun_path=\"/tmp/s\"}");
        let abs = [1u8, 0, 0, b'x', b'y'];
        assert_eq!(fmt_sockaddr(&abs), "{sa_family=AF_UNIX, sun_path=@\"xy\"}");
        assert_eq!(fmt_sockaddr(&[1u8, 0]), "{sa_family=AF_UNIX}");
        let v4 = [2u8, 0, 0x1e, 0x61, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(fmt_sockaddr(&v4), "{sa_family=AF_INET, sin_port=htons(7777), sin_addr=inet_addr(\"127.0.0.1\")}");
        let mut v6 = vec![10u8, 0, 0x1e, 0x61, 0, 0, 0, 0];
        v6.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
        v6.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            fmt_sockaddr(&v6),
            "{sa_family=AF_INET6, sin6_port=htons(7777), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, \"::1\", &sin6_addr), sin6_scope_id=0}"
        );
    }

    #[test]
    fn flag_names() {
        assert_eq!(type_name(libc::SOCK_STREAM | libc::SOCK_CLOEXEC), "SOCK_STREAM|SOCK_CLOEXEC");
        assert_eq!(type_name(libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC), "SOCK_DGRAM|SOCK_CLOEXEC|SOCK_NONBLOCK");
        assert_eq!(fmt_sock_flags(0), "0");
        assert_eq!(fmt_sock_flags(libc::SOCK_CLOEXEC), "SOCK_CLOEXEC");
        assert_eq!(fmt_msg_flags(libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL), "MSG_DONTWAIT|MSG_NOSIGNAL");
        assert_eq!(fmt_msg_flags(0), "0");
        assert_eq!(protocol_name(libc::AF_INET, 6), "IPPROTO_TCP");
        assert_eq!(protocol_name(libc::AF_UNIX, 0), "0");
        assert_eq!(fmt_open_flags(libc::O_RDWR | libc::O_NONBLOCK), "O_RDWR|O_NONBLOCK");
    }

    #[test]
    fn errno_text() {
        assert_eq!(crate::errno::Errno::ECONNREFUSED.to_string(), "ECONNREFUSED (Connection refused)");
    }
}

//! Which answer the kernel beside the harness gives where kernels differ.
//!
//! Two kernel builds that both report 6.18.44 answer two conformance rules
//! differently (the shim's net/kver.rs): `listen` on a TCP socket after a
//! refused connect (EINVAL, or ok) and `setsockopt(IPV6_ADDRFORM)`
//! (ENOPROTOOPT, or the option exists). The release string does not tell
//! them apart, so the harness asks the kernel itself, once per run, and
//! gives the shim runs the matching `NETSHIM_KERNEL_RULES`. The cases then
//! compare in full on either kind of kernel: no divergence entry hides them.

use std::io;

/// The rule set of the running kernel, as `NETSHIM_KERNEL_RULES` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// listen refuses a once-connected socket; no IPV6_ADDRFORM.
    Strict,
    /// listen takes it; IPV6_ADDRFORM exists.
    Classic,
}

impl Rules {
    pub fn name(self) -> &'static str {
        match self {
            Rules::Strict => "strict",
            Rules::Classic => "classic",
        }
    }
}

/// What the two probes found; `None` for a probe the machine cannot run
/// (no IPv6, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub listen_after_refused_connect: Option<Rules>,
    pub ipv6_addrform: Option<Rules>,
}

impl Probe {
    /// The one rule set both probes agree on (or the one a probe found when
    /// the other could not run); `None` if they disagree or neither ran.
    pub fn rules(&self) -> Option<Rules> {
        match (self.listen_after_refused_connect, self.ipv6_addrform) {
            (Some(a), Some(b)) if a == b => Some(a),
            (Some(_), Some(_)) => None,
            (Some(a), None) | (None, Some(a)) => Some(a),
            (None, None) => None,
        }
    }
}

/// A socket fd closed on drop.
struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the fd was returned by socket() and is owned by this value.
        unsafe { libc::close(self.0) };
    }
}

fn socket(domain: i32) -> io::Result<Fd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(Fd(fd))
    }
}

fn loopback4(port_be: u16) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
    let mut a: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    a.sin_family = libc::AF_INET as libc::sa_family_t;
    a.sin_port = port_be;
    a.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
    a
}

const SIN_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;

/// A TCP socket connects to a loopback port that is bound but not
/// listening (the kernel answers with a RST: ECONNREFUSED), then listens.
fn probe_listen() -> io::Result<Rules> {
    let holder = socket(libc::AF_INET)?;
    let mut a = loopback4(0);
    // SAFETY: `a` is a sockaddr_in of SIN_LEN bytes that outlives the call.
    if unsafe { libc::bind(holder.0, (&a as *const libc::sockaddr_in).cast(), SIN_LEN) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut len = SIN_LEN;
    // SAFETY: `a` is writable for `len` bytes; `len` is a valid socklen_t.
    if unsafe { libc::getsockname(holder.0, (&mut a as *mut libc::sockaddr_in).cast(), &mut len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let s = socket(libc::AF_INET)?;
    // SAFETY: as for bind above.
    let rc = unsafe { libc::connect(s.0, (&a as *const libc::sockaddr_in).cast(), SIN_LEN) };
    let err = io::Error::last_os_error();
    if rc == 0 || err.raw_os_error() != Some(libc::ECONNREFUSED) {
        return Err(io::Error::other(format!("connect to a bound, unlistened port: {rc} {err}")));
    }
    // SAFETY: plain syscall on an fd we own.
    if unsafe { libc::listen(s.0, 1) } == 0 {
        return Ok(Rules::Classic);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL) => Ok(Rules::Strict),
        _ => Err(err),
    }
}

/// IPV6_ADDRFORM on an unconnected TCPv6 socket: a kernel that has the
/// option refuses it with ENOTCONN, one that does not with ENOPROTOOPT.
fn probe_addrform() -> io::Result<Rules> {
    let s = socket(libc::AF_INET6)?;
    let v: libc::c_int = libc::AF_INET;
    // SAFETY: `v` is a c_int that outlives the call; the length matches.
    let rc = unsafe {
        libc::setsockopt(
            s.0,
            libc::IPPROTO_IPV6,
            libc::IPV6_ADDRFORM,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    let err = io::Error::last_os_error();
    match (rc, err.raw_os_error()) {
        (-1, Some(libc::ENOPROTOOPT)) => Ok(Rules::Strict),
        _ => Ok(Rules::Classic),
    }
}

/// Asks the running kernel.
pub fn probe() -> Probe {
    Probe {
        listen_after_refused_connect: probe_listen().ok(),
        ipv6_addrform: probe_addrform().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::{probe, Probe, Rules};

    #[test]
    fn agreement() {
        let p = |a, b| Probe { listen_after_refused_connect: a, ipv6_addrform: b };
        assert_eq!(p(Some(Rules::Strict), Some(Rules::Strict)).rules(), Some(Rules::Strict));
        assert_eq!(p(Some(Rules::Classic), None).rules(), Some(Rules::Classic));
        assert_eq!(p(Some(Rules::Classic), Some(Rules::Strict)).rules(), None);
        assert_eq!(p(None, None).rules(), None);
    }

    #[test]
    fn the_running_kernel_answers_the_listen_probe() {
        // Loopback TCP exists wherever the suites run.
        assert!(probe().listen_after_refused_connect.is_some());
    }
}

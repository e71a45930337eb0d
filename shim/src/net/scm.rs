//! net/core/scm.c and the SCM parts of net/unix (af_unix.c, garbage.c):
//! `__scm_send` (SCM_RIGHTS, SCM_CREDENTIALS), `scm_check_creds`,
//! `__scm_recv_common`, `scm_detach_fds`, the in-flight accounting
//! (`unix_inflight`/`unix_notinflight`) and `unix_gc`.
//!
//! A passed fd is either an emulated socket (the message holds a file
//! reference on it, `f_count`) or a real fd, which the kernel holds in
//! flight in a carrier (see `ffi::carrier`). `ScmFpList::items` keeps the
//! order of the sender's fds: a socket id, or `FP_REAL` for the next fd of
//! the carrier.

use super::sock::{Cred, SockId, SOCK_PASSCRED};
use super::socket::{fput, sock_map_fd, with_host, RecvMsg};
use super::sockopt::put_cmsg;
use crate::errno::{Errno, KResult};
use crate::ffi::carrier;
use crate::shm::{Host, HostState};
use std::sync::atomic::Ordering;

/// SCM_MAX_FD.
pub const SCM_MAX_FD: usize = 253;
/// An item that is the carrier's next real fd.
pub const FP_REAL: u32 = u32::MAX;
/// In a queued message's fd count: a carrier follows the items.
pub const FP_HAS_CARRIER: u32 = 0x8000;

/// The kernel socket that holds a message's real fds in flight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Carrier {
    pub pid: i32,
    pub fd: i32,
    pub ino: u64,
}

/// `struct scm_fp_list`.
#[derive(Clone, Debug, Default)]
pub struct ScmFpList {
    pub items: Vec<u32>,
    pub carrier: Option<Carrier>,
}

impl ScmFpList {
    /// The count as a queued message stores it (items | FP_HAS_CARRIER).
    pub fn raw_count(&self) -> u32 {
        self.items.len() as u32 | if self.carrier.is_some() { FP_HAS_CARRIER } else { 0 }
    }
    /// Bytes the list takes in a queue.
    pub fn encoded_len(raw_count: u32) -> usize {
        (raw_count & !FP_HAS_CARRIER) as usize * 4 + if raw_count & FP_HAS_CARRIER != 0 { 16 } else { 0 }
    }
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(Self::encoded_len(self.raw_count()));
        for i in &self.items {
            b.extend_from_slice(&i.to_ne_bytes());
        }
        if let Some(c) = self.carrier {
            b.extend_from_slice(&c.pid.to_ne_bytes());
            b.extend_from_slice(&c.fd.to_ne_bytes());
            b.extend_from_slice(&c.ino.to_ne_bytes());
        }
        b
    }
    pub fn decode(raw_count: u32, b: &[u8]) -> ScmFpList {
        let n = (raw_count & !FP_HAS_CARRIER) as usize;
        let u32_at = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let items = (0..n).map(|i| u32_at(i * 4)).collect();
        let carrier = (raw_count & FP_HAS_CARRIER != 0).then(|| {
            let o = n * 4;
            Carrier {
                pid: u32_at(o) as i32,
                fd: u32_at(o + 4) as i32,
                ino: u64::from_ne_bytes(b[o + 8..o + 16].try_into().unwrap_or([0; 8])),
            }
        });
        ScmFpList { items, carrier }
    }
    /// The emulated sockets in the list.
    pub fn socks(&self) -> impl Iterator<Item = SockId> + '_ {
        self.items.iter().filter(|&&i| i != FP_REAL).map(|&i| SockId(i))
    }
}

/// `struct scm_cookie` as unix_*_sendmsg uses it.
#[derive(Debug, Default)]
pub struct ScmCookie {
    pub fp: Option<ScmFpList>,
    /// Credentials given with SCM_CREDENTIALS (`scm->pid` set).
    pub creds: Option<Cred>,
}

/// No credentials: `UNIXCB(skb).pid` NULL, INVALID_UID / INVALID_GID.
pub const NO_CREDS: Cred = Cred { pid: 0, uid: u32::MAX, gid: u32::MAX };

fn cmsg_hdr(control: &[u8], off: usize) -> (usize, i32, i32) {
    let clen = u64::from_ne_bytes(control[off..off + 8].try_into().unwrap_or([0; 8])) as usize;
    let level = i32::from_ne_bytes(control[off + 8..off + 12].try_into().unwrap_or([0; 4]));
    let ty = i32::from_ne_bytes(control[off + 12..off + 16].try_into().unwrap_or([0; 4]));
    (clen, level, ty)
}

/// The sending task's tgid and `current_uid_gid` (the real ids, where
/// SO_PEERCRED reports the effective ones), as maybe_add_creds stores them.
pub fn current_uid_gid() -> Cred {
    // SAFETY: getuid and getgid cannot fail.
    unsafe { Cred { pid: crate::sys::getpid() as i32, uid: libc::getuid(), gid: libc::getgid() } }
}

/// getresuid / getresgid.
fn resids() -> ([u32; 3], [u32; 3]) {
    let mut u = [0u32; 3];
    let mut g = [0u32; 3];
    // SAFETY: getresuid/getresgid write three ids each into valid pointers.
    unsafe {
        libc::getresuid(&mut u[0], &mut u[1], &mut u[2]);
        libc::getresgid(&mut g[0], &mut g[1], &mut g[2]);
    }
    (u, g)
}

const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;
const CAP_SYS_ADMIN: u32 = 21;

/// `scm_check_creds`.
fn scm_check_creds(c: &Cred) -> KResult<()> {
    if c.uid == u32::MAX || c.gid == u32::MAX {
        return Err(Errno::EINVAL);
    }
    let (u, g) = resids();
    let pid_ok = c.pid == crate::sys::getpid() as i32 || crate::sys::capable(CAP_SYS_ADMIN);
    let uid_ok = u.contains(&c.uid) || crate::sys::capable(CAP_SETUID);
    let gid_ok = g.contains(&c.gid) || crate::sys::capable(CAP_SETGID);
    if pid_ok && uid_ok && gid_ok {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

/// `find_get_pid`: whether the pid names a task (a zombie still does).
fn pid_exists(pid: i32) -> bool {
    pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// `__scm_send` for an AF_UNIX socket (`scm_send(sock, msg, scm, false)`),
/// then `unix_attach_fds`' accounting of the passed sockets.
pub fn scm_send(host: &Host, control: &[u8]) -> KResult<ScmCookie> {
    const HDR: usize = 16;
    let mut cookie = ScmCookie::default();
    let mut socks: Vec<SockId> = Vec::new();
    let mut items: Vec<u32> = Vec::new();
    let mut real: Vec<i32> = Vec::new();
    let fail = |host: &Host, socks: &[SockId], e: Errno| -> KResult<ScmCookie> {
        with_host(host, |g| {
            for s in socks {
                fput(host, g, *s);
            }
        });
        Err(e)
    };
    // for_each_cmsghdr: CMSG_FIRSTHDR, then __CMSG_NXTHDR.
    let mut off = 0usize;
    while control.len() >= HDR && off + HDR <= control.len() {
        let (clen, level, ty) = cmsg_hdr(control, off);
        // CMSG_OK
        if clen < HDR || clen > control.len() - off {
            return fail(host, &socks, Errno::EINVAL);
        }
        if level == libc::SOL_SOCKET {
            match ty {
                libc::SCM_RIGHTS => {
                    // scm_fp_copy
                    let num = (clen - HDR) / 4;
                    if num > 0 {
                        if num > SCM_MAX_FD || items.len() + num > SCM_MAX_FD {
                            return fail(host, &socks, Errno::EINVAL);
                        }
                        for c in control[off + HDR..off + HDR + num * 4].chunks_exact(4) {
                            let fd = i32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
                            if fd < 0 {
                                return fail(host, &socks, Errno::EBADF);
                            }
                            match crate::task::lookup(host, fd) {
                                Some(e) => {
                                    // fget_raw
                                    with_host(host, |g| g.socks[e.sock.idx()].f_count += 1);
                                    socks.push(e.sock);
                                    items.push(e.sock.0);
                                }
                                None if carrier::valid(fd) => {
                                    real.push(fd);
                                    items.push(FP_REAL);
                                }
                                None => return fail(host, &socks, Errno::EBADF),
                            }
                        }
                    }
                }
                libc::SCM_CREDENTIALS => {
                    if clen != HDR + 12 {
                        return fail(host, &socks, Errno::EINVAL);
                    }
                    let d = &control[off + HDR..off + HDR + 12];
                    let i32_at = |i: usize| i32::from_ne_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
                    let c = Cred { pid: i32_at(0), uid: i32_at(4) as u32, gid: i32_at(8) as u32 };
                    if let Err(e) = scm_check_creds(&c) {
                        return fail(host, &socks, e);
                    }
                    let same = cookie.creds.is_some_and(|p| p.pid == c.pid);
                    if !same && !pid_exists(c.pid) {
                        return fail(host, &socks, Errno::ESRCH);
                    }
                    cookie.creds = Some(c);
                }
                _ => return fail(host, &socks, Errno::EINVAL),
            }
        }
        // __CMSG_NXTHDR
        let next = off + ((clen + 7) & !7);
        if next + HDR > control.len() {
            break;
        }
        off = next;
    }
    if items.is_empty() {
        return Ok(cookie);
    }
    let carrier = if real.is_empty() {
        None
    } else {
        match carrier::pack(&real) {
            Ok(c) => Some(c),
            Err(e) => return fail(host, &socks, e),
        }
    };
    // unix_attach_fds -> unix_inflight
    with_host(host, |g| {
        for s in &socks {
            unix_inflight(g, *s);
        }
    });
    cookie.fp = Some(ScmFpList { items, carrier });
    Ok(cookie)
}

/// `unix_inflight`: one more reference of this socket is in a queue.
fn unix_inflight(g: &mut HostState, s: SockId) {
    if g.socks[s.idx()].family == libc::AF_UNIX as u16 {
        g.socks[s.idx()].unix_inflight += 1;
        g.unix_tot_inflight += 1;
        if g.socks[s.idx()].unix_inflight == 1 {
            // The first reference in flight: onto gc_inflight_list.
            g.gc_inflight_list.add(0, s.idx());
        }
    }
}

/// `unix_notinflight`.
fn unix_notinflight(g: &mut HostState, s: SockId) {
    let c = &mut g.socks[s.idx()];
    if c.family == libc::AF_UNIX as u16 && c.unix_inflight > 0 {
        c.unix_inflight -= 1;
        let none_left = c.unix_inflight == 0;
        g.unix_tot_inflight = g.unix_tot_inflight.saturating_sub(1);
        if none_left {
            g.gc_inflight_list.del(s.idx());
        }
    }
}

/// Processes that may hold a carrier: the namespace's and the keepers.
fn holders(g: &HostState) -> Vec<u32> {
    g.procs.iter().filter(|p| p.in_use).map(|p| p.pid).chain(g.scm_keepers.iter().copied().filter(|&k| k != 0)).collect()
}

/// `scm_fp_destroy` / `unix_destruct_scm` of a list never received: the
/// sockets' references are dropped, the carrier's files closed.
pub fn scm_fp_destroy(host: &Host, g: &mut HostState, fp: ScmFpList) {
    for s in fp.socks() {
        unix_notinflight(g, s);
        fput(host, g, s);
    }
    if let Some(c) = fp.carrier {
        carrier::close_all(&carrier::unpack(&c, false, &holders(g)));
    }
}

/// `scm_destroy` of a cookie whose message was not sent.
pub fn scm_destroy(host: &Host, cookie: &mut ScmCookie) {
    if let Some(fp) = cookie.fp.take() {
        with_host(host, |g| scm_fp_destroy(host, g, fp));
    }
}

/// The overflow ids (`from_kuid_munged` of an id with no mapping).
fn overflow_id(which: &str) -> u32 {
    std::fs::read_to_string(format!("/proc/sys/kernel/{which}")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(65534)
}

/// `scm_recv_unix` -> `__scm_recv_common`: SCM_CREDENTIALS if the socket
/// wants them, then `scm_detach_fds`. `fp` is owned (the message was
/// taken) unless `peek`, when the receiver gets new references and the
/// message keeps its own (`unix_peek_fds`).
pub fn scm_recv_unix(host: &Host, id: SockId, msg: &mut RecvMsg<'_>, creds: Cred, fp: Option<ScmFpList>, peek: bool) {
    carrier::maybe_sweep();
    let passcred = host.shared()[id.idx()].flag(SOCK_PASSCRED);
    if msg.control_cap == 0 {
        if passcred || fp.is_some() {
            msg.msg_flags |= libc::MSG_CTRUNC;
        }
        if let (Some(fp), false) = (fp, peek) {
            with_host(host, |g| scm_fp_destroy(host, g, fp));
        }
        return;
    }
    if passcred {
        let uid = if creds.uid == u32::MAX { overflow_id("overflowuid") } else { creds.uid };
        let gid = if creds.gid == u32::MAX { overflow_id("overflowgid") } else { creds.gid };
        let mut data = Vec::with_capacity(12);
        data.extend_from_slice(&creds.pid.to_ne_bytes());
        data.extend_from_slice(&uid.to_ne_bytes());
        data.extend_from_slice(&gid.to_ne_bytes());
        put_cmsg(msg, libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &data);
    }
    if let Some(fp) = fp {
        scm_detach_fds(host, msg, fp, peek);
    }
}

/// `scm_detach_fds`: as many fds as the control buffer has room for, in
/// order, each the lowest free number (`receive_fd`); MSG_CTRUNC if some
/// did not fit.
fn scm_detach_fds(host: &Host, msg: &mut RecvMsg<'_>, fp: ScmFpList, peek: bool) {
    const HDR: usize = 16;
    let cloexec = msg.msg_flags & libc::MSG_CMSG_CLOEXEC != 0;
    let room = msg.control_cap.saturating_sub(msg.control.len());
    let fdmax = if room <= HDR { 0 } else { (room - HDR) / 4 }.min(fp.items.len());
    let mut reals = match fp.carrier {
        Some(c) => {
            let pids = with_host(host, |g| holders(g));
            carrier::unpack(&c, peek, &pids)
        }
        None => Vec::new(),
    }
    .into_iter();
    let mut fds: Vec<i32> = Vec::new();
    let mut real_fds: Vec<i32> = Vec::new();
    let mut lost = false;
    with_host(host, |g| {
        for (i, &item) in fp.items.iter().enumerate() {
            if item == FP_REAL {
                let Some(parked) = reals.next() else {
                    lost = true;
                    continue;
                };
                if i < fdmax && !lost {
                    match carrier::place(parked, cloexec) {
                        Ok(fd) => {
                            fds.push(fd);
                            real_fds.push(fd);
                        }
                        Err(_) => lost = true,
                    }
                } else {
                    carrier::close_all(&[parked]);
                }
                continue;
            }
            let s = SockId(item);
            if i < fdmax && !lost {
                let flags = if cloexec { libc::SOCK_CLOEXEC } else { 0 };
                match sock_map_fd(host, g, s, flags) {
                    Ok(fd) => fds.push(fd),
                    Err(_) => lost = true,
                }
            }
            if !peek {
                // The in-flight reference goes (the fd, if any, has its own).
                unix_notinflight(g, s);
                fput(host, g, s);
            }
        }
    });
    carrier::close_all(&reals.collect::<Vec<_>>());
    // An epoll fd among them shares its instance (outside the host lock).
    for fd in real_fds {
        crate::ffi::epoll::received(fd);
    }
    if !fds.is_empty() {
        let data: Vec<u8> = fds.iter().flat_map(|f| f.to_ne_bytes()).collect();
        put_cmsg(msg, libc::SOL_SOCKET, libc::SCM_RIGHTS, &data);
    }
    if fds.len() < fp.items.len() {
        msg.msg_flags |= libc::MSG_CTRUNC;
    }
}

/// `unix_gc`: frees the sockets that only messages in flight refer to and
/// that no socket an fd refers to can reach (a socket sent over itself and
/// then closed, rings of such sockets): their queues are purged, which
/// drops the references that kept them. `passed` lists the sockets a
/// socket's queue holds in flight.
pub fn unix_gc(host: &Host, g: &mut HostState, passed: &dyn Fn(&Host, SockId) -> Vec<SockId>, purge: &dyn Fn(&Host, &mut HostState, SockId)) {
    static IN_GC: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if g.unix_tot_inflight == 0 || IN_GC.swap(true, Ordering::AcqRel) {
        return;
    }
    // Candidates, from gc_inflight_list (in slot order): every file
    // reference is an in-flight one.
    let mut cands: Vec<usize> = g
        .gc_inflight_list
        .iter(0)
        .filter(|&i| {
            let c = &g.socks[i];
            c.in_use && c.family == libc::AF_UNIX as u16 && c.f_count > 0 && c.f_count == c.unix_inflight
        })
        .collect();
    cands.sort_unstable();
    if !cands.is_empty() {
        let idx_of = |i: usize| cands.iter().position(|&c| c == i);
        let edges: Vec<Vec<SockId>> = cands.iter().map(|&c| passed(host, SockId(c as u32))).collect();
        // References from candidates' own queues do not count...
        let mut outside: Vec<i64> = cands.iter().map(|&c| g.socks[c].unix_inflight as i64).collect();
        for e in &edges {
            for s in e {
                if let Some(k) = idx_of(s.idx()) {
                    outside[k] -= 1;
                }
            }
        }
        // ...those left come from live queues: that candidate and all it
        // reaches are alive.
        let mut alive: Vec<bool> = outside.iter().map(|&n| n > 0).collect();
        let mut stack: Vec<usize> = (0..cands.len()).filter(|&k| alive[k]).collect();
        while let Some(k) = stack.pop() {
            for s in &edges[k] {
                if let Some(j) = idx_of(s.idx()) {
                    if !alive[j] {
                        alive[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        for (k, &c) in cands.iter().enumerate() {
            if !alive[k] && g.socks[c].in_use {
                crate::ktrace!("unix_gc: purge {}", c);
                purge(host, g, SockId(c as u32));
            }
        }
    }
    IN_GC.store(false, Ordering::Release);
}

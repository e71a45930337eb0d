//! TIME_WAIT: net/ipv4/inet_timewait_sock.c and tcp_minisocks.c
//! (`tcp_time_wait`), reduced to what the port table needs.
//!
//! When a TCP socket that sent its FIN first gets the peer's FIN, the
//! kernel replaces it by a small `inet_timewait_sock` that stays in the
//! bind bucket for TCP_TIMEWAIT_LEN (60 s): its port is taken, and a new
//! bind to it conflicts unless both the new socket and the TIME_WAIT one
//! have SO_REUSEADDR (`inet_bind_conflict`). An orphan (closed by its
//! user) waiting in FIN_WAIT2 for the peer's FIN is such an entry too
//! (substate FIN_WAIT2, for tcp_fin_timeout).
//!
//! Here an entry is a row of a fixed table in the shared host, freed
//! lazily once its deadline (CLOCK_MONOTONIC, the same in every process)
//! has passed. NETSHIM_TIME_WAIT sets the TIME_WAIT length in seconds
//! (default 60, as the kernel). A full table drops the entry, as the
//! kernel does past tcp_max_tw_buckets.

use super::addr::InetAddr;
use super::sock::{SockCtl, TcpState};
use crate::shm::hlist::{Hlist, SlotMap};
use crate::shm::{HostState, INET_BHASH_SIZE};

/// Entries a namespace holds at once (tcp_max_tw_buckets, scaled down).
pub const MAX_TW: usize = 4096;

/// TCP_TIMEWAIT_LEN in seconds.
const TCP_TIMEWAIT_LEN: u64 = 60;

/// One `inet_timewait_sock`: what the bind conflict and `ss` look at.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct InetTimewaitSock {
    pub in_use: bool,
    /// `tw_substate`: TIME_WAIT, or FIN_WAIT2 (an orphan waiting for the FIN).
    pub fin_wait2: bool,
    /// `tw_reuse`, `tw_reuseport`, `tw_ipv6only` (copied from the socket).
    pub reuse: bool,
    pub reuseport: bool,
    pub ipv6only: bool,
    pub family: u16,
    /// `tw_num`: the local port.
    pub num: u16,
    /// `sock_i_uid` of the socket it replaced.
    pub uid: u32,
    /// `tw_bound_dev_if`.
    pub bound_dev_if: i32,
    pub laddr: InetAddr,
    pub raddr: InetAddr,
    /// When the entry dies (CLOCK_MONOTONIC ns).
    pub expires_ns: u64,
}

/// The TIME_WAIT table of a host (under the host lock).
#[repr(C)]
pub struct TwTable {
    /// One past the highest slot in use: bounds the scans.
    pub hw: u32,
    pub ents: [InetTimewaitSock; MAX_TW],
    /// The entries by port, as the kernel keeps them in the bind buckets
    /// (`inet_twsk_bind_unhash`/`inet_twsk_hashdance_schedule`).
    bhash: Hlist<INET_BHASH_SIZE, MAX_TW>,
    /// Taken entry slots.
    slots: SlotMap<{ MAX_TW / 64 }, 1>,
    /// No entry expires before this (CLOCK_MONOTONIC ns): until then the
    /// purge has nothing to do.
    next_expiry: u64,
}

impl Default for InetTimewaitSock {
    /// A free slot: all zero, as a fresh shared mapping holds it.
    fn default() -> Self {
        let none = InetAddr { ip: [0; 16], port: 0, scope: 0, flowinfo: 0 };
        InetTimewaitSock {
            in_use: false,
            fin_wait2: false,
            reuse: false,
            reuseport: false,
            ipv6only: false,
            family: 0,
            num: 0,
            uid: 0,
            bound_dev_if: 0,
            laddr: none,
            raddr: none,
            expires_ns: 0,
        }
    }
}

impl InetTimewaitSock {
    pub fn state(&self) -> TcpState {
        if self.fin_wait2 {
            TcpState::FinWait2
        } else {
            TcpState::TimeWait
        }
    }
}

/// The TIME_WAIT length (NETSHIM_TIME_WAIT seconds, else TCP_TIMEWAIT_LEN).
fn timewait_len_ns() -> u64 {
    static V: once_cell::sync::OnceCell<u64> = once_cell::sync::OnceCell::new();
    *V.get_or_init(|| {
        let secs = std::env::var("NETSHIM_TIME_WAIT").ok().and_then(|v| v.parse::<u64>().ok()).unwrap_or(TCP_TIMEWAIT_LEN);
        secs.saturating_mul(1_000_000_000)
    })
}

/// net.ipv4.tcp_fin_timeout in seconds (read once).
fn sysctl_tcp_fin_timeout() -> u64 {
    static V: once_cell::sync::OnceCell<u64> = once_cell::sync::OnceCell::new();
    *V.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_fin_timeout").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(60)
    })
}

/// `tcp_fin_time`: how long an orphan stays in FIN_WAIT2 (TCP_LINGER2,
/// else tcp_fin_timeout), capped at the TIME_WAIT length as the FIN_WAIT2
/// substate is.
fn tcp_fin_time_ns(c: &SockCtl) -> u64 {
    let secs = if c.inet.linger2 > 0 { c.inet.linger2 as u64 } else { sysctl_tcp_fin_timeout() };
    secs.saturating_mul(1_000_000_000).min(timewait_len_ns())
}

/// The entries still alive at `now`.
pub fn live(t: &TwTable, now: u64) -> impl Iterator<Item = &InetTimewaitSock> + '_ {
    t.ents[..t.hw as usize].iter().filter(move |e| e.in_use && e.expires_ns > now)
}

/// The entries alive at `now` holding `port` (its bind chain).
pub fn owners(t: &TwTable, port: u16, now: u64) -> impl Iterator<Item = &InetTimewaitSock> + '_ {
    t.bhash.iter(port as usize).map(|i| &t.ents[i]).filter(move |e| e.in_use && e.num == port && e.expires_ns > now)
}

/// `inet_twsk_deschedule_put`: entry `i` goes.
fn tw_free(t: &mut TwTable, i: usize) {
    t.ents[i] = InetTimewaitSock::default();
    t.bhash.del(i);
    t.slots.clear(i);
}

/// `inet_twsk_deschedule_put` for every entry whose timer ran out (a scan
/// only once the earliest deadline has passed).
pub fn inet_twsk_purge(g: &mut HostState, now: u64) {
    let t = &mut g.tw;
    if now < t.next_expiry {
        return;
    }
    let mut next = u64::MAX;
    for i in 0..t.hw as usize {
        let e = &t.ents[i];
        if !e.in_use {
            continue;
        }
        if e.expires_ns <= now {
            tw_free(t, i);
        } else {
            next = next.min(e.expires_ns);
        }
    }
    t.next_expiry = next;
    while t.hw > 0 && !t.ents[t.hw as usize - 1].in_use {
        t.hw -= 1;
    }
}

/// `tcp_time_wait`: socket `c` goes to TIME_WAIT, or, an orphan, to the
/// FIN_WAIT2 substate. An entry already there for the same connection is
/// rescheduled (`inet_twsk_reschedule`); `orphan`: the socket was closed
/// and its FIN_WAIT2 entry is what gets the FIN, so only an entry still
/// alive is moved on (a dead one would have answered with a RST).
pub fn tcp_time_wait(g: &mut HostState, c_idx: usize, fin_wait2: bool, orphan: bool) {
    let now = crate::sys::monotonic_ns();
    let (entry, timeo) = {
        let c = &g.socks[c_idx];
        // TCP_LINGER2 < 0: tcp_close resets instead of waiting.
        if fin_wait2 && c.inet.linger2 < 0 {
            return;
        }
        let e = InetTimewaitSock {
            in_use: true,
            fin_wait2,
            reuse: c.opts.reuseaddr,
            reuseport: c.opts.reuseport,
            ipv6only: c.opts.v6only,
            family: c.family,
            // An orphan's inet_num is gone; inet_sport is still the port.
            num: if c.num != 0 { c.num } else { c.laddr.port },
            uid: c.cred.uid,
            bound_dev_if: c.opts.bound_dev_if,
            laddr: c.laddr,
            raddr: c.raddr,
            expires_ns: 0,
        };
        (e, if fin_wait2 { tcp_fin_time_ns(c) } else { timewait_len_ns() })
    };
    if entry.num == 0 || timeo == 0 {
        return;
    }
    inet_twsk_purge(g, now);
    let t = &mut g.tw;
    let same = |e: &InetTimewaitSock| {
        e.in_use && e.family == entry.family && e.num == entry.num && e.laddr.ip == entry.laddr.ip && e.raddr == entry.raddr
    };
    // The first such entry in slot order, as a scan of the table finds it.
    let slot = match t.bhash.iter(entry.num as usize).filter(|&i| same(&t.ents[i])).min() {
        Some(i) => Some(i),
        None if orphan => return,
        None => {
            let ents = &t.ents;
            t.slots.alloc(|i| !ents[i].in_use)
        }
    };
    let Some(i) = slot else {
        crate::ktrace!("tcp_time_wait: TCP: time wait bucket table overflow");
        return;
    };
    crate::ktrace!("tcp_time_wait -> inet_twsk_hashdance_schedule");
    let laddr = entry.laddr.with_port(entry.num);
    let expires_ns = now.saturating_add(timeo);
    t.ents[i] = InetTimewaitSock { expires_ns, laddr, ..entry };
    t.bhash.add(entry.num as usize, i);
    t.next_expiry = t.next_expiry.min(expires_ns);
    if i >= t.hw as usize {
        t.hw = i as u32 + 1;
    }
}

/// `inet_twsk_deschedule_put` for the entry socket `c_idx` (an orphan)
/// left: a segment it could not take was answered by a RST.
pub fn inet_twsk_kill(g: &mut HostState, c_idx: usize) {
    let (family, num, lip, raddr) = {
        let c = &g.socks[c_idx];
        (c.family, if c.num != 0 { c.num } else { c.laddr.port }, c.laddr.ip, c.raddr)
    };
    let t = &mut g.tw;
    let hit: Vec<usize> = t
        .bhash
        .iter(num as usize)
        .filter(|&i| {
            let e = &t.ents[i];
            e.in_use && e.family == family && e.num == num && e.laddr.ip == lip && e.raddr == raddr
        })
        .collect();
    for i in hit {
        crate::ktrace!("tcp_timewait_state_process -> TCP_TW_RST -> inet_twsk_deschedule_put");
        tw_free(t, i);
    }
}

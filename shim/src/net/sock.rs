//! The socket object: `struct socket` + `struct sock` + its `struct file`.
//!
//! In the kernel a socket has exactly one `struct file`, which every fd
//! (dup, fork, SCM_RIGHTS) shares; so the emulation keeps one object per
//! socket and splits it by who may touch what:
//! - `SockCtl`, under the host lock: identity, names, options, the accept
//!   queue, reference counts. Connect, bind, accept and close work here.
//! - `SockShared`, lock-free words and the receive-queue lock: what the data
//!   path reads and writes while the peer is awake, without the host lock
//!   and without a system call.

use super::addr::{Addr, InetAddr};
use crate::shm::mutex::ShmMutex;
use crate::shm::futex;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// An index into the socket table. Stored in shared memory as `idx + 1`
/// (0 = none) by `SockId::pack`/`unpack`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SockId(pub u32);

impl SockId {
    pub fn pack(id: Option<SockId>) -> u32 {
        id.map_or(0, |s| s.0 + 1)
    }
    pub fn unpack(v: u32) -> Option<SockId> {
        v.checked_sub(1).map(SockId)
    }
    pub fn idx(self) -> usize {
        self.0 as usize
    }
}

/// `sk_state`, numbered as in include/net/tcp_states.h. AF_UNIX uses the
/// same values the kernel gives it (CLOSE, LISTEN, ESTABLISHED).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum TcpState {
    /// A free slot (the kernel has no such state).
    Free = 0,
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
}

impl TcpState {
    pub fn from_u32(v: u32) -> TcpState {
        use TcpState::*;
        match v {
            1 => Established,
            2 => SynSent,
            3 => SynRecv,
            4 => FinWait1,
            5 => FinWait2,
            6 => TimeWait,
            7 => Close,
            8 => CloseWait,
            9 => LastAck,
            10 => Listen,
            11 => Closing,
            _ => Free,
        }
    }
    pub fn name(self) -> &'static str {
        use TcpState::*;
        match self {
            Free => "FREE",
            Established => "ESTAB",
            SynSent => "SYN-SENT",
            SynRecv => "SYN-RECV",
            FinWait1 => "FIN-WAIT-1",
            FinWait2 => "FIN-WAIT-2",
            TimeWait => "TIME-WAIT",
            Close => "UNCONN",
            CloseWait => "CLOSE-WAIT",
            LastAck => "LAST-ACK",
            Listen => "LISTEN",
            Closing => "CLOSING",
        }
    }
}

/// `sock->state` (include/linux/net.h), what inet_stream_connect switches on.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(u8)]
pub enum SsState {
    #[default]
    Unconnected = 0,
    Connecting = 1,
    Connected = 2,
    Disconnecting = 3,
}

/// sk_shutdown bits (include/net/sock.h).
pub const RCV_SHUTDOWN: u32 = 1;
pub const SEND_SHUTDOWN: u32 = 2;
pub const SHUTDOWN_MASK: u32 = 3;

/// Which `proto_ops` table a socket uses (the kernel's `sock->ops`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(u8)]
pub enum OpsId {
    #[default]
    None = 0,
    UnixStream = 1,
    UnixDgram = 2,
    UnixSeqpacket = 3,
    InetStream = 4,
    InetDgram = 5,
}

impl OpsId {
    pub fn from_u32(v: u32) -> OpsId {
        match v {
            1 => OpsId::UnixStream,
            2 => OpsId::UnixDgram,
            3 => OpsId::UnixSeqpacket,
            4 => OpsId::InetStream,
            5 => OpsId::InetDgram,
            _ => OpsId::None,
        }
    }
}

/// Credentials as SO_PEERCRED / SCM_CREDENTIALS carry them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Cred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// Socket options that only the control path reads.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Opts {
    pub reuseaddr: bool,
    pub reuseport: bool,
    pub passcred: bool,
    pub keepalive: bool,
    pub broadcast: bool,
    pub v6only: bool,
    pub nodelay: bool,
    pub cork: bool,
    pub quickack: bool,
    pub linger_on: bool,
    pub oobinline: bool,
    pub linger_secs: i32,
    pub tos: i32,
    pub ttl: i32,
    pub maxseg: i32,
    pub keepidle: i32,
    pub keepintvl: i32,
    pub keepcnt: i32,
    pub rcvlowat: i32,
    /// sock_flag bits sk_setsockopt keeps (net/core/sock.c): SOCK_DBG,
    /// SOCK_LOCALROUTE, sk_no_check_tx, sk_scm_security, SOCK_RCVTSTAMP,
    /// SOCK_RCVTSTAMPNS, SOCK_TSTAMP_NEW, SOCK_RXQ_OVFL, SOCK_SELECT_ERR_QUEUE,
    /// SOCK_ZEROCOPY.
    pub debug: bool,
    pub dontroute: bool,
    pub no_check: bool,
    pub passsec: bool,
    pub rcvtstamp: bool,
    pub rcvtstampns: bool,
    pub tstamp_new: bool,
    pub rxq_ovfl: bool,
    pub select_err_queue: bool,
    pub zerocopy: bool,
    /// `sk_priority`, `sk_mark`.
    pub priority: i32,
    pub mark: u32,
    /// `sk_bound_dev_if` (SO_BINDTODEVICE) and that device's name.
    pub bound_dev_if: i32,
    pub bound_dev_name: [u8; 16],
}

/// The control block of one socket, under the host lock.
#[repr(C)]
pub struct SockCtl {
    pub in_use: bool,
    pub family: u16,
    /// SOCK_STREAM / SOCK_DGRAM / SOCK_SEQPACKET as `sock->type` reports it.
    pub kind: u16,
    pub protocol: u16,
    pub ops: OpsId,
    pub ss: SsState,
    /// Bumped each time the slot is reused, for `ss` and the trace.
    pub gen: u32,
    /// fds referring to this socket's file, over all processes.
    pub f_count: u32,
    /// `sk_refcnt`: the file (while f_count > 0), a peer's pointer, a queue link.
    pub refcnt: u32,
    /// The bound name (`unix_sk(sk)->addr`, inet saddr/sport).
    pub addr: Addr,
    /// The remote name (inet daddr/dport after connect).
    pub peer_addr: Addr,
    /// The inode a unix path bind made, for unix_find_bsd.
    pub path_dev: u64,
    pub path_ino: u64,
    /// Listener: `sk_max_ack_backlog` and the queue of embryos/children.
    pub backlog: u32,
    pub acceptq_head: u32,
    pub acceptq_tail: u32,
    pub acceptq_len: u32,
    /// Link in a listener's accept queue, and that listener.
    pub q_next: u32,
    pub parent: u32,
    /// SO_PEERCRED of this socket (the peer's credentials).
    pub peer_cred: Cred,
    /// Credentials of whoever created/connected this socket.
    pub cred: Cred,
    pub opts: Opts,
    /// A TCP connect waiting for room in a full accept queue (the
    /// listener its SYN will be "retransmitted" to).
    pub pending_connect: u32,
    /// AF_INET/AF_INET6: `inet_rcv_saddr`/`inet_num` and `inet_daddr`/`inet_dport`.
    pub laddr: InetAddr,
    pub raddr: InetAddr,
    /// `inet_num`: the bound local port (0: none).
    pub num: u16,
    /// SOCK_BINDADDR_LOCK / SOCK_BINDPORT_LOCK: the user chose them.
    pub userlocks: u8,
    /// When this socket started to wait in a pending connect (ordering).
    pub pending_since: u64,
    /// AF_UNIX: the name is in the table (bound here, not inherited by
    /// an accepted socket from its listener).
    pub unix_hashed: bool,
    /// TCP: the socket went into the established hash once (a connect's
    /// `inet_hash_connect`, or an accepted child); on kernels where such a
    /// socket can no longer listen (`kver::listen_refuses_once_ehashed`),
    /// `inet_listen` refuses it.
    pub ehashed: bool,
    /// AF_INET/AF_INET6: the IP, IPv6, TCP and UDP option state.
    pub inet: InetOpts,
    /// AF_UNIX path bind: a hash of the inode's file handle (inode number
    /// and generation, `name_to_handle_at`), 0 if the filesystem has none.
    /// The kernel's socket pins its inode (`u->path`), so the inode number
    /// cannot be reused while it is bound; the emulation's mknod'ed inode
    /// is not pinned, and a number freed by unlink is soon reused: the
    /// handle tells the reused inode from the bound one.
    pub path_fh: u64,
    /// AF_UNIX: how many of `f_count` are references of messages in flight
    /// (`unix_sk(sk)->inflight`), for `scm::unix_gc`.
    pub unix_inflight: u32,
}

/// What `inet_sock`, `ipv6_pinfo`, `inet_connection_sock`/`tcp_sock` and
/// `udp_sock` keep of the options (net/ipv4/ip_sockglue.c,
/// net/ipv6/ipv6_sockglue.c, net/ipv4/tcp.c, net/ipv4/udp.c). A listener's
/// copy goes to its children as `sk_clone_lock` copies the whole sock.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct InetOpts {
    // inet_sock
    pub mc_ttl: i32,
    pub pmtudisc: u8,
    pub mc_loop: bool,
    pub mc_all: bool,
    pub recverr: bool,
    pub pktinfo: bool,
    pub freebind: bool,
    pub transparent: bool,
    pub bind_address_no_port: bool,
    pub recvttl: bool,
    pub recvtos: bool,
    pub minttl: i32,
    // ipv6_pinfo
    pub hop_limit: i32,
    pub mcast_hops: i32,
    pub tclass: i32,
    pub frag_size: i32,
    pub pmtudisc6: u8,
    pub mc6_loop: bool,
    pub recverr6: bool,
    pub rxinfo: bool,
    pub rxhlim: bool,
    pub rxtclass: bool,
    pub dontfrag: bool,
    // tcp_sock / inet_connection_sock
    pub mss_cache: i32,
    pub advmss: i32,
    pub rcv_mss: i32,
    pub syn_retries: u8,
    pub defer_accept: u8,
    pub pingpong: bool,
    pub tstamp_ok: bool,
    pub sack_ok: bool,
    pub wscale_ok: bool,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub user_timeout: u32,
    /// TCP_LINGER2 in seconds; -1 off, 0 net.ipv4.tcp_fin_timeout.
    pub linger2: i32,
    pub window_clamp: u32,
    pub notsent_lowat: u32,
    pub fastopen_qlen: u32,
    pub inq: bool,
    /// TCP_CONGESTION set by the user (empty: net.ipv4.tcp_congestion_control).
    pub ca_name: [u8; 16],
    // udp_sock
    pub udp_cork: bool,
}

pub const SOCK_BINDADDR_LOCK: u8 = 4;
pub const SOCK_BINDPORT_LOCK: u8 = 8;

/// Wait queue: the futex word sleepers wait on (`sk_wq`).
#[repr(C)]
#[derive(Default)]
pub struct WaitQueue {
    seq: AtomicU32,
    waiters: AtomicU32,
    /// Poll waiters watching this socket: the low 13 bits are the
    /// `shm::waiter` id + 1; the bits above, for an epoll item, name the
    /// item (`shm::epoll::ready_mark_of`), which a wake puts on its
    /// instance's ready list (`ep_poll_callback`). One word, so that a
    /// watcher comes and goes with its mark in one atomic step.
    watchers: [AtomicU32; WATCH_SLOTS],
    /// Watchers that found no free slot: wake pokes every armed waiter.
    overflow: AtomicU32,
}

const WATCH_SLOTS: usize = 6;

/// A watcher word: waiter id + 1 below, the epoll item's mark above.
const WATCHER_ID_BITS: u32 = 13;
const WATCHER_ID_MASK: u32 = (1 << WATCHER_ID_BITS) - 1;
const _: () = assert!(crate::shm::waiter::MAX_WAITERS < WATCHER_ID_MASK as usize);
const _: () = assert!(crate::shm::epoll::MAX_EPITEMS < (1 << (32 - WATCHER_ID_BITS)) - 1);

fn watcher_word(id: u32, mark: u32) -> u32 {
    mark << WATCHER_ID_BITS | (id + 1)
}
/// Spin iterations before a sleeper goes to the futex (some tens of
/// microseconds): a futex sleep and wake cost far more when the peer answers fast.
const SPIN: u32 = 4000;

/// NETSHIM_SPIN overrides the spin count (0: sleep at once).
fn spin_iters() -> u32 {
    static V: once_cell::sync::OnceCell<u32> = once_cell::sync::OnceCell::new();
    *V.get_or_init(|| std::env::var("NETSHIM_SPIN").ok().and_then(|v| v.parse().ok()).unwrap_or(SPIN))
}

thread_local! {
    /// This thread's spin budget for its next wait (see `spin_until`).
    static SPIN_BUDGET: core::cell::Cell<u32> = const { core::cell::Cell::new(u32::MAX) };
    /// Waits since the last full-length probe.
    static SPIN_PROBE: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
}
/// Every this many cut-down waits, one spins the whole NETSHIM_SPIN: a
/// peer that answers in more than SPIN_MIN but well within the full spin
/// (an event loop's round trip of ten microseconds) would otherwise never
/// be seen and the budget never grow back.
const SPIN_PROBE_EVERY: u32 = 32;
/// The least a spin lasts once it has been cut down (about a microsecond
/// or two): enough to see a peer that answers at once, and so to grow
/// the budget back.
const SPIN_MIN: u32 = 64;

/// Spins until `done()` (true) or the budget runs out (false), on
/// multi-CPU machines only. The budget adapts, per thread: halved after a
/// spin that saw nothing (the peer was not running meanwhile: it shares
/// this CPU, or is just slow; spinning only delays it), doubled after one
/// that saw the change, between SPIN_MIN and NETSHIM_SPIN, with a
/// full-length probe now and then (SPIN_PROBE_EVERY). So a peer
/// descheduled on a loaded machine costs a few microseconds of spinning
/// per wait on average instead of the whole budget (a hundred
/// microseconds and more where `pause` is slow).
pub(crate) fn spin_until(done: impl Fn() -> bool) -> bool {
    let max = spin_iters();
    if max == 0 || !crate::sys::multi_cpu() {
        return done();
    }
    let least = SPIN_MIN.min(max);
    let kept = SPIN_BUDGET.with(|b| b.get()).clamp(least, max);
    let mut budget = kept;
    if budget < max {
        let n = SPIN_PROBE.with(|p| {
            let n = p.get() + 1;
            p.set(if n >= SPIN_PROBE_EVERY { 0 } else { n });
            n
        });
        if n >= SPIN_PROBE_EVERY {
            budget = max;
        }
    }
    for _ in 0..budget {
        if done() {
            SPIN_BUDGET.with(|b| b.set(budget.saturating_mul(2).min(max)));
            return true;
        }
        core::hint::spin_loop();
    }
    let ok = done();
    SPIN_BUDGET.with(|b| b.set(if ok { budget } else { (kept / 2).max(least) }));
    ok
}

/// What `WaitQueue::watch` hands back, to give to `unwatch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    Slot(usize),
    Overflow,
}

impl WaitQueue {
    /// Read before testing the condition; pass to `wait`.
    pub fn prepare(&self) -> u32 {
        self.seq.load(Ordering::SeqCst)
    }

    /// `wake_up_interruptible_all`: no system call unless somebody sleeps
    /// (in a blocking call on the futex, or in poll/epoll as a watcher).
    pub fn wake(&self) {
        self.seq.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) != 0 {
            futex::wake(&self.seq, i32::MAX);
        }
        let Some(w) = crate::shm::waiter::get() else { return };
        for slot in &self.watchers {
            let v = slot.load(Ordering::SeqCst);
            if v != 0 {
                // The mark first: the poked sleeper looks at its ready list.
                crate::shm::epoll::ready_mark(v >> WATCHER_ID_BITS);
                w.poke((v & WATCHER_ID_MASK) - 1);
            }
        }
        if self.overflow.load(Ordering::SeqCst) != 0 {
            w.poke_all();
        }
    }

    /// Adds poll waiter `id` to the watchers (`poll_wait` /
    /// `ep_ptable_queue_proc`); `mark` is an epoll item's ready mark, 0 for
    /// a thread in poll/select.
    pub fn watch(&self, id: u32, mark: u32) -> Watch {
        let v = watcher_word(id, mark);
        for (i, slot) in self.watchers.iter().enumerate() {
            if slot.compare_exchange(0, v, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                return Watch::Slot(i);
            }
        }
        self.overflow.fetch_add(1, Ordering::SeqCst);
        Watch::Overflow
    }

    /// Undoes `watch` (with the same id and mark).
    pub fn unwatch(&self, id: u32, mark: u32, how: Watch) {
        match how {
            Watch::Slot(i) => {
                let _ = self.watchers[i].compare_exchange(watcher_word(id, mark), 0, Ordering::SeqCst, Ordering::Relaxed);
            }
            Watch::Overflow => {
                self.overflow.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Puts every epoll item watching this socket on its ready list, with
    /// no wake-up: `eventpoll_release`, whose items the next look at their
    /// instance drops.
    pub fn mark_epitems(&self) {
        for slot in &self.watchers {
            crate::shm::epoll::ready_mark(slot.load(Ordering::SeqCst) >> WATCHER_ID_BITS);
        }
    }

    /// Forgets every watcher (a freshly allocated socket).
    pub fn reset_watchers(&self) {
        for slot in &self.watchers {
            slot.store(0, Ordering::SeqCst);
        }
        self.overflow.store(0, Ordering::SeqCst);
    }

    /// The current sequence (edge-triggered epoll compares it).
    pub fn seq(&self) -> u32 {
        self.seq.load(Ordering::SeqCst)
    }

    /// Sleeps until `wake` (after `prepare` returned `seq`), the deadline,
    /// or a signal. Every `tick`, `on_tick` runs (the dead-process reaper);
    /// the wait goes on unless the sequence moved.
    pub fn wait(&self, seq: u32, deadline: Option<Instant>, on_tick: &dyn Fn()) -> Result<(), crate::errno::Errno> {
        const TICK: Duration = crate::task::REAP_TICK;
        // The peer is usually awake and about to answer: spin a little
        // before paying for a futex sleep and the peer's futex wake.
        let has_timeout = deadline.is_some();
        if spin_until(|| self.seq.load(Ordering::Acquire) != seq) {
            return Ok(());
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let r = loop {
            // signal_pending() before each sleep, as the kernel's wait loops check it.
            if let Some(e) = crate::signal::sock_interrupted(has_timeout) {
                break Err(e);
            }
            let now = Instant::now();
            let left = match deadline {
                Some(d) if d <= now => break Err(crate::errno::Errno::EAGAIN),
                Some(d) => (d - now).min(TICK),
                None => TICK,
            };
            match futex::wait(&self.seq, seq, Some(left)) {
                Ok(()) => break Ok(()),
                Err(e) if e == crate::errno::Errno::ETIMEDOUT => {
                    on_tick();
                    if self.seq.load(Ordering::SeqCst) != seq {
                        break Ok(());
                    }
                }
                // A handler ran: the check at the top of the loop decides
                // between EINTR and going on (a restarted call).
                Err(e) if e == crate::errno::Errno::EINTR => {}
                Err(e) => break Err(e),
            }
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        r
    }

    pub fn waiters(&self) -> u32 {
        self.waiters.load(Ordering::Relaxed)
    }
}

/// The receive queue's indices, under `SockShared::rx`.
#[repr(C)]
#[derive(Default)]
pub struct RxQueue {
    /// Free-running read and write positions in the ring.
    pub head: u64,
    pub tail: u64,
    /// Records queued (datagram and seqpacket sockets).
    pub nrec: u32,
    /// Bytes the sender may have in flight here (the sender's SO_SNDBUF).
    pub limit: u32,
    /// Out-of-band byte, when one is pending.
    pub oob: i32,
    /// TCP `tp->urg_data` (TCP_URG_VALID | the byte, TCP_URG_READ, or 0)
    /// and `tp->urg_seq`, the urgent byte's position in this ring (ring
    /// positions are sequence numbers: `head` is `copied_seq`, `tail` is
    /// `rcv_nxt`).
    pub urg_data: u32,
    pub urg_seq: u64,
    /// Bumped whenever the queued bytes are dropped (`purge`, a fresh
    /// socket in the slot): a copy made outside the lock (see
    /// `queue::COPY_UNLOCKED`) checks it before it publishes what it copied.
    pub gen: u32,
}

impl RxQueue {
    pub fn used(&self) -> usize {
        (self.tail - self.head) as usize
    }
}

/// The words of one socket the data path touches without the host lock.
#[repr(C, align(128))]
pub struct SockShared {
    pub wq: WaitQueue,
    /// `OpsId` as u32: read lock-free by the data path's dispatch.
    pub ops: AtomicU32,
    pub rx: ShmMutex<RxQueue>,
    /// Held by the one reader and the one writer that may copy bytes of
    /// `rx` outside its lock (large TCP and AF_UNIX stream copies): what
    /// `lock_sock` (TCP) and `u->iolock` (AF_UNIX readers) serialise in
    /// the kernel. Reader and
    /// writer copy at once, on the disjoint parts of the ring that `rx`
    /// gave each.
    pub rx_reader: ShmMutex<()>,
    pub rx_writer: ShmMutex<()>,
    /// `TcpState` as u32.
    pub state: AtomicU32,
    /// RCV_SHUTDOWN | SEND_SHUTDOWN.
    pub shutdown: AtomicU32,
    /// `sk_err`: a pending error reported once (SO_ERROR or the next call).
    pub err: AtomicI32,
    /// The connected peer (`unix_peer`), packed.
    pub peer: AtomicU32,
    /// File status flags (O_NONBLOCK) of the socket's file.
    pub f_flags: AtomicU32,
    pub sndbuf: AtomicU32,
    pub rcvbuf: AtomicU32,
    /// SO_RCVTIMEO / SO_SNDTIMEO in microseconds (0 = none).
    pub rcvtimeo_us: AtomicU64,
    pub sndtimeo_us: AtomicU64,
    /// Bytes this socket has written and the peer not yet read (SIOCOUTQ).
    pub wmem_queued: AtomicU32,
    /// `sk_max_ack_backlog`: the listen backlog, or for AF_UNIX datagram
    /// sockets net.unix.max_dgram_qlen.
    pub max_ack_backlog: AtomicU32,
    /// SOCK_* flags below.
    pub flags: AtomicU32,
    /// `sk_wmem_alloc` (less the kernel's initial 1): the truesize of every
    /// skb this socket sent that still sits in some receive queue. The
    /// high 32 bits hold the slot's generation, so an skb that outlives its
    /// sender never uncharges the slot's next socket (see `skb::sock_wfree`).
    pub sk_wmem_alloc: AtomicU64,
    /// `sk_peek_off` (SO_PEEK_OFF): -1 off, else where MSG_PEEK starts.
    pub sk_peek_off: AtomicI32,
    /// TCP: the 4-tuple and emulated snd_nxt/rcv_nxt the capture writes
    /// (`pcap`; untouched unless NETSHIM_PCAP is set).
    pub wire: crate::pcap::TcpWire,
    /// Entries in the error queue (`sk_error_queue`, see `icmp`), changed
    /// under that queue's lock; read lock-free by poll.
    pub errq_len: AtomicU32,
}

/// `sock_flag(sk, SOCK_DEAD)`: the socket was released (its file closed).
pub const SOCK_DEAD: u32 = 1;
/// SO_PASSCRED, read by the data path.
pub const SOCK_PASSCRED: u32 = 2;
/// `sock_flag(sk, SOCK_URGINLINE)`: SO_OOBINLINE, read by the data path.
pub const SOCK_URGINLINE: u32 = 4;
/// `sock_flag(sk, SOCK_DONE)`: TCP received the peer's FIN (`tcp_fin`).
pub const SOCK_DONE: u32 = 1 << 8;

impl SockShared {
    pub fn state(&self) -> TcpState {
        TcpState::from_u32(self.state.load(Ordering::Acquire))
    }
    pub fn set_state(&self, s: TcpState) {
        self.state.store(s as u32, Ordering::Release);
    }
    pub fn peer(&self) -> Option<SockId> {
        SockId::unpack(self.peer.load(Ordering::Acquire))
    }
    pub fn nonblocking(&self) -> bool {
        self.f_flags.load(Ordering::Relaxed) & libc::O_NONBLOCK as u32 != 0
    }
    pub fn shutdown(&self) -> u32 {
        self.shutdown.load(Ordering::Acquire)
    }
    /// `sock_error`: takes the pending error.
    pub fn take_err(&self) -> Option<crate::errno::Errno> {
        match self.err.swap(0, Ordering::AcqRel) {
            0 => None,
            e => Some(crate::errno::Errno(e)),
        }
    }
    pub fn flag(&self, f: u32) -> bool {
        self.flags.load(Ordering::Acquire) & f != 0
    }
    pub fn set_flag(&self, f: u32, on: bool) {
        if on {
            self.flags.fetch_or(f, Ordering::AcqRel);
        } else {
            self.flags.fetch_and(!f, Ordering::AcqRel);
        }
    }
    /// `sk_peek_offset`: where a MSG_PEEK starts (-1: at the head).
    pub fn sk_peek_offset(&self, flags: i32) -> i32 {
        if flags & libc::MSG_PEEK != 0 {
            self.sk_peek_off.load(Ordering::Relaxed)
        } else {
            0
        }
    }
    /// `sk_peek_offset_bwd`: data was consumed.
    pub fn sk_peek_offset_bwd(&self, val: usize) {
        let off = self.sk_peek_off.load(Ordering::Relaxed);
        if off >= 0 {
            self.sk_peek_off.store((off as i64 - val as i64).max(0) as i32, Ordering::Relaxed);
        }
    }
    /// `sk_peek_offset_fwd`: data was peeked.
    pub fn sk_peek_offset_fwd(&self, val: usize) {
        let off = self.sk_peek_off.load(Ordering::Relaxed);
        if off >= 0 {
            self.sk_peek_off.store((off as i64 + val as i64).min(i32::MAX as i64) as i32, Ordering::Relaxed);
        }
    }
    pub fn deadline(us: &AtomicU64) -> Option<Instant> {
        match us.load(Ordering::Relaxed) {
            0 => None,
            // A timeout past what an Instant can hold is no timeout.
            v => Instant::now().checked_add(Duration::from_micros(v)),
        }
    }
}

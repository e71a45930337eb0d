//! The shared mapping's layout and how a process attaches to it.

use super::hlist::{Hlist, SlotMap};
use super::mutex::ShmMutex;
use crate::errno::{Errno, KResult};
use crate::net::icmp::ErrQueue;
use crate::net::sock::{SockCtl, SockShared};
use crate::task::{ProcCtl, ProcFds};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Bump when the layout changes: the version is part of the file name, so
/// old and new builds never share a mapping.
pub const LAYOUT_VERSION: u32 = 17;
const MAGIC: u64 = u64::from_le_bytes(*b"netshim\x01");

/// How many sockets a namespace holds at once.
pub const MAX_SOCKS: usize = 32768;
/// How many processes may use a namespace at once.
pub const MAX_PROCS: usize = 512;
/// fd numbers an emulated socket may have (the table's size per process).
pub const MAX_FDS: usize = 65536;
/// How many SCM_RIGHTS keeper processes the host lists at once.
pub const SCM_KEEPERS: usize = 32;
/// Bytes in each socket's receive ring.
pub const RING_SIZE: usize = 256 * 1024;
/// Chains of the bind hash: one per port (the kernel sizes `bhash` by
/// memory; a chain per port keeps every walk to one port's owners).
pub const INET_BHASH_SIZE: usize = 65536;
/// Chains of the listening hash (`INET_LHTABLE_SIZE`), by port.
pub const INET_LHTABLE_SIZE: usize = 1024;
/// Chains of the AF_UNIX name table per kind of name (`UNIX_HASH_SIZE`):
/// abstract names by their hash, then path names by inode.
pub const UNIX_HASH_SIZE: usize = 4096;

/// State guarded by the host lock: everything but the data path.
#[repr(C)]
pub struct HostState {
    /// Inode-like counter for placeholder identity and autobind names.
    pub next_id: u64,
    /// Rotor for the next ephemeral port search (net.ipv4.ip_local_port_range).
    pub port_rover: u32,
    /// One past the highest socket slot ever used: bounds every table scan.
    pub nsocks_hw: u32,
    /// `tcp_pending_connects`: sockets with a SYN waiting for room in a
    /// full accept queue (`SockCtl::pending_connect` set).
    pub tcp_pending_connects: u32,
    pub socks: [SockCtl; MAX_SOCKS],
    /// Taken socket slots (`sk_alloc` takes the lowest free one, the last
    /// `sock_put` gives it back).
    pub sk_slots: SlotMap<{ MAX_SOCKS / 64 }, { MAX_SOCKS / 64 / 64 }>,
    /// `inet_bhash`: inet sockets by `inet_num` (TCP and UDP: the bind
    /// buckets and udp_table's port slots in one), children included.
    pub inet_bhash: Hlist<INET_BHASH_SIZE, MAX_SOCKS>,
    /// `lhash2`: TCP listeners, by port.
    pub inet_lhash: Hlist<INET_LHTABLE_SIZE, MAX_SOCKS>,
    /// `unix_socket_table` + `bsd_socket_buckets`: bound AF_UNIX sockets.
    pub unix_table: Hlist<{ 2 * UNIX_HASH_SIZE }, MAX_SOCKS>,
    /// `gc_inflight_list`: AF_UNIX sockets with references in flight.
    pub gc_inflight_list: Hlist<1, MAX_SOCKS>,
    pub procs: [ProcCtl; MAX_PROCS],
    /// TCP TIME_WAIT entries holding their ports (net::inet_timewait).
    pub tw: crate::net::inet_timewait::TwTable,
    /// `unix_tot_inflight`: AF_UNIX socket references in flight (SCM_RIGHTS).
    pub unix_tot_inflight: u32,
    /// Processes holding SCM_RIGHTS carriers for senders that exited
    /// (`ffi::carrier::keep_on_exit`); 0: free.
    pub scm_keepers: [u32; SCM_KEEPERS],
}

#[repr(C)]
pub struct Header {
    magic: AtomicU64,
    version: u32,
    ready: AtomicU32,
    owner_uid: u32,
    _pad: u32,
    /// Counts attaches, for the trace and `ss`.
    pub attaches: AtomicU64,
    /// The host lock and what it guards.
    pub host: ShmMutex<HostState>,
    /// The capture lock (`pcap`): a TCP segment and the answer loopback
    /// gives it are written, with the sequence numbers they read and
    /// advance, as one step, whichever process writes them. Innermost: taken
    /// under the host lock or a receive queue's, nothing is taken under it.
    pub pcap: ShmMutex<()>,
}

/// Offsets of the areas, page aligned.
const fn align(x: usize) -> usize {
    (x + 4095) & !4095
}
const HDR_SIZE: usize = align(core::mem::size_of::<Header>());
const SHARED_OFF: usize = HDR_SIZE;
const SHARED_SIZE: usize = align(core::mem::size_of::<SockShared>() * MAX_SOCKS);
const FDS_OFF: usize = SHARED_OFF + SHARED_SIZE;
const FDS_SIZE: usize = align(core::mem::size_of::<ProcFds>() * MAX_PROCS);
const WAITERS_OFF: usize = FDS_OFF + FDS_SIZE;
const WAITERS_SIZE: usize = align(core::mem::size_of::<super::waiter::Waiter>() * super::waiter::MAX_WAITERS);
const RINGS_OFF: usize = WAITERS_OFF + WAITERS_SIZE;
const RINGS_SIZE: usize = RING_SIZE * MAX_SOCKS;
/// Each socket's error queue (`sk_error_queue`), after the rings.
const ERRQ_OFF: usize = RINGS_OFF + RINGS_SIZE;
const ERRQ_SIZE: usize = align(core::mem::size_of::<ShmMutex<ErrQueue>>() * MAX_SOCKS);
/// The shared epoll instances (`shm::epoll`), after the error queues.
const EPOLL_OFF: usize = ERRQ_OFF + ERRQ_SIZE;
const EPOLL_SIZE: usize = align(core::mem::size_of::<super::epoll::EpollArea>());
pub const TOTAL_SIZE: usize = EPOLL_OFF + EPOLL_SIZE;

/// A process's view of the mapping. Created once; lives for the process.
pub struct Host {
    base: *mut u8,
    pub name: String,
}

// SAFETY: the mapping is shared memory used only through atomics and locks.
unsafe impl Send for Host {}
unsafe impl Sync for Host {}

impl Host {
    pub fn header(&self) -> &Header {
        // SAFETY: `base` maps TOTAL_SIZE bytes; the header is at offset 0,
        // page aligned; a zero-filled Header is valid (atomics and integers).
        unsafe { &*(self.base as *const Header) }
    }

    /// The data-path words of every socket.
    pub fn shared(&self) -> &[SockShared] {
        // SAFETY: the area holds MAX_SOCKS zero-valid SockShared, aligned.
        unsafe { core::slice::from_raw_parts(self.base.add(SHARED_OFF) as *const SockShared, MAX_SOCKS) }
    }

    /// Every process slot's fd table.
    pub fn fds(&self) -> &[ProcFds] {
        // SAFETY: the area holds MAX_PROCS zero-valid ProcFds, aligned.
        unsafe { core::slice::from_raw_parts(self.base.add(FDS_OFF) as *const ProcFds, MAX_PROCS) }
    }

    /// The poll-waiter table.
    pub fn waiters(&self) -> &'static [super::waiter::Waiter] {
        // SAFETY: the area holds MAX_WAITERS zero-valid Waiters (atomics),
        // and the mapping lives as long as the process (never unmapped).
        unsafe {
            core::slice::from_raw_parts(self.base.add(WAITERS_OFF) as *const super::waiter::Waiter, super::waiter::MAX_WAITERS)
        }
    }

    /// The receive ring memory of socket `idx`.
    pub fn ring(&self, idx: usize) -> super::ring::RingMem<'_> {
        assert!(idx < MAX_SOCKS);
        // SAFETY: ring `idx` is RING_SIZE bytes inside the mapping; its bytes
        // are only touched under that socket's receive-queue lock.
        unsafe { super::ring::RingMem::new(self.base.add(RINGS_OFF + idx * RING_SIZE), RING_SIZE) }
    }

    /// The error queue (`sk_error_queue`) of socket `idx`.
    pub fn errq(&self, idx: usize) -> &ShmMutex<ErrQueue> {
        assert!(idx < MAX_SOCKS);
        // SAFETY: the area holds MAX_SOCKS zero-valid ShmMutex<ErrQueue>
        // (a lock word and plain integers and bytes), each aligned as the
        // array stride keeps it; the mapping lives as long as the process.
        unsafe { &*(self.base.add(ERRQ_OFF) as *const ShmMutex<ErrQueue>).add(idx) }
    }

    /// The shared epoll instances and their items.
    pub fn epoll(&self) -> &'static super::epoll::EpollArea {
        // SAFETY: the area holds one zero-valid EpollArea (atomics, a lock
        // word and plain integers), page aligned; the mapping lives as long
        // as the process.
        unsafe { &*(self.base.add(EPOLL_OFF) as *const super::epoll::EpollArea) }
    }

    /// The file of namespace `ns` of the calling user.
    pub fn file_name(dir: &str, ns: &str) -> String {
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        format!("{dir}/netshim-{uid}-{ns}.v{LAYOUT_VERSION}")
    }

    /// Maps (creating if needed) the namespace `ns` of the calling user.
    pub fn attach(dir: &str, ns: &str) -> KResult<Host> {
        Self::attach_with(dir, ns, true)
    }

    /// Maps the namespace `ns` only if it exists (ENOENT otherwise): for
    /// tools that look at a namespace without making one.
    pub fn open_existing(dir: &str, ns: &str) -> KResult<Host> {
        Self::attach_with(dir, ns, false)
    }

    fn attach_with(dir: &str, ns: &str, create: bool) -> KResult<Host> {
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        let name = Self::file_name(dir, ns);
        let cpath = std::ffi::CString::new(name.clone()).map_err(|_| Errno::EINVAL)?;
        let mut created = create;
        let mut fd = if create {
            // SAFETY: cpath is NUL-terminated; open is not one of the hooked calls.
            unsafe { libc::open(cpath.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC, 0o600) }
        } else {
            -1
        };
        if !create || fd < 0 && Errno::last() == Errno::EEXIST {
            created = false;
            // SAFETY: as above.
            fd = unsafe { libc::open(cpath.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        }
        if fd < 0 {
            return Err(Errno::last());
        }
        let res = Self::map(fd, uid, created);
        crate::sys::close_fd(fd);
        let host = res.map(|base| Host { base, name })?;
        super::waiter::install(host.waiters(), format!("{}.w", host.name));
        super::epoll::install(host.epoll());
        Ok(host)
    }

    fn map(fd: i32, uid: u32, created: bool) -> KResult<*mut u8> {
        // SAFETY: fstat writes into the zeroed struct.
        let mut st: libc::stat = unsafe { core::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } < 0 {
            return Err(Errno::last());
        }
        if st.st_uid != uid {
            // Somebody else's file under our name: refuse to share state with them.
            return Err(Errno::EACCES);
        }
        if created {
            // SAFETY: fd is ours and open for writing.
            if unsafe { libc::ftruncate(fd, TOTAL_SIZE as libc::off_t) } < 0 {
                return Err(Errno::last());
            }
        } else {
            // The creator may not have sized the file yet.
            let mut tries = 0;
            while (st.st_size as usize) < TOTAL_SIZE {
                tries += 1;
                if tries > 2000 {
                    return Err(Errno::EIO);
                }
                std::thread::sleep(std::time::Duration::from_micros(500));
                // SAFETY: as above.
                if unsafe { libc::fstat(fd, &mut st) } < 0 {
                    return Err(Errno::last());
                }
            }
        }
        // SAFETY: maps TOTAL_SIZE bytes of the file, shared; checked for failure below.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                TOTAL_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        let base = p as *mut u8;
        // SAFETY: the header is at offset 0 of the fresh mapping.
        let hdr = unsafe { &*(base as *const Header) };
        if created {
            // A fresh file is all zeroes, which is an empty host; set the marks.
            // SAFETY: nobody else reads non-atomic fields before `ready` is set.
            unsafe {
                let h = base as *mut Header;
                (*h).version = LAYOUT_VERSION;
                (*h).owner_uid = uid;
            }
            hdr.magic.store(MAGIC, Ordering::Relaxed);
            hdr.ready.store(1, Ordering::Release);
        } else {
            let mut tries = 0;
            while hdr.ready.load(Ordering::Acquire) == 0 {
                tries += 1;
                if tries > 2000 {
                    return Err(Errno::EIO);
                }
                std::thread::sleep(std::time::Duration::from_micros(500));
            }
            if hdr.magic.load(Ordering::Relaxed) != MAGIC || hdr.version != LAYOUT_VERSION {
                return Err(Errno::EPROTOTYPE);
            }
        }
        hdr.attaches.fetch_add(1, Ordering::Relaxed);
        Ok(base)
    }
}

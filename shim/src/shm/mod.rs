//! The emulated host: one shared mapping per namespace.
//!
//! Every process of a namespace maps the same file (by default
//! `/dev/shm/netshim-<uid>-<ns>`), so the sockets, names, ports and fd tables
//! of all of them are one data structure, as they are in one kernel. There is
//! no daemon: the first process to arrive creates and initialises the file,
//! the others wait for its `ready` mark.
//!
//! Layout, all fixed-size and valid when zero-filled (so a fresh sparse file
//! is an empty host):
//! - `Header`: magic, version, the host lock and the `HostState` it guards
//!   (socket control blocks, process table, counters, and the hash chains
//!   and free lists over them: `hlist`);
//! - `SockShared[]`: the per-socket words the data path touches without the
//!   host lock (wait queue, receive-queue lock, state, shutdown bits, ...);
//! - `ProcFds[]`: each process's fd table, read lock-free on every call;
//! - the receive rings, one per socket;
//! - the error queues, then the shared epoll instances (`epoll`).

pub mod epoll;
pub mod futex;
pub mod hlist;
pub mod mutex;
pub mod ring;
pub mod waiter;
mod layout;

pub use layout::*;

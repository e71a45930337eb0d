//! netshim: an LD_PRELOAD library that runs a program's sockets on a
//! user-space copy of the Linux socket layer.
//!
//! How the pieces fit, from the program inwards:
//! - `ffi`: the exported libc look-alikes (`socket`, `read`, `fcntl`, ...);
//!   the only place with `unsafe` beyond the shared-memory primitives. A
//!   call on an fd that is not an emulated socket goes to the real libc
//!   function after one table load.
//! - `net`: the socket layer, kernel function by kernel function
//!   (net/socket.c, net/unix/af_unix.c, net/ipv4/af_inet.c + tcp/udp).
//! - `task`: processes and their fd tables (fork, exec, exit, reaping).
//! - `shm`: the shared mapping that is the emulated host, its lock and
//!   futexes, the receive rings.
//! - `sys`: raw system calls for the shim's own needs.
//! - `signal`: which handler ran during a blocking call (EINTR or restart).
//! - `trace`, `config`: tracing and environment settings.
//! - `pcap`: the capture file of the emulated TCP/UDP traffic (NETSHIM_PCAP).
//! - `inspect`: a consistent copy of a namespace for the `netshim` command
//!   (`src/bin/netshim`), which links this crate as an rlib.

pub mod config;
pub mod errno;
pub mod ffi;
pub mod inspect;
pub mod net;
pub mod pcap;
pub mod shm;
pub mod signal;
pub mod sys;
pub mod task;
pub mod trace;

/// Load-time constructor: attach to the namespace early, so a process that
/// inherited emulated fds across exec finds them before its first call.
extern "C" fn netshim_init() {
    if ffi::host().is_some() {
        // SAFETY: registering a plain extern "C" function with atexit.
        unsafe {
            libc::atexit(ffi::hooks::at_exit);
        }
    }
}

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = netshim_init;

//! The emulated socket layer, organised as the kernel's is.
//!
//! - `socket`: net/socket.c — the system-call entry points (`__sys_socket`,
//!   `__sys_bind`, ...), file references, and dispatch through `ProtoOps`.
//! - `unix`: net/unix/af_unix.c — AF_UNIX stream, datagram and seqpacket.
//! - `inet`: net/ipv4/af_inet.c, inet_connection_sock.c, tcp.c, udp.c and
//!   their IPv6 twins — TCP and UDP on the emulated loopback.
//! - `sock`: the socket object (`struct sock` + `struct file`).
//! - `queue`: receive queues: byte streams and datagram records in a ring.
//! - `sockopt`: SOL_SOCKET options (net/core/sock.c).
//! - `inet_sockopt`: IP, IPv6, TCP and UDP options (ip_sockglue.c,
//!   ipv6_sockglue.c, tcp.c, udp.c).
//! - `scm`: SCM_RIGHTS / SCM_CREDENTIALS (net/core/scm.c, af_unix.c, garbage.c).
//! - `addr`: sockaddr parsing.
//! - `dev`: the emulated host's interface (`lo`) and the address checks
//!   against it (inet_addr_type, ipv6_addr_type, ipv6_chk_addr).
//! - `inet_timewait`: TIME_WAIT entries (inet_timewait_sock.c) that keep a
//!   closed connection's port.
//! - `icmp`: ICMP errors for UDP and the socket error queue (icmp.c,
//!   `__udp4_lib_err`, `ip_icmp_error`/`ip_recv_error` and the IPv6 twins).
//! - `cmsg`: receive-side control messages (timestamps, IP(V6)_PKTINFO).
//! - `kver`: the rules where this project's kernels differ (`NETSHIM_KERNEL_RULES`).
//! - `smallvec`: lists kept on the stack up to a few items (iovecs).
//! - `skb`: skb truesize and the sender's sk_wmem_alloc (what AF_UNIX charges).
//!
//! Everything here is safe Rust working on the shared `Host`; user memory
//! never reaches this layer except as slices the FFI layer checked.

pub mod addr;
pub mod cmsg;
pub mod dev;
pub mod handoff;
pub mod icmp;
pub mod skb;
pub mod smallvec;
pub mod inet;
pub mod inet_sockopt;
pub mod inet_timewait;
pub mod kver;
pub mod queue;
pub mod scm;
pub mod sock;
pub mod socket;
pub mod sockopt;
pub mod unix;

pub use socket::*;

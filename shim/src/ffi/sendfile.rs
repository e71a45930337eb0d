//! `sendfile`/`sendfile64` into an emulated socket.
//!
//! The kernel's sendfile splices the file's pages into the socket
//! (`do_sendfile` → `splice_direct_to_actor` → `sock_sendpage`). Here the
//! file is read by chunks with `pread` and each chunk goes through the
//! socket's `sendmsg`, with the kernel's semantics kept:
//! - from `*offset` when `offset` is not null (the file position is left
//!   alone, `*offset` advances by what was sent), else from and advancing
//!   the file position;
//! - a blocking socket takes everything (or an error/EOF ends the loop);
//!   a non-blocking one takes what fits: EAGAIN only if nothing did;
//! - an error after some bytes went out returns the count, like the kernel;
//! - SIGPIPE on a closed connection comes from the socket's send path.
//!
//! An emulated socket as the *source* is EINVAL (a socket has no
//! `splice_read` for files' sake here), as is a source that cannot `pread`
//! (a pipe), which older kernels refused too. Output to a real fd is the
//! real sendfile.

use super::{emulated, real, run, trace_real};
use crate::errno::{Errno, KResult};
use crate::net::{self, SendMsg};
use crate::shm::Host;
use crate::task::FdEntry;
use libc::{c_int, off_t, size_t, ssize_t};

/// The most one sendfile moves, as the kernel's `MAX_RW_COUNT`.
const MAX_RW_COUNT: usize = 0x7fff_f000;
/// The chunk read from the file and handed to the socket at a time.
const CHUNK: usize = 64 * 1024;

/// The file position: `*offset`, or the fd's own.
fn start_pos(in_fd: c_int, offset: *mut off_t) -> KResult<i64> {
    if offset.is_null() {
        // SAFETY: lseek takes no pointers.
        unsafe { crate::syscall!(SYS_lseek, in_fd, 0, libc::SEEK_CUR) }.map(|p| p as i64)
    } else {
        let b = super::uaccess::copy_from_user(offset as usize, 8)?;
        let pos = i64::from_ne_bytes(b[..8].try_into().expect("8 bytes"));
        if pos < 0 {
            return Err(Errno::EINVAL);
        }
        Ok(pos)
    }
}

fn do_sendfile(h: &Host, out: FdEntry, in_fd: c_int, offset: *mut off_t, count: usize) -> KResult<i64> {
    if crate::task::lookup(h, in_fd).is_some() {
        return Err(Errno::EINVAL);
    }
    let pos = start_pos(in_fd, offset).map_err(|e| if e == Errno::ESPIPE { Errno::EINVAL } else { e })?;
    let count = count.min(MAX_RW_COUNT);
    let nonblock = h.shared()[out.sock.idx()].nonblocking();
    let flags = if nonblock { libc::MSG_DONTWAIT } else { 0 };
    let mut buf = vec![0u8; CHUNK.min(count.max(1))];
    let mut sent = 0usize;
    let mut result: KResult<()> = Ok(());
    while sent < count {
        let want = (count - sent).min(buf.len());
        let at = pos + sent as i64;
        // SAFETY: pread64 into a buffer of at least `want` bytes.
        let got = match unsafe { crate::syscall!(SYS_pread64, in_fd, buf.as_mut_ptr(), want, at) } {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                result = Err(if e == Errno::ESPIPE { Errno::EINVAL } else { e });
                break;
            }
        };
        let msg = SendMsg { iov: crate::net::smallvec::IovVec::one(&buf[..got]), name: None, control: &[], flags };
        match net::__sys_sendmsg(h, out.sock, &msg) {
            Ok(n) => {
                sent += n;
                if n < got {
                    break;
                }
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    // The position moves by what the socket took, also when an error ends
    // the loop after some bytes.
    if sent > 0 {
        let end = pos + sent as i64;
        if offset.is_null() {
            // SAFETY: lseek takes no pointers.
            let _ = unsafe { crate::syscall!(SYS_lseek, in_fd, end, libc::SEEK_SET) };
        } else {
            super::uaccess::copy_to_user(offset as usize, &end.to_ne_bytes())?;
        }
        return Ok(sent as i64);
    }
    result.map(|_| 0)
}

fn args(out_fd: c_int, in_fd: c_int, offset: *mut off_t, count: size_t) -> String {
    format!("{out_fd}, {in_fd}, {offset:p}, {count}")
}

#[no_mangle]
pub unsafe extern "C" fn sendfile(out_fd: c_int, in_fd: c_int, offset: *mut off_t, count: size_t) -> ssize_t {
    let Some((h, e)) = emulated(out_fd) else {
        if emulated(in_fd).is_some() {
            return run("sendfile", || args(out_fd, in_fd, offset, count), || Err(Errno::EINVAL));
        }
        return trace_real("sendfile", || args(out_fd, in_fd, offset, count), real::sendfile()(out_fd, in_fd, offset, count));
    };
    run("sendfile", || args(out_fd, in_fd, offset, count), || do_sendfile(h, e, in_fd, offset, count))
}

/// glibc's large-file twin; `off_t` is 64 bits on the ABIs netshim runs on.
#[no_mangle]
pub unsafe extern "C" fn sendfile64(out_fd: c_int, in_fd: c_int, offset: *mut off_t, count: size_t) -> ssize_t {
    let Some((h, e)) = emulated(out_fd) else {
        if emulated(in_fd).is_some() {
            return run("sendfile", || args(out_fd, in_fd, offset, count), || Err(Errno::EINVAL));
        }
        return trace_real("sendfile", || args(out_fd, in_fd, offset, count), real::sendfile64()(out_fd, in_fd, offset, count));
    };
    run("sendfile", || args(out_fd, in_fd, offset, count), || do_sendfile(h, e, in_fd, offset, count))
}

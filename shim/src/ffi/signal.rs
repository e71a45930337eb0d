//! `sigaction`, `signal` and their BSD/System V variants: every handler the
//! program installs runs behind a wrapper that first tells `crate::signal`
//! a handler ran on this thread (and whether it had SA_RESTART), so that an
//! emulated blocking call, which sleeps in user space, returns EINTR or goes
//! on exactly where the kernel would end or restart a real one.
//!
//! The program never sees the wrapper: the previous action reported by
//! `sigaction(sig, _, &old)` is the program's own handler and flags.

use super::real;
use super::uaccess::{copy_from_user, copy_to_user};
use libc::{c_int, c_void, sighandler_t, siginfo_t};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

const NSIG: usize = 65;

/// The program's handler and sa_flags per signal, as it installed them.
static HANDLER: [AtomicUsize; NSIG] = [const { AtomicUsize::new(libc::SIG_DFL) }; NSIG];
static FLAGS: [AtomicI32; NSIG] = [const { AtomicI32::new(0) }; NSIG];

/// What the kernel calls for every signal with a program handler.
extern "C" fn wrapper(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    let i = sig as usize;
    if i >= NSIG {
        return;
    }
    let h = HANDLER[i].load(Ordering::Relaxed);
    let fl = FLAGS[i].load(Ordering::Relaxed);
    crate::signal::note_delivery(fl & libc::SA_RESTART != 0);
    if fl & libc::SA_RESETHAND != 0 {
        // The kernel reset the action to SIG_DFL as it delivered this one.
        HANDLER[i].store(libc::SIG_DFL, Ordering::Relaxed);
        FLAGS[i].store(0, Ordering::Relaxed);
    }
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        return;
    }
    if fl & libc::SA_SIGINFO != 0 {
        // SAFETY: the program installed h as an SA_SIGINFO handler of this type.
        let f: extern "C" fn(c_int, *mut siginfo_t, *mut c_void) = unsafe { std::mem::transmute(h) };
        f(sig, info, ctx);
    } else {
        // SAFETY: the program installed h as a plain handler of this type.
        let f: extern "C" fn(c_int) = unsafe { std::mem::transmute(h) };
        f(sig);
    }
}

fn wrapper_addr() -> sighandler_t {
    wrapper as *const () as sighandler_t
}

fn wraps(sig: c_int) -> bool {
    (1..NSIG as c_int).contains(&sig) && sig != libc::SIGKILL && sig != libc::SIGSTOP
}

const ACT_LEN: usize = core::mem::size_of::<libc::sigaction>();

/// sigaction with the program's `act`/`old` (already copied in / to be copied out).
fn do_sigaction(sig: c_int, act: Option<libc::sigaction>, old: Option<&mut libc::sigaction>) -> c_int {
    let i = sig as usize;
    let prev = (HANDLER[i].load(Ordering::Relaxed), FLAGS[i].load(Ordering::Relaxed));
    let mut kact = act;
    if let Some(a) = act {
        HANDLER[i].store(a.sa_sigaction, Ordering::Relaxed);
        FLAGS[i].store(a.sa_flags, Ordering::Relaxed);
        if a.sa_sigaction != libc::SIG_DFL && a.sa_sigaction != libc::SIG_IGN {
            let k = kact.as_mut().expect("set above");
            k.sa_sigaction = wrapper_addr();
            k.sa_flags |= libc::SA_SIGINFO;
        }
    }
    // SAFETY: a zeroed sigaction is a valid out-parameter.
    let mut kold: libc::sigaction = unsafe { core::mem::zeroed() };
    let kp = kact.as_ref().map_or(core::ptr::null(), |a| a as *const libc::sigaction);
    // SAFETY: both pointers are null or point at sigaction structs on this frame.
    let r = unsafe { real::sigaction()(sig, kp, &mut kold) };
    if r < 0 {
        HANDLER[i].store(prev.0, Ordering::Relaxed);
        FLAGS[i].store(prev.1, Ordering::Relaxed);
        return r;
    }
    if let Some(o) = old {
        *o = kold;
        if kold.sa_sigaction == wrapper_addr() {
            o.sa_sigaction = prev.0;
            o.sa_flags = prev.1;
        }
    }
    0
}

#[no_mangle]
pub unsafe extern "C" fn sigaction(sig: c_int, act: *const libc::sigaction, old: *mut libc::sigaction) -> c_int {
    if !wraps(sig) || super::reentrant() {
        return real::sigaction()(sig, act, old);
    }
    let _g = super::Guard::enter();
    let a = if act.is_null() {
        None
    } else {
        match copy_from_user(act as usize, ACT_LEN) {
            // SAFETY: ACT_LEN bytes copied from the program make a sigaction (plain data).
            Ok(b) => Some(unsafe { core::ptr::read_unaligned(b.as_ptr() as *const libc::sigaction) }),
            Err(e) => {
                e.set();
                return -1;
            }
        }
    };
    // SAFETY: zeroed is a valid sigaction.
    let mut o: libc::sigaction = unsafe { core::mem::zeroed() };
    let r = do_sigaction(sig, a, (!old.is_null()).then_some(&mut o));
    if r == 0 && !old.is_null() {
        // SAFETY: o is plain data of ACT_LEN bytes.
        let bytes = unsafe { core::slice::from_raw_parts(&o as *const libc::sigaction as *const u8, ACT_LEN) };
        if let Err(e) = copy_to_user(old as usize, bytes) {
            e.set();
            return -1;
        }
    }
    r
}

/// `signal` / `bsd_signal` (BSD semantics: SA_RESTART, the handler stays)
/// and `sysv_signal` (SA_RESETHAND | SA_NODEFER, no restart), as glibc
/// builds them on sigaction.
fn install_simple(sig: c_int, h: sighandler_t, flags: c_int) -> sighandler_t {
    if !wraps(sig) {
        // SAFETY: errno location is thread-local.
        crate::errno::Errno::EINVAL.set();
        return libc::SIG_ERR;
    }
    // SAFETY: zeroed sigaction, mask filled by sigemptyset/sigaddset.
    let mut a: libc::sigaction = unsafe { core::mem::zeroed() };
    a.sa_sigaction = h;
    a.sa_flags = flags;
    // SAFETY: a.sa_mask is a valid sigset_t.
    unsafe {
        libc::sigemptyset(&mut a.sa_mask);
        if flags & libc::SA_NODEFER == 0 {
            libc::sigaddset(&mut a.sa_mask, sig);
        }
    }
    // SAFETY: zeroed is a valid sigaction.
    let mut o: libc::sigaction = unsafe { core::mem::zeroed() };
    if do_sigaction(sig, Some(a), Some(&mut o)) < 0 {
        return libc::SIG_ERR;
    }
    o.sa_sigaction
}

#[no_mangle]
pub unsafe extern "C" fn signal(sig: c_int, h: sighandler_t) -> sighandler_t {
    if super::reentrant() {
        return real::signal()(sig, h);
    }
    let _g = super::Guard::enter();
    install_simple(sig, h, libc::SA_RESTART)
}

#[no_mangle]
pub unsafe extern "C" fn bsd_signal(sig: c_int, h: sighandler_t) -> sighandler_t {
    signal(sig, h)
}

#[no_mangle]
pub unsafe extern "C" fn sysv_signal(sig: c_int, h: sighandler_t) -> sighandler_t {
    if super::reentrant() {
        return real::signal()(sig, h);
    }
    let _g = super::Guard::enter();
    install_simple(sig, h, libc::SA_RESETHAND | libc::SA_NODEFER)
}

#[no_mangle]
pub unsafe extern "C" fn __sysv_signal(sig: c_int, h: sighandler_t) -> sighandler_t {
    sysv_signal(sig, h)
}

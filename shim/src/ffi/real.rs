//! The libc functions the hooks shadow, resolved with `dlsym(RTLD_NEXT)`
//! through redhook's `dlsym_next`, once each, on first use.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Resolves `name` (NUL-terminated) to the next definition after this library.
fn resolve(cache: &AtomicUsize, name: &'static str) -> usize {
    let p = cache.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    // SAFETY: `name` is NUL-terminated (the macro appends it). dlsym_next
    // panics if libc lacks the symbol; every name below is in glibc.
    let p = unsafe { redhook::ld_preload::dlsym_next(name) } as usize;
    cache.store(p, Ordering::Relaxed);
    p
}

#[allow(non_snake_case)]
mod names {}
macro_rules! real_fns {
    ($( $name:ident ( $($t:ty),* ) -> $r:ty; )*) => {
        $(
            #[allow(non_upper_case_globals, non_snake_case)]
            pub fn $name() -> unsafe extern "C" fn($($t),*) -> $r {
                static CACHE: AtomicUsize = AtomicUsize::new(0);
                let p = resolve(&CACHE, concat!(stringify!($name), "\0"));
                // SAFETY: the symbol is libc's function of exactly this signature.
                unsafe { std::mem::transmute::<usize, unsafe extern "C" fn($($t),*) -> $r>(p) }
            }
        )*
    };
}

use libc::{c_int, c_long, c_ulong, c_void, iovec, msghdr, off_t, size_t, sockaddr, socklen_t, ssize_t};

real_fns! {
    socket(c_int, c_int, c_int) -> c_int;
    socketpair(c_int, c_int, c_int, *mut c_int) -> c_int;
    bind(c_int, *const sockaddr, socklen_t) -> c_int;
    listen(c_int, c_int) -> c_int;
    accept(c_int, *mut sockaddr, *mut socklen_t) -> c_int;
    accept4(c_int, *mut sockaddr, *mut socklen_t, c_int) -> c_int;
    connect(c_int, *const sockaddr, socklen_t) -> c_int;
    getsockname(c_int, *mut sockaddr, *mut socklen_t) -> c_int;
    getpeername(c_int, *mut sockaddr, *mut socklen_t) -> c_int;
    shutdown(c_int, c_int) -> c_int;
    setsockopt(c_int, c_int, c_int, *const c_void, socklen_t) -> c_int;
    getsockopt(c_int, c_int, c_int, *mut c_void, *mut socklen_t) -> c_int;
    read(c_int, *mut c_void, size_t) -> ssize_t;
    write(c_int, *const c_void, size_t) -> ssize_t;
    readv(c_int, *const iovec, c_int) -> ssize_t;
    writev(c_int, *const iovec, c_int) -> ssize_t;
    pread(c_int, *mut c_void, size_t, off_t) -> ssize_t;
    pwrite(c_int, *const c_void, size_t, off_t) -> ssize_t;
    pread64(c_int, *mut c_void, size_t, off_t) -> ssize_t;
    pwrite64(c_int, *const c_void, size_t, off_t) -> ssize_t;
    lseek(c_int, off_t, c_int) -> off_t;
    lseek64(c_int, off_t, c_int) -> off_t;
    send(c_int, *const c_void, size_t, c_int) -> ssize_t;
    recv(c_int, *mut c_void, size_t, c_int) -> ssize_t;
    sendto(c_int, *const c_void, size_t, c_int, *const sockaddr, socklen_t) -> ssize_t;
    recvfrom(c_int, *mut c_void, size_t, c_int, *mut sockaddr, *mut socklen_t) -> ssize_t;
    sendmsg(c_int, *const msghdr, c_int) -> ssize_t;
    recvmsg(c_int, *mut msghdr, c_int) -> ssize_t;
    close(c_int) -> c_int;
    fdopen(c_int, *const libc::c_char) -> *mut libc::FILE;
    sigaction(c_int, *const libc::sigaction, *mut libc::sigaction) -> c_int;
    signal(c_int, libc::sighandler_t) -> libc::sighandler_t;
    close_range(libc::c_uint, libc::c_uint, c_int) -> c_int;
    closefrom(c_int) -> ();
    dup(c_int) -> c_int;
    dup2(c_int, c_int) -> c_int;
    dup3(c_int, c_int, c_int) -> c_int;
    fcntl(c_int, c_int, c_ulong) -> c_int;
    fcntl64(c_int, c_int, c_ulong) -> c_int;
    ioctl(c_int, c_ulong, c_ulong) -> c_int;
    __read_chk(c_int, *mut c_void, size_t, size_t) -> ssize_t;
    __recv_chk(c_int, *mut c_void, size_t, size_t, c_int) -> ssize_t;
    __recvfrom_chk(c_int, *mut c_void, size_t, size_t, c_int, *mut sockaddr, *mut socklen_t) -> ssize_t;
    sendfile(c_int, c_int, *mut off_t, size_t) -> ssize_t;
    sendfile64(c_int, c_int, *mut off_t, size_t) -> ssize_t;
    fstat(c_int, *mut libc::stat) -> c_int;
    fstat64(c_int, *mut libc::stat) -> c_int;
    fstatat(c_int, *const libc::c_char, *mut libc::stat, c_int) -> c_int;
    fstatat64(c_int, *const libc::c_char, *mut libc::stat, c_int) -> c_int;
    statx(c_int, *const libc::c_char, c_int, libc::c_uint, *mut libc::statx) -> c_int;
    fork() -> libc::pid_t;
    _exit(c_int) -> ();
    _Exit(c_int) -> ();
    syscall(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long;
}

real_fns! {
    poll(*mut libc::pollfd, libc::nfds_t, c_int) -> c_int;
    ppoll(*mut libc::pollfd, libc::nfds_t, *const libc::timespec, *const libc::sigset_t) -> c_int;
    __poll_chk(*mut libc::pollfd, libc::nfds_t, c_int, size_t) -> c_int;
    select(c_int, *mut libc::fd_set, *mut libc::fd_set, *mut libc::fd_set, *mut libc::timeval) -> c_int;
    pselect(c_int, *mut libc::fd_set, *mut libc::fd_set, *mut libc::fd_set, *const libc::timespec, *const libc::sigset_t) -> c_int;
    __fdelt_chk(c_long) -> c_long;
    epoll_ctl(c_int, c_int, c_int, *mut libc::epoll_event) -> c_int;
    epoll_wait(c_int, *mut libc::epoll_event, c_int, c_int) -> c_int;
    epoll_pwait(c_int, *mut libc::epoll_event, c_int, c_int, *const libc::sigset_t) -> c_int;
    epoll_create(c_int) -> c_int;
    epoll_create1(c_int) -> c_int;
}

real_fns! {
    sendmmsg(c_int, *mut libc::mmsghdr, libc::c_uint, c_int) -> c_int;
    recvmmsg(c_int, *mut libc::mmsghdr, libc::c_uint, c_int, *mut libc::timespec) -> c_int;
}

real_fns! {
    posix_spawn(*mut libc::pid_t, *const libc::c_char, *const libc::posix_spawn_file_actions_t, *const libc::posix_spawnattr_t, *const *mut libc::c_char, *const *mut libc::c_char) -> c_int;
    posix_spawnp(*mut libc::pid_t, *const libc::c_char, *const libc::posix_spawn_file_actions_t, *const libc::posix_spawnattr_t, *const *mut libc::c_char, *const *mut libc::c_char) -> c_int;
}

//! The few rules where kernels disagree, chosen by the running kernel's
//! release (the emulation matches the kernel it runs beside; the harness
//! compares the two on the same machine).
//!
//! The release is `uname -r`, or `NETSHIM_KERNEL` (say `6.1`) to emulate
//! another kernel's rules. Each rule names the release from which it was
//! seen; a rule is a difference seen between two machines' kernels, both
//! recorded by the conformance suites, not a reading of every release in
//! between.

use once_cell::sync::OnceCell;

/// (major, minor) of a release string such as "6.18.44-fc-v1045".
fn parse(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn version() -> (u32, u32) {
    static V: OnceCell<(u32, u32)> = OnceCell::new();
    *V.get_or_init(|| {
        let r = std::env::var("NETSHIM_KERNEL").ok().filter(|v| !v.is_empty()).unwrap_or_else(crate::sys::kernel_release);
        parse(&r).unwrap_or((6, 1))
    })
}

fn at_least(major: u32, minor: u32) -> bool {
    version() >= (major, minor)
}

/// `inet_listen` on a TCP socket that was once in the established hash
/// (any connect, refused or reset since, or an accepted socket): 6.18
/// answers EINVAL from `inet_csk_listen_start` (its hash step fails and the
/// socket goes back to TCP_CLOSE); older kernels listen.
pub fn listen_refuses_once_ehashed() -> bool {
    at_least(6, 18)
}

/// `setsockopt(IPV6_ADDRFORM)`: 6.18 no longer has it (ENOPROTOOPT);
/// older kernels turn a connected v4-mapped socket into AF_INET.
pub fn ipv6_addrform_gone() -> bool {
    at_least(6, 18)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn releases() {
        assert_eq!(parse("6.18.44-fc-v1045"), Some((6, 18)));
        assert_eq!(parse("6.1.0-27-amd64"), Some((6, 1)));
        assert_eq!(parse("5.15"), Some((5, 15)));
        assert_eq!(parse("x"), None);
    }
}

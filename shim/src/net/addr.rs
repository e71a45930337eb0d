//! Socket addresses as the kernel holds them.
//!
//! `Addr` keeps the bytes of a sockaddr exactly as getsockname would return
//! them; `UnixName` and `InetAddr` are the parsed forms the protocol code
//! works with (unix_mkname / the sin_/sin6_ fields).

use crate::errno::{Errno, KResult};

/// The bytes of a sockaddr (at most sizeof(sockaddr_storage)).
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Addr {
    pub len: u32,
    pub bytes: [u8; 128],
}

impl Default for Addr {
    fn default() -> Self {
        Addr { len: 0, bytes: [0; 128] }
    }
}

impl std::fmt::Debug for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", crate::trace::fmt_sockaddr(self.as_bytes()))
    }
}

impl Addr {
    pub fn from_bytes(b: &[u8]) -> Addr {
        let mut a = Addr::default();
        let n = b.len().min(128);
        a.bytes[..n].copy_from_slice(&b[..n]);
        a.len = n as u32;
        a
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn family(&self) -> u16 {
        if self.len < 2 {
            0
        } else {
            u16::from_ne_bytes([self.bytes[0], self.bytes[1]])
        }
    }
}

pub const SUN_PATH_OFF: usize = 2;
pub const SUN_LEN_MAX: usize = 110; // sizeof(struct sockaddr_un)

/// A parsed AF_UNIX name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnixName {
    /// A filesystem path (without the NUL).
    Path(Vec<u8>),
    /// An abstract name (the bytes after the leading NUL).
    Abstract(Vec<u8>),
}

impl UnixName {
    /// `unix_validate_addr` + `unix_mkname_bsd`: checks the length and family
    /// and returns the name plus the canonical address bytes to store.
    pub fn parse(b: &[u8]) -> KResult<(UnixName, Addr)> {
        if b.len() <= SUN_PATH_OFF || b.len() > SUN_LEN_MAX {
            return Err(Errno::EINVAL);
        }
        if family_of(b) != libc::AF_UNIX as u16 {
            return Err(Errno::EINVAL);
        }
        let path = &b[SUN_PATH_OFF..];
        if path[0] != 0 {
            // The kernel NUL-terminates at addr_len and takes strlen.
            let n = path.iter().position(|&c| c == 0).unwrap_or(path.len());
            let p = path[..n].to_vec();
            let mut canon = b[..SUN_PATH_OFF + n].to_vec();
            canon.push(0);
            Ok((UnixName::Path(p), Addr::from_bytes(&canon)))
        } else {
            Ok((UnixName::Abstract(path[1..].to_vec()), Addr::from_bytes(b)))
        }
    }

    /// The abstract name autobind makes: "\0" + five hex digits.
    pub fn autobind(n: u32) -> (UnixName, Addr) {
        let name = format!("{:05x}", n & 0xfffff).into_bytes();
        let mut b = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        b.push(0);
        b.extend_from_slice(&name);
        (UnixName::Abstract(name), Addr::from_bytes(&b))
    }

    /// Reads back the name of a stored address.
    pub fn of(a: &Addr) -> Option<UnixName> {
        let b = a.as_bytes();
        if b.len() <= SUN_PATH_OFF {
            return None;
        }
        let path = &b[SUN_PATH_OFF..];
        if path[0] != 0 {
            let n = path.iter().position(|&c| c == 0).unwrap_or(path.len());
            Some(UnixName::Path(path[..n].to_vec()))
        } else {
            Some(UnixName::Abstract(path[1..].to_vec()))
        }
    }
}

/// The unnamed AF_UNIX address getsockname reports: just the family.
pub fn unix_unnamed() -> Addr {
    Addr::from_bytes(&(libc::AF_UNIX as u16).to_ne_bytes())
}

pub fn family_of(b: &[u8]) -> u16 {
    if b.len() < 2 {
        0
    } else {
        u16::from_ne_bytes([b[0], b[1]])
    }
}

/// An IPv4 or IPv6 endpoint; IPv4 is kept as a v4-mapped IPv6 address so
/// that dual-stack comparisons are one comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct InetAddr {
    pub ip: [u8; 16],
    pub port: u16,
    pub scope: u32,
    pub flowinfo: u32,
}

const V4MAPPED: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

impl InetAddr {
    pub fn v4(ip: [u8; 4], port: u16) -> InetAddr {
        let mut b = [0u8; 16];
        b[..12].copy_from_slice(&V4MAPPED);
        b[12..].copy_from_slice(&ip);
        InetAddr { ip: b, port, scope: 0, flowinfo: 0 }
    }
    pub fn is_v4(&self) -> bool {
        self.ip[..12] == V4MAPPED
    }
    pub fn v4_bytes(&self) -> [u8; 4] {
        [self.ip[12], self.ip[13], self.ip[14], self.ip[15]]
    }
    /// INADDR_ANY (as v4-mapped 0.0.0.0) or in6addr_any.
    pub fn is_any(&self) -> bool {
        if self.is_v4() {
            self.v4_bytes() == [0; 4]
        } else {
            self.ip == [0; 16]
        }
    }
    pub fn is_loopback(&self) -> bool {
        if self.is_v4() {
            self.ip[12] == 127
        } else {
            self.ip == std::net::Ipv6Addr::LOCALHOST.octets()
        }
    }
    pub fn is_v4_broadcast(&self) -> bool {
        self.is_v4() && self.v4_bytes() == [255; 4]
    }
    pub fn is_multicast(&self) -> bool {
        if self.is_v4() {
            self.ip[12] >= 224 && self.ip[12] < 240
        } else {
            self.ip[0] == 0xff
        }
    }
    /// An address this host owns: loopback or wildcard (the emulated host
    /// has only `lo`).
    pub fn is_local(&self) -> bool {
        self.is_any() || self.is_loopback()
    }

    /// Parses a sockaddr_in / sockaddr_in6 (lengths already checked).
    pub fn parse(b: &[u8]) -> Option<InetAddr> {
        match family_of(b) as i32 {
            libc::AF_INET | libc::AF_UNSPEC if b.len() >= 16 => {
                Some(InetAddr::v4([b[4], b[5], b[6], b[7]], u16::from_be_bytes([b[2], b[3]])))
            }
            libc::AF_INET6 if b.len() >= 24 => {
                let mut ip = [0u8; 16];
                ip.copy_from_slice(&b[8..24]);
                let flowinfo = u32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
                let scope = if b.len() >= 28 { u32::from_ne_bytes([b[24], b[25], b[26], b[27]]) } else { 0 };
                Some(InetAddr { ip, port: u16::from_be_bytes([b[2], b[3]]), scope, flowinfo })
            }
            _ => None,
        }
    }

    /// The sockaddr bytes for `family` (AF_INET or AF_INET6).
    pub fn to_addr(&self, family: u16) -> Addr {
        let mut v = Vec::with_capacity(28);
        v.extend_from_slice(&family.to_ne_bytes());
        v.extend_from_slice(&self.port.to_be_bytes());
        if family == libc::AF_INET as u16 {
            v.extend_from_slice(&self.v4_bytes());
            v.extend_from_slice(&[0u8; 8]);
        } else {
            v.extend_from_slice(&self.flowinfo.to_ne_bytes());
            v.extend_from_slice(&self.ip);
            v.extend_from_slice(&self.scope.to_ne_bytes());
        }
        Addr::from_bytes(&v)
    }

    pub fn with_port(mut self, port: u16) -> InetAddr {
        self.port = port;
        self
    }

    /// Wildcard of a family (0.0.0.0 or ::).
    pub fn any(family: u16) -> InetAddr {
        if family == libc::AF_INET as u16 {
            InetAddr::v4([0; 4], 0)
        } else {
            InetAddr { ip: [0; 16], port: 0, scope: 0, flowinfo: 0 }
        }
    }
}

impl std::fmt::Display for InetAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_v4() {
            let b = self.v4_bytes();
            write!(f, "{}.{}.{}.{}:{}", b[0], b[1], b[2], b[3], self.port)
        } else {
            write!(f, "[{}]:{}", std::net::Ipv6Addr::from(self.ip), self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sun(path: &[u8]) -> Vec<u8> {
        let mut b = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        b.extend_from_slice(path);
        b
    }

    #[test]
    fn unix_path_is_cut_at_nul() {
        let (n, a) = UnixName::parse(&sun(b"/tmp/x\0junk")).unwrap();
        assert_eq!(n, UnixName::Path(b"/tmp/x".to_vec()));
        assert_eq!(a.len as usize, 2 + 6 + 1);
    }

    #[test]
    fn unix_abstract_keeps_length() {
        let (n, a) = UnixName::parse(&sun(b"\0ab\0c")).unwrap();
        assert_eq!(n, UnixName::Abstract(b"ab\0c".to_vec()));
        assert_eq!(a.len, 7);
    }

    #[test]
    fn unix_bad_lengths() {
        assert_eq!(UnixName::parse(&sun(b"")).unwrap_err(), Errno::EINVAL);
        assert_eq!(UnixName::parse(&sun(&[b'a'; 109])).unwrap_err(), Errno::EINVAL);
    }

    #[test]
    fn autobind_name_shape() {
        let (_, a) = UnixName::autobind(0x1234a);
        assert_eq!(a.len, 8);
        assert_eq!(&a.as_bytes()[3..], b"1234a");
    }

    #[test]
    fn inet_roundtrip() {
        let a = InetAddr::v4([127, 0, 0, 1], 7777);
        let b = a.to_addr(libc::AF_INET as u16);
        assert_eq!(b.len, 16);
        assert_eq!(InetAddr::parse(b.as_bytes()), Some(a));
        assert!(a.is_loopback() && a.is_local() && !a.is_any());
    }
}

//! The emulated host's interfaces and the address checks made against
//! them: net/core/dev.c (`dev_get_by_index`), net/ipv4/fib_frontend.c
//! (`inet_addr_type`), net/ipv6/addrconf.c (`ipv6_chk_addr`) and
//! net/ipv6/addrconf_core.c (`__ipv6_addr_type`).
//!
//! The emulated host has one interface, `lo` (ifindex 1), holding
//! 127.0.0.1/8 and ::1/128. Other interfaces of the real host exist only as
//! names and indexes (SO_BINDTODEVICE accepts them, see sockopt.rs); they
//! hold no address of the emulated host.

use super::addr::InetAddr;

/// One network device: `struct net_device` reduced to its name and index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetDevice {
    pub ifindex: i32,
    pub name: String,
}

/// `LOOPBACK_IFINDEX`.
pub const LOOPBACK_IFINDEX: i32 = 1;

/// `dev_get_by_index`: `lo` is the emulated host's own; another index is
/// a device of the real host's namespace if sysfs lists one.
pub fn dev_get_by_index(ifindex: i32) -> Option<NetDevice> {
    if ifindex == LOOPBACK_IFINDEX {
        return Some(NetDevice { ifindex, name: "lo".into() });
    }
    if ifindex <= 0 {
        return None;
    }
    for e in std::fs::read_dir("/sys/class/net").ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let idx = std::fs::read_to_string(e.path().join("ifindex")).ok().and_then(|s| s.trim().parse::<i32>().ok());
        if idx == Some(ifindex) {
            return Some(NetDevice { ifindex, name });
        }
    }
    None
}

/// The route types `inet_addr_type` reports (include/uapi/linux/rtnetlink.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtnType {
    Unicast,
    Local,
    Broadcast,
    Multicast,
}

/// `inet_addr_type_dev_table` for the emulated host: its local table holds
/// 127.0.0.0/8 on `lo` (with the 127.255.255.255 broadcast); 0.0.0.0 and
/// 255.255.255.255 are broadcast, 224.0.0.0/4 multicast, the rest unicast
/// (routed elsewhere).
pub fn inet_addr_type(ip: [u8; 4]) -> RtnType {
    if ip == [0; 4] || ip == [255; 4] || ip == [127, 255, 255, 255] {
        RtnType::Broadcast
    } else if (224..240).contains(&ip[0]) {
        RtnType::Multicast
    } else if ip[0] == 127 {
        RtnType::Local
    } else {
        RtnType::Unicast
    }
}

// ipv6_addr_type() bits (include/net/ipv6.h).
pub const IPV6_ADDR_ANY: u32 = 0x0000;
pub const IPV6_ADDR_UNICAST: u32 = 0x0001;
pub const IPV6_ADDR_MULTICAST: u32 = 0x0002;
pub const IPV6_ADDR_LOOPBACK: u32 = 0x0010;
pub const IPV6_ADDR_LINKLOCAL: u32 = 0x0020;
pub const IPV6_ADDR_SITELOCAL: u32 = 0x0040;
pub const IPV6_ADDR_MAPPED: u32 = 0x1000;
pub const IPV6_ADDR_RESERVED: u32 = 0x2000;

/// `__ipv6_addr_type` without the scope half: the type bits of an address.
pub fn ipv6_addr_type(a: &InetAddr) -> u32 {
    let b = &a.ip;
    let st = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    if st & 0xFF00_0000 == 0xFF00_0000 {
        // Multicast: the scope nibble gives the scope bits (IPV6_ADDR_MC_SCOPE).
        return IPV6_ADDR_MULTICAST
            | match b[1] & 0x0f {
                0x1 => IPV6_ADDR_LOOPBACK,
                0x2 => IPV6_ADDR_LINKLOCAL,
                0x5 => IPV6_ADDR_SITELOCAL,
                _ => 0,
            };
    }
    if st & 0xE000_0000 != 0 && st & 0xE000_0000 != 0xE000_0000 {
        // 2000::/3 .. c000::/3: global unicast.
        return IPV6_ADDR_UNICAST;
    }
    if st & 0xFFC0_0000 == 0xFE80_0000 {
        return IPV6_ADDR_LINKLOCAL | IPV6_ADDR_UNICAST;
    }
    if st & 0xFFC0_0000 == 0xFEC0_0000 {
        return IPV6_ADDR_SITELOCAL | IPV6_ADDR_UNICAST;
    }
    if st & 0xFE00_0000 == 0xFC00_0000 {
        // RFC 4193 unique local.
        return IPV6_ADDR_UNICAST;
    }
    if b[..8] == [0; 8] {
        let w2 = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
        let w3 = u32::from_be_bytes([b[12], b[13], b[14], b[15]]);
        if w2 == 0 {
            if w3 == 0 {
                return IPV6_ADDR_ANY;
            }
            if w3 == 1 {
                return IPV6_ADDR_LOOPBACK | IPV6_ADDR_UNICAST;
            }
            // v4-compatible (deprecated).
            return IPV6_ADDR_UNICAST;
        }
        if w2 == 0x0000_ffff {
            return IPV6_ADDR_MAPPED;
        }
    }
    IPV6_ADDR_UNICAST | IPV6_ADDR_RESERVED
}

/// `__ipv6_addr_needs_scope_id`: link-local unicast, and multicast of
/// interface- or link-local scope.
pub fn ipv6_addr_needs_scope_id(ty: u32) -> bool {
    ty & IPV6_ADDR_LINKLOCAL != 0 || (ty & IPV6_ADDR_MULTICAST != 0 && ty & (IPV6_ADDR_LOOPBACK | IPV6_ADDR_LINKLOCAL) != 0)
}

/// `ipv6_iface_scope_id`: the sin6_scope_id getsockname/getpeername give.
pub fn ipv6_iface_scope_id(a: &InetAddr, iface: i32) -> u32 {
    if ipv6_addr_needs_scope_id(ipv6_addr_type(a)) {
        iface as u32
    } else {
        0
    }
}

/// `ipv6_chk_addr(net, addr, dev, 0)`: whether `addr` is one of the host's
/// addresses (only ::1, on `lo`, scope host). With a device, an address of
/// another device counts only if its scope is wider than link (strict 0):
/// ::1 is host scope, so only `lo` or no device finds it.
pub fn ipv6_chk_addr(a: &InetAddr, dev: Option<&NetDevice>) -> bool {
    a.ip == std::net::Ipv6Addr::LOCALHOST.octets() && dev.is_none_or(|d| d.ifindex == LOOPBACK_IFINDEX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str) -> InetAddr {
        let ip: std::net::Ipv6Addr = s.parse().unwrap();
        InetAddr { ip: ip.octets(), port: 0, scope: 0, flowinfo: 0 }
    }

    #[test]
    fn types() {
        assert_eq!(ipv6_addr_type(&v6("::")), IPV6_ADDR_ANY);
        assert_eq!(ipv6_addr_type(&v6("::1")), IPV6_ADDR_LOOPBACK | IPV6_ADDR_UNICAST);
        assert_eq!(ipv6_addr_type(&v6("::ffff:1.2.3.4")), IPV6_ADDR_MAPPED);
        assert!(ipv6_addr_needs_scope_id(ipv6_addr_type(&v6("fe80::1"))));
        assert!(ipv6_addr_needs_scope_id(ipv6_addr_type(&v6("ff02::1"))));
        assert!(!ipv6_addr_needs_scope_id(ipv6_addr_type(&v6("ff0e::1"))));
        assert!(!ipv6_addr_needs_scope_id(ipv6_addr_type(&v6("2001:db8::1"))));
    }

    #[test]
    fn v4_types() {
        assert_eq!(inet_addr_type([127, 0, 0, 1]), RtnType::Local);
        assert_eq!(inet_addr_type([192, 0, 2, 1]), RtnType::Unicast);
        assert_eq!(inet_addr_type([224, 0, 0, 1]), RtnType::Multicast);
    }
}

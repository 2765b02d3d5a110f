//! The address guard: which resolved addresses a tunnel may never reach unless the sandbox's
//! policy names them (loopback, private, link-local and cloud metadata, multicast, …).
//!
//! Documentation and benchmarking ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
//! 198.18.0.0/15) are public for this purpose: package registries resolve into them on some
//! networks.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is internal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Internal {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// 10/8, 172.16/12, 192.168/16, fc00::/7.
    Private,
    /// 100.64/10 (carrier-grade NAT).
    SharedNat,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// 169.254.169.254, fd00:ec2::254 (cloud instance metadata).
    Metadata,
    /// 224/4, ff00::/8.
    Multicast,
    /// 240/4, 255.255.255.255, 192.0.0.0/24 and other special-purpose blocks.
    Reserved,
}

impl fmt::Display for Internal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Internal::Loopback => "a loopback address",
            Internal::Unspecified => "an unspecified address",
            Internal::Private => "a private address",
            Internal::SharedNat => "a shared (CGNAT) address",
            Internal::LinkLocal => "a link-local address",
            Internal::Metadata => "the cloud metadata address",
            Internal::Multicast => "a multicast address",
            Internal::Reserved => "a reserved address",
        })
    }
}

/// `Some(class)` when `ip` is internal. IPv6 forms that embed an IPv4 address (mapped,
/// compatible, NAT64, 6to4) are judged by the embedded address.
pub fn internal(ip: IpAddr) -> Option<Internal> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<Internal> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => Internal::Metadata,
        (127, _, _) => Internal::Loopback,
        (0, _, _) => Internal::Unspecified,
        (10, _, _) | (192, 168, _) => Internal::Private,
        (172, 16..=31, _) => Internal::Private,
        (100, 64..=127, _) => Internal::SharedNat,
        (169, 254, _) => Internal::LinkLocal,
        (224..=239, _, _) => Internal::Multicast,
        (240..=255, _, _) | (192, 0, 0) => Internal::Reserved,
        _ => return None,
    })
}

fn internal_v6(ip: Ipv6Addr) -> Option<Internal> {
    if let Some(v4) = embedded_v4(ip) {
        return internal_v4(v4);
    }
    let s = ip.segments();
    Some(match s[0] {
        _ if ip == Ipv6Addr::LOCALHOST => Internal::Loopback,
        _ if ip == Ipv6Addr::UNSPECIFIED => Internal::Unspecified,
        _ if s == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254] => Internal::Metadata,
        0xfc00..=0xfdff => Internal::Private,
        0xfe80..=0xfebf => Internal::LinkLocal,
        // fec0::/10, the deprecated site-local range.
        0xfec0..=0xfeff => Internal::Private,
        0xff00..=0xffff => Internal::Multicast,
        // 100::/64 discard-only.
        0x0100 if s[1..4] == [0, 0, 0] => Internal::Reserved,
        _ => return None,
    })
}

fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, not :: or ::1).
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail()),
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(tail()),
        // 64:ff9b::/96 (NAT64).
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail()),
        // 2002:AABB:CCDD::/48 (6to4).
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<Internal> {
        internal(s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }

    #[test]
    fn internal_ranges() {
        for (ip, want) in [
            ("127.0.0.1", Internal::Loopback),
            ("127.255.0.9", Internal::Loopback),
            ("0.0.0.0", Internal::Unspecified),
            ("10.1.2.3", Internal::Private),
            ("172.31.255.1", Internal::Private),
            ("192.168.0.1", Internal::Private),
            ("100.100.100.100", Internal::SharedNat),
            ("169.254.169.254", Internal::Metadata),
            ("169.254.1.1", Internal::LinkLocal),
            ("224.0.0.1", Internal::Multicast),
            ("255.255.255.255", Internal::Reserved),
            ("::1", Internal::Loopback),
            ("::", Internal::Unspecified),
            ("::ffff:127.0.0.1", Internal::Loopback),
            ("::ffff:169.254.169.254", Internal::Metadata),
            ("::127.0.0.1", Internal::Loopback),
            ("64:ff9b::a9fe:a9fe", Internal::Metadata),
            ("2002:7f00:1::", Internal::Loopback),
            ("fd00:ec2::254", Internal::Metadata),
            ("fd12:3456::1", Internal::Private),
            ("fe80::1", Internal::LinkLocal),
            ("ff02::1", Internal::Multicast),
        ] {
            assert_eq!(class(ip), Some(want), "{ip}");
        }
    }

    #[test]
    fn public_and_documentation_ranges_pass() {
        for ip in [
            "8.8.8.8",
            "104.16.0.1",
            "172.32.0.1",
            "203.0.113.7",
            "198.51.100.1",
            "192.0.2.1",
            "198.18.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(class(ip), None, "{ip}");
        }
    }
}

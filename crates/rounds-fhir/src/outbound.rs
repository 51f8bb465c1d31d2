//! Where the client may connect: the outbound address policy.
//!
//! The FHIR base URL is typed by a team owner, not a site administrator, so
//! the server must not become a way to reach a cloud metadata service or an
//! arbitrary internal host (server-side request forgery). An
//! [`OutboundPolicy`] refuses, always:
//!
//! - link-local addresses (169.254.0.0/16, which holds the metadata service
//!   169.254.169.254, and fe80::/10),
//! - the other cloud metadata addresses 100.100.100.200 (Alibaba Cloud) and
//!   fd00:ec2::254 (AWS, IPv6), and the metadata host names
//!   (`metadata.google.internal`, `metadata`, `instance-data`, ...),
//! - unspecified (0.0.0.0/8, `::`), multicast and broadcast addresses,
//!
//! judging an IPv6 spelling of an IPv4 address (mapped `::ffff:a.b.c.d`,
//! compatible `::a.b.c.d`, translated `::ffff:0:a.b.c.d`) as that IPv4
//! address, and a NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`)
//! address as refused when its IPv4 address is. Loopback (127.0.0.0/8, `::1`
//! and those forms of 127.x) is refused unless the policy allows it
//! (`ehr_allow_loopback`). When the site lists allowed ranges
//! (`ehr_allowed_networks`), only addresses inside them are allowed.
//!
//! The client enforces the policy where it connects: host names go through a
//! resolver ([`PolicyResolver`]) that drops refused addresses, so the address
//! checked is the address connected to (a DNS answer that changes between a
//! check and the connection gains nothing); IP-literal hosts, which skip the
//! resolver, are checked before each request.
//!
//! (Over 500 lines with its tests; the policy itself is under 400 lines.)

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use url::{Host, Url};

use crate::error::FhirError;

/// The name of the site setting that lists allowed ranges, as messages show it.
const SETTING: &str = "ehr_allowed_networks";

/// Host names of cloud metadata services, refused whatever they resolve to.
const REFUSED_NAMES: [&str; 4] = [
    "metadata.google.internal",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
];

const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
const ALIBABA_METADATA_V4: Ipv4Addr = Ipv4Addr::new(100, 100, 100, 200);
const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

/// Which addresses the FHIR client may connect to.
///
/// Always refused, whatever the allowed ranges say: link-local addresses
/// (169.254.0.0/16, which holds the cloud metadata service 169.254.169.254,
/// and fe80::/10), the metadata addresses 100.100.100.200 (Alibaba Cloud) and
/// fd00:ec2::254 (AWS, IPv6), the metadata host names
/// (`metadata.google.internal`, `metadata`, `instance-data`,
/// `instance-data.ec2.internal`), unspecified (0.0.0.0/8, `::`), multicast
/// and broadcast addresses. An IPv6 spelling of an IPv4 address (mapped,
/// compatible, translated) is judged as that IPv4 address; a NAT64 or 6to4
/// address is refused when its IPv4 address is. Loopback is refused unless
/// [`OutboundPolicy::allow_loopback`].
///
/// The default (no allowed ranges) allows everything else; with ranges, only
/// addresses inside them. The client checks the addresses a host name
/// resolves to when it connects (the address checked is the one connected
/// to), and IP-literal hosts before each request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// When empty, every address not always refused is allowed; otherwise
    /// only addresses inside one of these ranges.
    pub allowed: Vec<IpNet>,
    /// Whether loopback addresses (127.0.0.0/8, `::1`, and IPv6 forms
    /// embedding 127.x) may be reached at all. Off, they are refused
    /// whatever `allowed` says: a team owner could otherwise probe the
    /// services of the Rounds host itself. `rounds serve` turns it on only
    /// with the `ehr_allow_loopback` setting; the library default is on
    /// (`rounds demo` and tests run their EHR on 127.0.0.1).
    pub allow_loopback: bool,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        Self {
            allowed: Vec::new(),
            allow_loopback: true,
        }
    }
}

impl OutboundPolicy {
    /// Reads the site's allowed ranges as typed: CIDR ranges
    /// (`10.20.0.0/16`, `fd12:3456::/48`) or single addresses (`10.1.2.3`).
    /// Blank entries are skipped; an empty list allows everything not always
    /// refused.
    pub fn parse_allowed(values: &[String]) -> Result<Self, FhirError> {
        let mut allowed = Vec::with_capacity(values.len());
        for value in values {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let net = match value.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => match value.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => {
                        let shown: String = value.chars().take(60).collect();
                        return Err(FhirError::Config(format!(
                            "{SETTING}: '{shown}' is not an address range like 10.20.0.0/16"
                        )));
                    }
                },
            };
            allowed.push(net);
        }
        Ok(OutboundPolicy {
            allowed,
            ..OutboundPolicy::default()
        })
    }

    /// Whether the client may connect to `ip`; the error says why not.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), FhirError> {
        match self.refusal(ip) {
            Some(reason) => Err(FhirError::Config(reason)),
            None => Ok(()),
        }
    }

    /// Whether a host name is one the client never resolves (a cloud
    /// metadata service's name). Case and a trailing dot do not matter.
    pub fn check_host_name(&self, name: &str) -> Result<(), FhirError> {
        match name_refusal(name) {
            Some(reason) => Err(FhirError::Config(reason)),
            None => Ok(()),
        }
    }

    /// Whether a request to `url` may go out: http or https, a host, an
    /// IP-literal host allowed by [`OutboundPolicy::check_ip`], a host name
    /// not refused by name. (The addresses a name resolves to are checked
    /// when the client connects.) The error names the host, never the path
    /// or query.
    pub fn check_url(&self, url: &Url) -> Result<(), FhirError> {
        if !matches!(url.scheme(), "http" | "https") {
            let scheme: String = url.scheme().chars().take(20).collect();
            return Err(FhirError::Config(format!(
                "EHR connections use http or https, not {scheme}"
            )));
        }
        match url.host() {
            None => Err(FhirError::Config(
                "an EHR address must name a host".to_owned(),
            )),
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => self.check_host_name(name),
        }
    }

    /// Why `ip` is refused, or `None` when the client may connect to it.
    pub(crate) fn refusal(&self, ip: IpAddr) -> Option<String> {
        // An IPv6 form that reaches an IPv4 host: judge it as that host.
        let ip = match ip {
            IpAddr::V6(v6) => v4_host_of(v6).map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        if let Some(what) = always_refused(ip) {
            return Some(format!("{ip} is {what}; Rounds never connects there"));
        }
        if !self.allow_loopback {
            if let Some(what) = loopback(ip) {
                return Some(format!(
                    "{ip} is {what}; Rounds connects there only when the site allows it (ehr_allow_loopback)"
                ));
            }
        }
        if self.allowed.is_empty() || self.allowed.iter().any(|net| net.contains(&ip)) {
            return None;
        }
        Some(format!(
            "{ip} is outside the address ranges this site allows for EHR connections ({SETTING}: {})",
            self.allowed_list()
        ))
    }

    fn allowed_list(&self) -> String {
        let mut out = String::new();
        for (i, net) in self.allowed.iter().enumerate() {
            if i == 8 {
                out.push_str(&format!(", and {} more", self.allowed.len() - 8));
                break;
            }
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&net.to_string());
        }
        out
    }
}

/// The IPv4 host an IPv6 address is only another spelling of: mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated but still
/// routed to the IPv4 host by some stacks) and IPv4-translated
/// (`::ffff:0:a.b.c.d`). `::` and `::1` are IPv6 addresses of their own.
fn v4_host_of(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let seg = v6.segments();
    let embedded = || {
        let o = v6.octets();
        Ipv4Addr::new(o[12], o[13], o[14], o[15])
    };
    if seg[..6] == [0; 6] && !v6.is_unspecified() && !v6.is_loopback() {
        return Some(embedded());
    }
    if seg[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return Some(embedded());
    }
    None
}

/// The IPv4 address a gateway would connect to for an IPv6 address that
/// embeds one: NAT64 (64:ff9b::/96, RFC 6052) and 6to4 (2002::/16, the
/// IPv4 address in bits 16 to 47).
fn gateway_v4_of(v6: Ipv6Addr) -> Option<(&'static str, Ipv4Addr)> {
    let seg = v6.segments();
    let o = v6.octets();
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(("a NAT64", Ipv4Addr::new(o[12], o[13], o[14], o[15])));
    }
    if seg[0] == 0x2002 {
        return Some(("a 6to4", Ipv4Addr::new(o[2], o[3], o[4], o[5])));
    }
    None
}

/// What kind of loopback address `ip` is, if it is one (also through a
/// NAT64 or 6to4 form of 127.x).
fn loopback(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Some("a loopback address".into()),
        IpAddr::V4(_) => None,
        IpAddr::V6(v6) if v6.is_loopback() => Some("the loopback address".into()),
        IpAddr::V6(v6) => gateway_v4_of(v6)
            .filter(|(_, v4)| v4.is_loopback())
            .map(|(kind, v4)| format!("{kind} address of {v4}, a loopback address")),
    }
}

/// What kind of always-refused address `ip` is, if it is one.
fn always_refused(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => v4_refused(v4).map(str::to_owned),
        IpAddr::V6(v6) => {
            if v6.is_unspecified() {
                return Some("the unspecified address".into());
            }
            if v6 == AWS_METADATA_V6 {
                return Some("a cloud metadata address (AWS, IPv6)".into());
            }
            let seg = v6.segments();
            if seg[0] & 0xffc0 == 0xfe80 {
                return Some("a link-local address".into());
            }
            if v6.is_multicast() {
                return Some("a multicast address".into());
            }
            // NAT64 and 6to4: the gateway would connect to the embedded
            // IPv4 address.
            if let Some((kind, v4)) = gateway_v4_of(v6) {
                if let Some(what) = v4_refused(v4) {
                    return Some(format!("{kind} address of {v4}, which is {what}"));
                }
            }
            None
        }
    }
}

fn v4_refused(v4: Ipv4Addr) -> Option<&'static str> {
    if v4 == METADATA_V4 {
        Some("a link-local (cloud metadata) address")
    } else if v4.is_link_local() {
        Some("a link-local address")
    } else if v4 == ALIBABA_METADATA_V4 {
        Some("a cloud metadata address (Alibaba Cloud)")
    } else if v4.octets()[0] == 0 {
        Some("an unspecified ('this network', 0.0.0.0/8) address")
    } else if v4.is_broadcast() {
        Some("the broadcast address")
    } else if v4.is_multicast() {
        Some("a multicast address")
    } else {
        None
    }
}

fn name_refusal(name: &str) -> Option<String> {
    let normal = name.trim_end_matches('.').to_ascii_lowercase();
    if REFUSED_NAMES.contains(&normal.as_str()) {
        Some(format!(
            "{normal} is the name of a cloud metadata service; Rounds never connects there"
        ))
    } else {
        None
    }
}

/// The reason a connection was refused, carried through reqwest's error chain
/// from the resolver so the client can report it as a configuration error.
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The policy's refusal somewhere in an error's source chain, as
/// [`FhirError::Config`] (not worth a retry).
pub(crate) fn refusal_in(err: &(dyn std::error::Error + 'static)) -> Option<FhirError> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(FhirError::Config(refused.0.clone()));
        }
        current = e.source();
    }
    None
}

/// Resolves host names with the system resolver and keeps only the
/// addresses the policy allows: the connection goes to an address that was
/// checked. No allowed address left is an error saying why.
/// (Public so that the gateway's proxy to its upstreams connects under the
/// same policy.)
#[derive(Debug)]
pub struct PolicyResolver {
    policy: Arc<OutboundPolicy>,
}

impl PolicyResolver {
    /// A resolver enforcing `policy`, for `reqwest::ClientBuilder::dns_resolver`.
    pub fn new(policy: Arc<OutboundPolicy>) -> Self {
        PolicyResolver { policy }
    }
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_allowed(&policy, &host).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn resolve_allowed(policy: &OutboundPolicy, host: &str) -> Result<Vec<SocketAddr>, BoxError> {
    if let Some(reason) = name_refusal(host) {
        return Err(Box::new(Refused(reason)));
    }
    let mut kept = Vec::new();
    let mut first_refusal = None;
    for addr in tokio::net::lookup_host((host, 0)).await? {
        match policy.refusal(addr.ip()) {
            None => {
                if !kept.contains(&addr) {
                    kept.push(addr);
                }
            }
            Some(reason) => {
                tracing::debug!(host, %reason, "outbound policy: address dropped");
                first_refusal.get_or_insert(reason);
            }
        }
    }
    match (kept.is_empty(), first_refusal) {
        (false, _) => Ok(kept),
        (true, Some(reason)) => Err(Box::new(Refused(format!(
            "{host} resolves only to addresses Rounds may not connect to: {reason}"
        )))),
        (true, None) => Err(format!("{host} resolves to no address").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn open() -> OutboundPolicy {
        OutboundPolicy::default()
    }

    fn only(ranges: &[&str]) -> OutboundPolicy {
        let v: Vec<String> = ranges.iter().map(|s| s.to_string()).collect();
        OutboundPolicy::parse_allowed(&v).unwrap()
    }

    fn reason(p: &OutboundPolicy, s: &str) -> String {
        match p.check_ip(ip(s)) {
            Err(FhirError::Config(m)) => m,
            other => panic!("{s}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn always_refused_v4() {
        let p = open();
        assert_eq!(
            reason(&p, "169.254.169.254"),
            "169.254.169.254 is a link-local (cloud metadata) address; Rounds never connects there"
        );
        assert!(reason(&p, "169.254.1.1").contains("is a link-local address"));
        assert!(reason(&p, "100.100.100.200").contains("Alibaba"));
        assert!(reason(&p, "0.0.0.0").contains("unspecified"));
        assert!(reason(&p, "0.1.2.3").contains("unspecified"));
        assert!(reason(&p, "255.255.255.255").contains("broadcast"));
        assert!(reason(&p, "224.0.0.1").contains("multicast"));
        assert!(reason(&p, "239.255.255.250").contains("multicast"));
        for fine in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.10",
            "172.16.0.1",
            "100.100.100.201",
            "169.253.255.255",
            "169.255.0.1",
            "8.8.8.8",
        ] {
            assert!(p.check_ip(ip(fine)).is_ok(), "{fine}");
        }
    }

    #[test]
    fn always_refused_v6_and_mapped() {
        let p = open();
        assert!(reason(&p, "::").contains("unspecified"));
        assert!(reason(&p, "fe80::1").contains("link-local"));
        assert!(reason(&p, "febf:ffff::1").contains("link-local"));
        assert!(reason(&p, "fd00:ec2::254").contains("AWS"));
        assert!(reason(&p, "ff02::1").contains("multicast"));
        // Mapped: judged (and shown) as the IPv4 address.
        assert_eq!(
            reason(&p, "::ffff:169.254.169.254"),
            reason(&p, "169.254.169.254")
        );
        assert!(reason(&p, "::ffff:100.100.100.200").contains("Alibaba"));
        assert!(reason(&p, "::ffff:0.0.0.0").contains("unspecified"));
        // NAT64 of the metadata address.
        assert!(reason(&p, "64:ff9b::a9fe:a9fe").contains("NAT64 address of 169.254.169.254"));
        for fine in [
            "::1",
            "fec0::1",
            "fd00:ec2::253",
            "fd12:3456::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "64:ff9b::808:808",
        ] {
            assert!(p.check_ip(ip(fine)).is_ok(), "{fine}");
        }
    }

    #[test]
    fn ipv6_forms_of_a_refused_ipv4_address_are_refused() {
        let p = open();
        let metadata = reason(&p, "169.254.169.254");
        // IPv4-compatible and IPv4-translated: judged as the IPv4 address.
        assert_eq!(reason(&p, "::169.254.169.254"), metadata);
        assert_eq!(reason(&p, "::a9fe:a9fe"), metadata);
        assert_eq!(reason(&p, "::ffff:0:169.254.169.254"), metadata);
        assert!(reason(&p, "::100.100.100.200").contains("Alibaba"));
        assert!(reason(&p, "::ffff:0:0.0.0.0").contains("unspecified"));
        // 6to4 and NAT64 embedding a refused address.
        assert!(reason(&p, "2002:a9fe:a9fe::1")
            .contains("a 6to4 address of 169.254.169.254, which is a link-local"));
        assert!(reason(&p, "2002:e000:0001::").contains("multicast"));
        assert!(reason(&p, "64:ff9b::169.254.169.254").contains("NAT64"));
        // The same forms of an ordinary address are fine; ::1 stays IPv6 loopback.
        for fine in [
            "::10.0.0.1",
            "::ffff:0:10.0.0.1",
            "2002:0a00:0001::1",
            "::1",
        ] {
            assert!(p.check_ip(ip(fine)).is_ok(), "{fine}");
        }
        // Judged as IPv4 for the allowed ranges too.
        let p = only(&["10.20.0.0/16"]);
        assert!(p.check_ip(ip("::10.20.1.2")).is_ok());
        assert!(reason(&p, "::10.21.1.2").contains("10.21.1.2 is outside"));
        // Through a URL, as typed into a connection.
        let url = |s: &str| Url::parse(s).unwrap();
        for typed in [
            "http://[::169.254.169.254]/",
            "http://[::ffff:0:a9fe:a9fe]/",
            "http://[2002:a9fe:a9fe::]/",
        ] {
            assert!(open().check_url(&url(typed)).is_err(), "{typed}");
        }
    }

    #[test]
    fn loopback_only_when_allowed() {
        let mut p = open();
        assert!(p.check_ip(ip("127.0.0.1")).is_ok());
        p.allow_loopback = false;
        assert_eq!(
            reason(&p, "127.0.0.1"),
            "127.0.0.1 is a loopback address; Rounds connects there only when the site allows it (ehr_allow_loopback)"
        );
        for refused in [
            "127.9.9.9",
            "::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::127.0.0.1",
            "2002:7f00:1::",
        ] {
            assert!(
                reason(&p, refused).contains("ehr_allow_loopback"),
                "{refused}"
            );
        }
        // Allowed ranges do not open loopback when it is off.
        let mut ranges = only(&["127.0.0.0/8", "10.0.0.0/8"]);
        ranges.allow_loopback = false;
        assert!(reason(&ranges, "127.0.0.1").contains("ehr_allow_loopback"));
        assert!(ranges.check_ip(ip("10.1.1.1")).is_ok());
        for fine in ["10.0.0.1", "8.8.8.8", "2001:db8::1", "::2.3.4.5"] {
            assert!(p.check_ip(ip(fine)).is_ok(), "{fine}");
        }
    }

    #[tokio::test]
    async fn localhost_is_refused_without_loopback() {
        let mut p = open();
        p.allow_loopback = false;
        let e = resolve_allowed(&p, "localhost").await.unwrap_err();
        let refused = e.downcast_ref::<Refused>().expect("a policy refusal");
        assert!(refused.0.contains("ehr_allow_loopback"), "{}", refused.0);
    }

    #[test]
    fn allowed_ranges() {
        let p = only(&["10.20.0.0/16"]);
        assert_eq!(
            reason(&p, "10.9.9.9"),
            "10.9.9.9 is outside the address ranges this site allows for EHR connections (ehr_allowed_networks: 10.20.0.0/16)"
        );
        assert!(p.check_ip(ip("10.20.0.1")).is_ok());
        assert!(p.check_ip(ip("10.20.255.255")).is_ok());
        assert!(reason(&p, "127.0.0.1").contains("outside"));
        // Mapped IPv6 of an allowed IPv4 address is allowed; other IPv6 not.
        assert!(p.check_ip(ip("::ffff:10.20.3.4")).is_ok());
        assert!(reason(&p, "::ffff:10.21.3.4").contains("outside"));
        assert!(reason(&p, "2001:db8::1").contains("outside"));

        let p = only(&[" fd12:3456::/48 ", "", "192.168.7.7", "10.0.0.0/8"]);
        assert_eq!(p.allowed.len(), 3);
        assert!(p.check_ip(ip("fd12:3456:0:1::5")).is_ok());
        assert!(p.check_ip(ip("192.168.7.7")).is_ok());
        assert!(reason(&p, "192.168.7.8")
            .contains("(ehr_allowed_networks: fd12:3456::/48, 192.168.7.7/32, 10.0.0.0/8)"));
        assert!(reason(&p, "fd12:3457::1").contains("outside"));

        // An allowed range never opens an always-refused address.
        let p = only(&["0.0.0.0/0", "::/0"]);
        assert!(p.check_ip(ip("8.8.8.8")).is_ok());
        assert!(p.check_ip(ip("2001:db8::1")).is_ok());
        assert!(reason(&p, "169.254.169.254").contains("never connects"));
        assert!(reason(&p, "fe80::1").contains("never connects"));
    }

    #[test]
    fn bad_ranges_say_what_is_expected() {
        for bad in ["10.0.0.0/33", "10.0.0/8", "intranet", "fd00::/129"] {
            let e = OutboundPolicy::parse_allowed(&[bad.to_owned()]).unwrap_err();
            assert!(matches!(e, FhirError::Config(_)));
            assert_eq!(
                e.to_string(),
                format!("configuration: ehr_allowed_networks: '{bad}' is not an address range like 10.20.0.0/16")
            );
            assert!(!e.should_retry());
        }
        assert!(OutboundPolicy::parse_allowed(&[])
            .unwrap()
            .allowed
            .is_empty());
    }

    #[test]
    fn urls() {
        let p = only(&["10.0.0.0/8"]);
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(p.check_url(&url("https://10.1.2.3/fhir")).is_ok());
        assert!(p
            .check_url(&url("https://ehr.hospital.example/fhir"))
            .is_ok());
        let e = p
            .check_url(&url("http://169.254.169.254/latest/meta-data?token=abc"))
            .unwrap_err();
        assert!(e.to_string().contains("169.254.169.254 is a link-local"));
        assert!(!e.to_string().contains("token=abc") && !e.to_string().contains("meta-data"));
        assert!(p.check_url(&url("http://127.0.0.1:8080/fhir")).is_err());
        assert!(p.check_url(&url("http://[::ffff:a9fe:a9fe]/")).is_err());
        assert!(p.check_url(&url("http://[fe80::1]/")).is_err());
        // Other spellings of an IPv4 address are normalised by the URL parser.
        assert!(open().check_url(&url("http://0xa9fea9fe/")).is_err());
        assert!(open().check_url(&url("http://2852039166/")).is_err());
        for name in [
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://METADATA.google.internal./",
            "http://metadata/",
            "http://instance-data/latest/",
        ] {
            let e = open().check_url(&url(name)).unwrap_err();
            assert!(
                e.to_string().contains("cloud metadata service"),
                "{name}: {e}"
            );
        }
        assert!(open()
            .check_url(&url("http://metadata.example.org/"))
            .is_ok());
        assert!(open()
            .check_url(&url("ftp://ehr.example/fhir"))
            .unwrap_err()
            .to_string()
            .contains("http or https"));
    }

    #[tokio::test]
    async fn resolver_drops_refused_addresses() {
        let loopback_only = only(&["127.0.0.0/8"]);
        let kept = resolve_allowed(&loopback_only, "localhost").await.unwrap();
        assert!(!kept.is_empty());
        assert!(kept.iter().all(|a| a.ip().is_loopback() && a.is_ipv4()));

        let e = resolve_allowed(&only(&["10.0.0.0/8"]), "localhost")
            .await
            .unwrap_err();
        let refused = e.downcast_ref::<Refused>().expect("a policy refusal");
        assert!(
            refused
                .0
                .starts_with("localhost resolves only to addresses Rounds may not connect to: ")
                && refused.0.contains("outside the address ranges"),
            "{}",
            refused.0
        );
        let e = resolve_allowed(&open(), "metadata.google.internal")
            .await
            .unwrap_err();
        assert!(e.downcast_ref::<Refused>().is_some(), "{e}");
    }
}

//! Where webhooks may go. A tenant admin names the URL, so without a guard the service would POST
//! wherever it is told inside the network: its own metrics port, Redis, a cloud metadata endpoint.
//! Only public addresses are targets, unless the operator allows internal ranges explicitly
//! (`--webhook-allow`, for tests and on-premise receivers). The check runs when the webhook is set
//! (any address the host resolves to now, numeric forms such as `2130706433` included) and again at
//! every delivery, on the addresses actually connected to, so a name that later resolves inside
//! (DNS rebinding) is refused too.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use earshot_core::InvalidArgument;
use hyper_util::client::legacy::connect::dns::Name;
use ipnet::IpNet;

/// How long setting a webhook waits for its host to resolve; an unresolvable host is accepted and
/// checked at delivery.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Which addresses webhooks may be delivered to.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    allowed: Vec<IpNet>,
}

impl TargetPolicy {
    /// Public addresses, plus the internal ranges in `allowed`.
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// Parses a comma-separated list of addresses and CIDR ranges (`127.0.0.1,10.0.0.0/8`).
    pub fn parse(list: &str) -> Result<Self, InvalidArgument> {
        let allowed = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry.parse::<IpNet>().or_else(|_| entry.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                    InvalidArgument::new("webhook_allow", format!("'{entry}' is no address or CIDR range"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { allowed })
    }

    /// Whether a webhook may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }

    /// Refuses a URL whose host is, or now resolves to, an address webhooks may not reach.
    pub async fn check(&self, uri: &hyper::Uri) -> Result<(), InvalidArgument> {
        let Some(host) = uri.host() else {
            return Err(InvalidArgument::new("url", "must have a host"));
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
        let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port))).await {
                Ok(Ok(resolved)) => resolved.map(|address| address.ip()).collect(),
                // Not resolvable from here now: every delivery checks what it connects to.
                Ok(Err(_)) | Err(_) => Vec::new(),
            },
        };
        match addresses.into_iter().find(|ip| !self.permits(*ip)) {
            Some(ip) => Err(InvalidArgument::new(
                "url",
                format!("'{host}' is {ip}, an internal address webhooks may not reach (see --webhook-allow)"),
            )),
            None => Ok(()),
        }
    }

    /// Refuses a delivery to an IP literal the resolver never sees.
    pub fn check_literal(&self, uri: &hyper::Uri) -> Result<(), String> {
        let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        match host.parse::<IpAddr>() {
            Ok(ip) if !self.permits(ip) => Err(format!("refused: {ip} is an internal address")),
            _ => Ok(()),
        }
    }
}

/// Whether `ip` is a routable public address: not loopback, private, link-local, unique-local,
/// shared (CGNAT), multicast, broadcast, unspecified, documentation or reserved, in IPv4 or IPv6
/// (IPv4-mapped and NAT64 forms judged by the IPv4 address inside).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    let embedded = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    // NAT64 (64:ff9b::/96) carries the IPv4 address last, 6to4 (2002::/16) right after the prefix.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded(segments[6], segments[7]));
    }
    if segments[0] == 0x2002 {
        return is_public_v4(embedded(segments[1], segments[2]));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00
        || (segments[0] & 0xffc0) == 0xfe80
        || (segments[0] & 0xffc0) == 0xfec0
        || (segments[0] == 0x64 && segments[1] == 0xff9b && segments[2] == 1)
        || segments[..4] == [0x100, 0, 0, 0]
        || (segments[0] == 0x2001 && segments[1] == 0x0db8)
        || segments[..6] == [0; 6])
}

/// A resolver for the webhook client that keeps only the addresses the policy permits, so a
/// connection never reaches an internal address whatever the name resolves to at the time.
#[derive(Clone)]
pub struct GuardedResolver {
    policy: Arc<TargetPolicy>,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<TargetPolicy>) -> Self {
        Self { policy }
    }
}

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy.clone();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = resolved.iter().copied().filter(|a| policy.permits(a.ip())).collect();
            if permitted.is_empty() {
                let shown = resolved.first().map_or_else(|| "nothing".to_owned(), |a| a.ip().to_string());
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("refused: {} resolves to {shown}, an internal address", name.as_str()),
                ));
            }
            Ok(permitted.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &TargetPolicy, url: &str) -> bool {
        let uri: hyper::Uri = url.parse().unwrap_or_else(|e| panic!("{url}: {e}"));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        runtime.is_ok_and(|rt| rt.block_on(policy.check(&uri)).is_err())
    }

    #[test]
    fn internal_targets_are_refused_in_every_form() {
        let policy = TargetPolicy::default();
        for url in [
            "http://127.0.0.1:9451/metrics",
            "http://localhost:6379/",
            "http://[::1]:50051/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.5/hook",
            "http://192.168.1.1/hook",
            "http://172.20.0.1/hook",
            "http://0.0.0.0:50053/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://100.64.0.1/",
            "http://[64:ff9b::a00:5]/",
            "http://[2002:c0a8:101::1]/",
            "http://[fec0::1]/",
            "http://[100::1]/",
        ] {
            assert!(refused(&policy, url), "{url} must be refused");
        }
    }

    #[test]
    fn public_targets_pass_and_allowed_ranges_open_internal_ones() {
        let policy = TargetPolicy::default();
        // Literal addresses only: the test suite touches no network beyond loopback.
        for url in ["https://93.184.215.14/hook", "http://[2606:4700::1111]/", "http://8.8.8.8:8080/x"] {
            assert!(!refused(&policy, url), "{url} must be accepted");
        }
        let on_premise = TargetPolicy::parse("127.0.0.1, 10.0.0.0/8").unwrap_or_default();
        assert!(!refused(&on_premise, "http://127.0.0.1:9999/hook"));
        assert!(!refused(&on_premise, "http://10.1.2.3/hook"));
        assert!(refused(&on_premise, "http://192.168.1.1/hook"));
        assert!(TargetPolicy::parse("10.0.0.0/33").is_err());
    }
}

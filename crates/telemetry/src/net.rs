//! Binding a listener to an otelcol `host:port` endpoint the way Go's `net.Listen("tcp", ...)`
//! does: a host name that resolves to several addresses listens on the first IPv4 one, and an
//! empty host listens on every interface.

use std::io;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Go resolves `localhost` to 127.0.0.1 for listening even where the resolver lists `::1`
/// first (dual-stack pods); binding the resolver's first answer would leave IPv4 clients of a
/// `localhost:4317` receiver refused.
pub async fn bind_tcp(endpoint: &str) -> io::Result<TcpListener> {
    if let Some(port) = endpoint.strip_prefix(':') {
        // `:4317`: all interfaces, dual-stack where the kernel allows it, as Go listens.
        let port: u16 = port
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "invalid port"))?;
        return match TcpListener::bind(SocketAddr::from(([0u16; 8], port))).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(SocketAddr::from(([0u8; 4], port))).await,
        };
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(endpoint).await?.collect();
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address for the host"))?;
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn localhost_listens_on_ipv4_and_an_empty_host_everywhere() {
        let l = bind_tcp("localhost:0").await.unwrap();
        assert!(l.local_addr().unwrap().is_ipv4(), "{:?}", l.local_addr());
        let any = bind_tcp(":0").await.unwrap();
        assert!(any.local_addr().unwrap().ip().is_unspecified());
        assert!(bind_tcp(":port").await.is_err());
        assert!(bind_tcp("127.0.0.1:0").await.is_ok());
    }
}

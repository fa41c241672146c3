//! The real collector's TLS front: an agent (its own TLS client
//! configuration) resumes its session when it reconnects, and a burst of
//! agents connecting at the same moment all get their answer through the
//! bounded handshake queue. No timing is asserted.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use fleetwatch_agent::upload::client::http_client_builder;
use fleetwatch_agent::upload::tls::{Trust, client_config};
use fleetwatch_e2e::*;
use rustls::pki_types::ServerName;

/// One HTTP/1.1 request over a fresh TLS connection; returns how the
/// handshake went and the status line. Reading the answer also reads the
/// session tickets the collector sends after the handshake.
fn get_over_new_connection(
    config: &Arc<rustls::ClientConfig>,
    collector: &Collector,
) -> (rustls::HandshakeKind, String) {
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let connection = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", collector.api_port)).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    tls.write_all(b"GET /api/v1/enroll HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    // The collector may close without close_notify after `connection: close`.
    let _ = tls.read_to_end(&mut answer);
    let kind = tls.conn.handshake_kind().expect("handshake finished");
    let status = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    (kind, status)
}

#[test]
fn an_agent_resumes_its_tls_session_with_the_real_collector() {
    install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("data"), &[]);
    let agent = Arc::new(client_config(&Trust::CaFile(collector.cert())).unwrap());
    let (first, status) = get_over_new_connection(&agent, &collector);
    assert_ne!(first, rustls::HandshakeKind::Resumed);
    assert!(status.starts_with("HTTP/1.1 "), "{status:?}");
    // Other agents in between do not push this one's session out.
    for _ in 0..20 {
        let other = Arc::new(client_config(&Trust::CaFile(collector.cert())).unwrap());
        get_over_new_connection(&other, &collector);
    }
    let (again, status) = get_over_new_connection(&agent, &collector);
    assert_eq!(again, rustls::HandshakeKind::Resumed);
    assert!(status.starts_with("HTTP/1.1 "), "{status:?}");
}

#[test]
fn agents_connecting_at_once_all_get_an_answer_through_the_handshake_queue() {
    install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("data"), &[]);
    let (_, node_key) = collector.enroll(1);
    let url = format!("{}{}", collector.url(), fleetwatch_protocol::REPORTS_PATH);
    let cert = collector.cert();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // 300 agents, each with its own client (its own connection), released
    // together: far more than the collector handshakes at once.
    let statuses = runtime.block_on(async move {
        let gate = Arc::new(tokio::sync::Barrier::new(300));
        let mut tasks = Vec::new();
        for _ in 0..300 {
            let client = http_client_builder(client_config(&Trust::CaFile(cert.clone())).unwrap())
                .build()
                .unwrap();
            let (gate, url, key) = (gate.clone(), url.clone(), node_key.clone());
            tasks.push(tokio::spawn(async move {
                gate.wait().await;
                // An empty body: refused as malformed, but only after TLS.
                match client.post(&url).bearer_auth(&key).body("{}").send().await {
                    Ok(r) => Ok(r.status().as_u16()),
                    Err(e) => Err(fleetwatch_agent::upload::client::error_chain(&e)),
                }
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        statuses
    });
    let errors: Vec<_> = statuses.iter().filter(|s| s.is_err()).collect();
    assert!(
        errors.is_empty(),
        "{} connection errors: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert!(
        statuses.iter().all(|s| matches!(s, Ok(400..=499))),
        "{statuses:?}"
    );
    assert!(collector.log_text().matches("panic").count() == 0);
}

//! `fetcher.keep_alive_secs` over real HTTP: a server on 127.0.0.1:0 that keeps connections
//! open (HTTP/1.1) and counts how many it accepted. With the default, three polls of a feed
//! share one connection; with `keep_alive_secs = 0` each poll opens its own and nothing is
//! held between polls.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wirewatch_fetcher::http::{client, fetch, FetchOutcome, Limits, Validators};
use wirewatch_fetcher::FetcherConfig;

/// A keep-alive HTTP/1.1 server answering every request 304; the count of accepted
/// connections.
async fn spawn_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    // One answer per complete request head (GETs carry no body).
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let answer = b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n";
                        if sock.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// Connections the server accepted for three polls of one feed.
async fn connections_for_three_polls(keep_alive_secs: u64) -> usize {
    let (addr, accepted) = spawn_server().await;
    let cfg = FetcherConfig {
        keep_alive_secs,
        allow_private_addresses: true,
        ..FetcherConfig::default()
    };
    let http = client(&cfg).unwrap();
    let validators = Validators {
        etag: Some("\"v1\"".into()),
        last_modified: None,
    };
    for poll in 0..3 {
        if poll > 0 {
            // hyper gives a connection back to the pool on a task of its own once the
            // response is done: without a pause the next poll could race that hand-back and
            // connect anew, and the default case would count 2 or 3.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let outcome = fetch(
            &http,
            &format!("http://{addr}/feed"),
            &validators,
            &Limits::of(&cfg),
        )
        .await
        .unwrap();
        assert!(
            matches!(outcome, FetchOutcome::NotModified { .. }),
            "poll {poll}: {outcome:?}"
        );
    }
    accepted.load(Ordering::SeqCst)
}

#[tokio::test]
async fn polls_of_a_host_share_a_kept_connection_by_default() {
    assert_eq!(FetcherConfig::default().keep_alive_secs, 15);
    assert_eq!(connections_for_three_polls(15).await, 1);
}

#[tokio::test]
async fn keep_alive_zero_opens_a_connection_per_poll() {
    assert_eq!(connections_for_three_polls(0).await, 3);
}

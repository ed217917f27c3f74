//! An upstream that misbehaves on purpose, over raw TCP: every connection reads one request
//! head and then plays a script (hold until the test opens a gate, write these bytes, reset,
//! close). Holding lets a test check other routes while this one is stuck mid-request.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub enum Step {
    /// Wait until the test opens gate `n` (already open: go on).
    Hold(usize),
    Write(&'static [u8]),
    /// Abortive close: SO_LINGER 0, so the peer gets a RST instead of a FIN.
    Reset,
    /// Orderly close (FIN).
    Close,
}

pub struct FaultyUpstream {
    pub addr: SocketAddr,
    heads: watch::Receiver<usize>,
    gates: Vec<watch::Sender<bool>>,
    task: JoinHandle<()>,
}

impl FaultyUpstream {
    pub async fn start(script: Vec<Step>) -> FaultyUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind faulty");
        let addr = listener.local_addr().expect("faulty addr");
        let gate_count = script
            .iter()
            .filter_map(|s| match s {
                Step::Hold(n) => Some(n + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let gates: Vec<_> = (0..gate_count).map(|_| watch::channel(false).0).collect();
        let receivers: Vec<_> = gates.iter().map(|g| g.subscribe()).collect();
        let (heads_tx, heads) = watch::channel(0usize);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (script, receivers, heads_tx) =
                    (script.clone(), receivers.clone(), heads_tx.clone());
                tokio::spawn(async move {
                    play(stream, &script, receivers, &heads_tx).await;
                });
            }
        });
        FaultyUpstream {
            addr,
            heads,
            gates,
            task,
        }
    }

    /// Waits until `n` request heads have arrived in all (hang guard: 10 s).
    pub async fn wait_requests(&self, n: usize) {
        let mut heads = self.heads.clone();
        tokio::time::timeout(Duration::from_secs(10), heads.wait_for(|&seen| seen >= n))
            .await
            .expect("the faulty upstream never received the request")
            .expect("faulty upstream gone");
    }

    pub fn requests(&self) -> usize {
        *self.heads.borrow()
    }

    pub fn open(&self, gate: usize) {
        self.gates[gate].send_replace(true);
    }
}

impl Drop for FaultyUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn play(
    mut stream: TcpStream,
    script: &[Step],
    mut gates: Vec<watch::Receiver<bool>>,
    heads: &watch::Sender<usize>,
) {
    if !read_head(&mut stream).await {
        return;
    }
    heads.send_modify(|n| *n += 1);
    for step in script {
        match step {
            Step::Hold(n) => {
                if gates[*n].wait_for(|open| *open).await.is_err() {
                    return;
                }
            }
            Step::Write(bytes) => {
                if stream.write_all(bytes).await.is_err() {
                    return;
                }
                let _ = stream.flush().await;
            }
            Step::Reset => {
                // Deprecated because a non-zero linger blocks the thread on drop; zero does not.
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                return;
            }
            Step::Close => {
                let _ = stream.shutdown().await;
                return;
            }
        }
    }
}

/// Reads up to the end of the request head; false when the peer left first.
async fn read_head(stream: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    true
}

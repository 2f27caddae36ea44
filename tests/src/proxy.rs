//! A TCP forwarder on a fixed loopback port that a test can cut and restore: while cut it
//! closes every open connection and every new one at once, so the service behind it looks
//! down to the binary while it keeps running (and keeps its state).

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A pausable TCP proxy in front of `upstream`; stops forwarding when dropped.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Listen on a free loopback port and forward every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy listener");
        let addr = listener.local_addr().expect("proxy local addr");
        let (up, _) = watch::channel(true);
        let state = up.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !*state.borrow() {
                    // Down: hang up at once, before a byte is read.
                    drop(inbound);
                    continue;
                }
                tokio::spawn(forward(inbound, upstream, state.subscribe()));
            }
        });
        Self { addr, up, task }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Close every open connection and refuse (hang up on) new ones until [`Self::restore`].
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Forward again.
    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.up.send_replace(false);
        self.task.abort();
    }
}

async fn forward(mut inbound: TcpStream, upstream: SocketAddr, mut up: watch::Receiver<bool>) {
    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = up.wait_for(|up| !*up) => {}
    }
}

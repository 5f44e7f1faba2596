//! A running listener (gRPC or HTTP) that can be stopped gracefully.

use std::net::SocketAddr;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct ServerHandle {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    pub fn new(addr: SocketAddr, stop: oneshot::Sender<()>, task: JoinHandle<()>) -> Self {
        ServerHandle {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops accepting and waits for in-flight requests to finish.
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

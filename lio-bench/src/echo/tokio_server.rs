//! The tokio echo server, as a tokio user writes it: a current-thread runtime, a
//! `tokio::net::TcpListener`, and one spawned task per connection doing `read` then
//! `write_all` into a buffer of its own.

use super::server::BUF;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokio::task::JoinSet;

/// Accepts `connections` connections on `listener` and echoes each until its peer closes
/// it.
pub fn serve(listener: std::net::TcpListener, connections: usize) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let runtime = Builder::new_current_thread().enable_io().build()?;
    runtime.block_on(async {
        let listener = TcpListener::from_std(listener)?;
        let mut tasks = JoinSet::new();
        for _ in 0..connections {
            let (stream, _peer) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tasks.spawn(echo(stream));
        }
        drop(listener);
        while let Some(joined) = tasks.join_next().await {
            joined.map_err(io::Error::other)??;
        }
        Ok(())
    })
}

/// Echoes `stream` until its peer closes it.
async fn echo(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0; BUF];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

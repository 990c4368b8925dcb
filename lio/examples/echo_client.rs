//! An echo client: connects, then sends each line of standard input and prints what comes
//! back, or with `--count N` sends N fixed messages and prints round-trip statistics.
//!
//! ```text
//! cargo run -p lio --example echo_client -- --addr 127.0.0.1:7878 --count 1000
//! ```

mod echo_args;

use lio::buf::IoBuf;
use lio::net::TcpStream;
use lio::Lio;
use std::io::{self, BufRead};
use std::time::{Duration, Instant};

fn main() {
    let (args, count) = echo_args::parse("echo_client", true);
    let lio = args.lio.clone();
    let result = lio.block_on(async {
        let stream = TcpStream::connect(&args.lio, args.addr)
            .timeout(Duration::from_secs(5))
            .await?;
        eprintln!(
            "echo_client: connected to {} ({})",
            args.addr,
            args.lio.backend()
        );
        match count {
            Some(count) => measure(&args.lio, &stream, count).await,
            None => lines(&args.lio, &stream).await,
        }
    });
    if let Err(e) = result.and_then(|inner| inner) {
        eprintln!("echo_client: {e}");
        std::process::exit(1);
    }
}

/// Sends `message` whole and reads the same number of bytes back.
async fn round_trip(lio: &Lio, stream: &TcpStream, message: Vec<u8>) -> io::Result<Vec<u8>> {
    let len = message.len();
    let mut sent = 0;
    let mut buf = message;
    while sent < len {
        let (n, slice) = stream.write(lio, buf.slice(sent..)).await;
        buf = slice.into_inner();
        match n? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => sent += n,
        }
    }
    let mut echoed = Vec::with_capacity(len);
    while echoed.len() < len {
        let (n, got) = stream
            .read(lio, Vec::with_capacity(len - echoed.len()))
            .await;
        if n? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        echoed.extend_from_slice(&got);
    }
    Ok(echoed)
}

/// Echoes each line of standard input.
async fn lines(lio: &Lio, stream: &TcpStream) -> io::Result<()> {
    for line in io::stdin().lock().lines() {
        let mut line = line?.into_bytes();
        line.push(b'\n');
        let echoed = round_trip(lio, stream, line).await?;
        print!("{}", String::from_utf8_lossy(&echoed));
    }
    Ok(())
}

/// Sends `count` messages one after the other and prints round-trip statistics.
async fn measure(lio: &Lio, stream: &TcpStream, count: usize) -> io::Result<()> {
    let mut times = Vec::with_capacity(count);
    let started = Instant::now();
    for i in 0..count {
        let message = format!("ping {i:08}\n").into_bytes();
        let sent = Instant::now();
        let echoed = round_trip(lio, stream, message.clone()).await?;
        times.push(sent.elapsed());
        if echoed != message {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("message {i} came back altered"),
            ));
        }
    }
    let total = started.elapsed();
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    let mean = times.iter().sum::<Duration>().div_f64(count as f64);
    println!(
        "{count} round trips in {total:.2?}: mean {mean:.1?}, min {:.1?}, p50 {:.1?}, p99 {:.1?}, max {:.1?}",
        at(0.0),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    Ok(())
}

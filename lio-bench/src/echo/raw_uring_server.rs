//! The raw io_uring echo server: the `io-uring` crate and a minimal hand-written loop.
//! Accept the connections one after the other; per connection a receive into its fixed
//! buffer, on completion a send of what came, on completion the next receive. One
//! `submit_and_wait(1)` per loop iteration submits every entry the previous completions
//! queued and waits for the next. The ring is set up with the flags lio tries.

use super::server::BUF;
use crate::raw_uring;
use io_uring::squeue::{Entry, SubmissionQueue};
use io_uring::{opcode, types, IoUring};
use std::io;
use std::mem;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The low two bits of `user_data`: what completed. The rest is the connection's index.
const KIND: u64 = 3;
/// An accept completed.
const ACCEPT: u64 = 0;
/// A receive completed.
const RECV: u64 = 1;
/// A send completed.
const SEND: u64 = 2;

/// One accepted connection and the buffer its receives fill and its sends drain.
struct Conn {
    /// The socket.
    stream: TcpStream,
    /// The buffer; never moved or freed while an entry names it.
    buf: Box<[u8]>,
    /// Bytes the last receive brought.
    len: usize,
    /// Bytes of those already sent back.
    sent: usize,
}

/// The loop's state apart from the ring.
struct Server {
    /// The listening socket.
    listener: TcpListener,
    /// The connections in accept order; `None` once closed.
    conns: Vec<Option<Conn>>,
    /// Connections still to accept.
    to_accept: usize,
    /// Connections not finished, counting those still to accept.
    open: usize,
    /// Entries pushed whose completion has not been reaped.
    in_flight: usize,
}

/// Accepts `connections` connections on `listener` and echoes each until its peer closes
/// it.
pub fn serve(listener: TcpListener, connections: usize) -> io::Result<()> {
    let (mut ring, _flags) = raw_uring::setup()?;
    let mut server = Server {
        listener,
        conns: Vec::with_capacity(connections),
        to_accept: connections,
        open: connections,
        in_flight: 0,
    };
    let result = server.run(&mut ring);
    if server.in_flight > 0 {
        // A failure left entries in the kernel: close the ring, then leak the buffers
        // rather than free memory it may still write.
        drop(ring);
        mem::forget(mem::take(&mut server.conns));
    }
    result
}

impl Server {
    /// Runs the loop until every connection is accepted and closed.
    fn run(&mut self, ring: &mut IoUring) -> io::Result<()> {
        let (submitter, mut sq, mut cq) = ring.split();
        if self.to_accept > 0 {
            self.push_accept(&mut sq)?;
        }
        while self.open > 0 {
            sq.sync();
            match submitter.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            cq.sync();
            for cqe in &mut cq {
                self.in_flight -= 1;
                self.complete(cqe.user_data(), cqe.result(), &mut sq)?;
            }
            cq.sync();
        }
        Ok(())
    }

    /// Handles one completion and queues what follows it.
    fn complete(
        &mut self,
        user_data: u64,
        result: i32,
        sq: &mut SubmissionQueue,
    ) -> io::Result<()> {
        let index = (user_data >> 2) as usize;
        let what = match user_data & KIND {
            ACCEPT => "accept",
            RECV => "recv",
            _ => "send",
        };
        if result < 0 {
            let e = io::Error::from_raw_os_error(-result);
            return Err(io::Error::new(
                e.kind(),
                format!("raw io_uring {what}: {e}"),
            ));
        }
        match user_data & KIND {
            ACCEPT => {
                // SAFETY: a successful accept's result is a new descriptor nobody owns.
                let fd = unsafe { OwnedFd::from_raw_fd(result) };
                let stream = TcpStream::from(fd);
                stream.set_nodelay(true)?;
                self.conns.push(Some(Conn {
                    stream,
                    buf: vec![0; BUF].into_boxed_slice(),
                    len: 0,
                    sent: 0,
                }));
                self.push_recv(self.conns.len() - 1, sq)?;
                self.to_accept -= 1;
                if self.to_accept > 0 {
                    self.push_accept(sq)?;
                }
            }
            RECV if result == 0 => {
                self.conns[index] = None;
                self.open -= 1;
            }
            RECV => {
                let conn = self.conn(index)?;
                (conn.len, conn.sent) = (result as usize, 0);
                self.push_send(index, sq)?;
            }
            _ if result == 0 => return Err(io::Error::other("raw io_uring send: no progress")),
            _ => {
                let conn = self.conn(index)?;
                conn.sent += result as usize;
                if conn.sent < conn.len {
                    self.push_send(index, sq)?;
                } else {
                    self.push_recv(index, sq)?;
                }
            }
        }
        Ok(())
    }

    /// The open connection at `index`.
    fn conn(&mut self, index: usize) -> io::Result<&mut Conn> {
        self.conns
            .get_mut(index)
            .and_then(Option::as_mut)
            .ok_or_else(|| io::Error::other(format!("raw io_uring: no connection {index}")))
    }

    /// Queues an accept on the listener.
    fn push_accept(&mut self, sq: &mut SubmissionQueue) -> io::Result<()> {
        let fd = types::Fd(self.listener.as_raw_fd());
        let entry = opcode::Accept::new(fd, std::ptr::null_mut(), std::ptr::null_mut())
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(ACCEPT);
        // SAFETY: the entry names no memory (no address is asked for) and the listener
        // outlives the loop.
        unsafe { self.push(sq, &entry) }
    }

    /// Queues a receive into the whole buffer of connection `index`.
    fn push_recv(&mut self, index: usize, sq: &mut SubmissionQueue) -> io::Result<()> {
        let conn = self.conn(index)?;
        let fd = types::Fd(conn.stream.as_raw_fd());
        let entry = opcode::Recv::new(fd, conn.buf.as_mut_ptr(), BUF as u32)
            .build()
            .user_data((index as u64) << 2 | RECV);
        // SAFETY: the buffer is the connection's, which is only closed after a receive
        // returned 0 (nothing in flight on it), or leaked by `serve` on failure.
        unsafe { self.push(sq, &entry) }
    }

    /// Queues a send of the bytes of connection `index` not sent back yet.
    fn push_send(&mut self, index: usize, sq: &mut SubmissionQueue) -> io::Result<()> {
        let conn = self.conn(index)?;
        let fd = types::Fd(conn.stream.as_raw_fd());
        let pending = &conn.buf[conn.sent..conn.len];
        let entry = opcode::Send::new(fd, pending.as_ptr(), pending.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data((index as u64) << 2 | SEND);
        // SAFETY: as in `push_recv`: the buffer outlives the entry.
        unsafe { self.push(sq, &entry) }
    }

    /// Queues one entry.
    ///
    /// # Safety
    ///
    /// Every buffer the entry names must stay allocated and untouched until its completion
    /// is reaped.
    unsafe fn push(&mut self, sq: &mut SubmissionQueue, entry: &Entry) -> io::Result<()> {
        // SAFETY: the caller keeps the entry's buffers alive until its completion.
        unsafe { sq.push(entry) }
            .map_err(|_| io::Error::other("raw io_uring: submission queue full"))?;
        self.in_flight += 1;
        Ok(())
    }
}

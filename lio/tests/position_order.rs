//! Reads and writes at the file position (no offset) on one file run in submission order
//! on every backend, because each moves the position the next starts from. On epoll they run
//! on the pool one at a time per descriptor; on io_uring they share one lane per file. A
//! small write that could complete inline waits its turn behind them. A descriptor without
//! a position (a terminal) keeps reads and writes independent.

mod common;

use common::{backend_tests, pattern, slot, Slot, TempDir};
use lio::op::OpenOptions;
use lio::{Lio, Resource};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Waker};

backend_tests!(
    writes_at_the_position_land_in_submission_order,
    reads_at_the_position_return_the_file_in_order,
    mixed_reads_and_writes_at_the_position_keep_their_order,
    dropped_position_reads_let_the_next_one_run,
    a_terminal_read_does_not_hold_up_writes,
);

/// Large enough for the pool on epoll and a kernel worker on io_uring.
const BIG: usize = 96 << 10;
/// Small enough to be written inline on both backends.
const SMALL: usize = 512;

fn file(lio: &Lio, dir: &TempDir, contents: &[u8]) -> Resource {
    let path = dir.file("f", contents);
    lio.open(&path, &OpenOptions::new().read(true).write(true))
        .wait()
        .unwrap()
}

fn drive<T>(lio: &Lio, slots: &[Slot<T>]) {
    common::run_until(lio, || slots.iter().all(|s| s.borrow().is_some()));
}

fn writes_at_the_position_land_in_submission_order(lio: &Lio) {
    let dir = TempDir::new("pos-writes");
    let fd = file(lio, &dir, b"");
    let mut expected = Vec::new();
    let mut slots = Vec::new();
    for i in 0..24 {
        // Big (pool or kernel worker) and small (inline) writes, interleaved.
        let len = if i % 3 == 2 { SMALL } else { BIG };
        let chunk = pattern(len, i);
        expected.extend_from_slice(&chunk);
        let (got, put) = slot();
        lio.write(&fd, chunk).when_done(put);
        slots.push(got);
    }
    drive(lio, &slots);
    for s in &slots {
        s.borrow_mut().take().unwrap().0.expect("write");
    }
    let written = std::fs::read(dir.join("f")).unwrap();
    assert!(written == expected, "the writes landed out of order");
}

fn reads_at_the_position_return_the_file_in_order(lio: &Lio) {
    let dir = TempDir::new("pos-reads");
    let data = pattern(24 * BIG, 3);
    let fd = file(lio, &dir, &data);
    let slots: Vec<_> = (0..24)
        .map(|_| {
            let (got, put) = slot();
            lio.read(&fd, Vec::with_capacity(BIG)).when_done(put);
            got
        })
        .collect();
    drive(lio, &slots);
    let mut read = Vec::new();
    for s in &slots {
        let (n, buf) = s.borrow_mut().take().unwrap();
        assert_eq!(n.unwrap(), BIG);
        read.extend_from_slice(&buf);
    }
    assert!(read == data, "the reads returned the file out of order");
}

fn mixed_reads_and_writes_at_the_position_keep_their_order(lio: &Lio) {
    let dir = TempDir::new("pos-mixed");
    let fd = file(lio, &dir, b"0123456789");
    let (first, put) = slot();
    lio.read(&fd, Vec::with_capacity(2)).when_done(put);
    let (write, put_write) = slot();
    lio.write(&fd, b"ab".to_vec()).when_done(put_write);
    let (second, put) = slot();
    lio.read(&fd, Vec::with_capacity(2)).when_done(put);
    drive(lio, &[first.clone(), second.clone()]);
    drive(lio, std::slice::from_ref(&write));
    assert_eq!(write.borrow_mut().take().unwrap().0.unwrap(), 2);
    assert_eq!(first.borrow_mut().take().unwrap().1, b"01");
    assert_eq!(second.borrow_mut().take().unwrap().1, b"45");
    assert_eq!(std::fs::read(dir.join("f")).unwrap(), b"01ab456789");
}

fn dropped_position_reads_let_the_next_one_run(lio: &Lio) {
    let dir = TempDir::new("pos-drop");
    let fd = file(lio, &dir, &pattern(64 * BIG, 5));
    let mut reads: Vec<_> = (0..64)
        .map(|_| lio.read(&fd, Vec::with_capacity(BIG)).into_future())
        .collect();
    for read in &mut reads {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(Pin::new(read).poll(&mut cx).is_pending());
    }
    drop(reads);
    lio.run_until_idle().unwrap();
    // Whatever ran of the dropped reads moved the position; the next read still runs.
    let (n, _) = lio.read(&fd, Vec::with_capacity(BIG)).wait();
    assert!(n.unwrap() <= BIG);
    assert_eq!(lio.in_flight(), 0);
}

/// A pseudo-terminal: (master, slave), the slave opened read-write.
fn pty() -> Option<(std::fs::File, Resource)> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain libc calls on descriptors this function owns; `ptsname_r` writes at most
    // `name.len()` bytes.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        if master < 0 {
            return None;
        }
        let master = std::fs::File::from_raw_fd(master);
        let raw = std::os::fd::AsRawFd::as_raw_fd(&master);
        let mut name = [0 as libc::c_char; 128];
        if libc::grantpt(raw) != 0
            || libc::unlockpt(raw) != 0
            || libc::ptsname_r(raw, name.as_mut_ptr(), name.len()) != 0
        {
            return None;
        }
        let slave = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        if slave < 0 {
            return None;
        }
        Some((
            master,
            Resource::from(std::os::fd::OwnedFd::from_raw_fd(slave)),
        ))
    }
}

fn a_terminal_read_does_not_hold_up_writes(lio: &Lio) {
    use std::io::{Read, Write};
    let Some((mut master, slave)) = pty() else {
        eprintln!("skipped: no pseudo-terminal here");
        return;
    };
    // A read that waits for a line, then writes behind it on the same descriptor.
    let (line, put) = slot();
    lio.read(&slave, Vec::with_capacity(16)).when_done(put);
    let (written, put) = slot();
    lio.write(&slave, b"out".to_vec()).when_done(put);
    drive(lio, std::slice::from_ref(&written));
    assert_eq!(written.borrow_mut().take().unwrap().0.unwrap(), 3);
    let mut out = [0u8; 3];
    master.read_exact(&mut out).unwrap();
    assert_eq!(&out, b"out");
    assert!(line.borrow().is_none(), "the read waits for a line");
    master.write_all(b"in\n").unwrap();
    drive(lio, std::slice::from_ref(&line));
    assert_eq!(line.borrow_mut().take().unwrap().1, b"in\n");
}

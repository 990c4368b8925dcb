//! Bad input is an error result with the buffer handed back, never a panic or UB: wrong or
//! closed descriptors (`EBADF`), zero-length buffers, reads past the end, partly initialised
//! buffers, offsets past `i64::MAX`, paths with interior NULs, invalid open options (the same
//! combinations `std` rejects), reading a directory (`EISDIR`); and the driver's `run` and
//! `run_timeout` return promptly when nothing (or nothing quick) is in flight.

mod common;

use common::{assert_errno, assert_kind, backend_tests, resource, rw, TempDir};
use lio::op::{OpenAt, OpenOptions, Readv, Statx, Write, Writev};
use lio::{Lio, Resource};
use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Larger than the default inline-write limit (64 KiB), so the write goes through the ring.
const LARGE: usize = 200 * 1024;

backend_tests!(
    write_to_read_only_file_is_ebadf,
    read_from_write_only_file_is_ebadf,
    closed_descriptor_is_ebadf,
    zero_length_buffers_transfer_nothing,
    read_past_eof_is_zero_and_empties_the_vec,
    write_sends_only_initialised_bytes,
    read_fills_from_the_start_and_sets_len,
    offset_past_i64_max_is_invalid_input,
    interior_nul_in_path_is_invalid_input,
    invalid_open_options_are_rejected_like_std,
    reading_a_directory_is_eisdir,
    too_many_buffers_is_invalid_input,
    relative_to_a_non_directory_is_enotdir,
    run_with_nothing_in_flight_returns_at_once,
    run_timeout_returns_after_the_timeout,
);

fn write_to_read_only_file_is_ebadf(lio: &Lio) {
    let dir = TempDir::new("ebadf-write");
    let path = dir.file("f", b"original");
    let file = resource(&path, std::fs::OpenOptions::new().read(true));

    for data in [b"small".to_vec(), common::pattern(LARGE, 12)] {
        let (result, buf) = lio.write_at(&file, data.clone(), 0).wait();
        assert_errno(&result, libc::EBADF);
        assert_eq!(buf, data, "the buffer comes back unchanged");
        let (result, buf) = lio.write(&file, data.clone()).wait();
        assert_errno(&result, libc::EBADF);
        assert_eq!(buf, data);
        let (result, bufs) = lio.writev_at(&file, vec![data.clone()], 0).wait();
        assert_errno(&result, libc::EBADF);
        assert_eq!(bufs, [data]);
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"original");
}

fn read_from_write_only_file_is_ebadf(lio: &Lio) {
    let dir = TempDir::new("ebadf-read");
    let path = dir.file("f", b"secret");
    let file = resource(&path, std::fs::OpenOptions::new().write(true));

    let (result, buf) = lio.read_at(&file, Vec::with_capacity(16), 0).wait();
    assert_errno(&result, libc::EBADF);
    assert_eq!((buf.len(), buf.capacity()), (0, 16));
    let (result, buf) = lio.read(&file, b"keep".to_vec()).wait();
    assert_errno(&result, libc::EBADF);
    assert_eq!(buf, b"keep", "a failed read leaves the Vec as it was");
    let (result, bufs) = lio.readv_at(&file, vec![Vec::with_capacity(4)], 0).wait();
    assert_errno(&result, libc::EBADF);
    assert_eq!(bufs.len(), 1);
}

fn closed_descriptor_is_ebadf(lio: &Lio) {
    let dir = TempDir::new("ebadf-closed");
    let path = dir.file("f", b"data");
    let file = std::fs::File::open(&path).unwrap();
    let mut closed = common::closed_resource(file, |_| {});
    let res = closed.res.take().unwrap();

    let (result, buf) = lio.read_at(&res, Vec::with_capacity(8), 0).wait();
    assert_errno(&result, libc::EBADF);
    assert_eq!(buf.capacity(), 8, "the buffer comes back");
    let (result, buf) = lio.write_at(&res, b"x".to_vec(), 0).wait();
    assert_errno(&result, libc::EBADF);
    assert_eq!(buf, b"x");
    assert_errno(&lio.fsync(&res).wait(), libc::EBADF);
    assert_errno(&lio.fstatx(&res).wait(), libc::EBADF);

    // Every operation has released its clone, so close takes the (already closed) number
    // and reports the kernel's EBADF; it does not close it a second time.
    assert_errno(&lio.close(res).wait(), libc::EBADF);
}

fn zero_length_buffers_transfer_nothing(lio: &Lio) {
    let dir = TempDir::new("zero-len");
    let path = dir.file("f", b"abc");
    let file = resource(&path, &rw());

    let (n, buf) = lio.read_at(&file, Vec::new(), 0).wait();
    assert_eq!((n.unwrap(), buf.len()), (0, 0));
    let (n, buf) = lio.read(&file, Vec::new()).wait();
    assert_eq!((n.unwrap(), buf.len()), (0, 0));
    let (n, _) = lio.write_at(&file, Vec::new(), 0).wait();
    assert_eq!(n.unwrap(), 0);
    let (n, _) = lio.write(&file, Vec::new()).wait();
    assert_eq!(n.unwrap(), 0);
    // An empty write past the end does not extend the file (as with std's write_at).
    let (n, _) = lio.write_at(&file, Vec::new(), 100).wait();
    assert_eq!(n.unwrap(), 0);
    let (n, _) = lio.readv_at(&file, Vec::<Vec<u8>>::new(), 0).wait();
    assert_eq!(n.unwrap(), 0);
    let (n, _) = lio.writev_at(&file, vec![Vec::new(), Vec::new()], 0).wait();
    assert_eq!(n.unwrap(), 0);
    // Zero-length through the OS queue too (no inline path for a pipe).
    let (reader, writer) = common::pipe();
    let pipe_writer = Resource::from(writer);
    let (n, _) = lio.write(&pipe_writer, Vec::new()).wait();
    assert_eq!(n.unwrap(), 0);
    let (n, buf) = lio.read(&reader, Vec::new()).wait();
    assert_eq!((n.unwrap(), buf.len()), (0, 0));

    assert_eq!(std::fs::read(&path).unwrap(), b"abc", "nothing changed");
}

fn read_past_eof_is_zero_and_empties_the_vec(lio: &Lio) {
    let dir = TempDir::new("past-eof");
    let path = dir.file("f", b"short");
    let file = resource(&path, std::fs::OpenOptions::new().read(true));

    for offset in [5u64, 6, 1 << 40] {
        let mut buf = Vec::with_capacity(16);
        buf.extend_from_slice(b"old");
        let (n, buf) = lio.read_at(&file, buf, offset).wait();
        assert_eq!(n.unwrap(), 0, "offset {offset}");
        assert_eq!(buf.len(), 0, "the length is the count read: 0");
    }
    let (n, bufs) = lio
        .readv_at(
            &file,
            vec![Vec::with_capacity(4), Vec::with_capacity(4)],
            50,
        )
        .wait();
    assert_eq!(n.unwrap(), 0);
    assert!(bufs.iter().all(Vec::is_empty));
}

fn write_sends_only_initialised_bytes(lio: &Lio) {
    let dir = TempDir::new("write-len");
    let path = dir.file("f", b"");
    let file = resource(&path, &rw());

    let mut buf = Vec::with_capacity(4096);
    buf.extend_from_slice(b"hi");
    let (n, buf) = lio.write_at(&file, buf, 0).wait();
    assert_eq!(n.unwrap(), 2);
    assert_eq!((buf.len(), buf.capacity()), (2, 4096));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 2);

    // Large, through the ring: the spare capacity is not written either.
    let mut big = Vec::with_capacity(LARGE * 2);
    big.extend_from_slice(&common::pattern(LARGE, 13));
    let (n, _) = lio.submit(Write::new(&file, big).offset(0)).wait();
    assert_eq!(n.unwrap(), LARGE);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), LARGE as u64);

    let mut part = Vec::with_capacity(64);
    part.extend_from_slice(b"ab");
    let (n, _) = lio
        .submit(Writev::new(&file, vec![part, b"cd".to_vec()]).offset(0))
        .wait();
    assert_eq!(n.unwrap(), 4);
    assert_eq!(&std::fs::read(&path).unwrap()[..4], b"abcd");
}

fn read_fills_from_the_start_and_sets_len(lio: &Lio) {
    let dir = TempDir::new("read-len");
    let path = dir.file("f", b"abcdefghij0123456789");
    let file = resource(&path, std::fs::OpenOptions::new().read(true));

    let mut buf = Vec::with_capacity(16);
    buf.extend_from_slice(b"xyz");
    let (n, buf) = lio.read_at(&file, buf, 0).wait();
    assert_eq!(n.unwrap(), 16, "fills the whole capacity");
    assert_eq!(buf, b"abcdefghij012345", "from index 0, over the old bytes");

    let mut buf = Vec::with_capacity(16);
    buf.extend_from_slice(b"xyz");
    let (n, buf) = lio.read_at(&file, buf, 18).wait();
    assert_eq!(n.unwrap(), 2);
    assert_eq!(
        buf, b"89",
        "length set to the count, even below the old length"
    );

    // Readv: each buffer from its start.
    let mut first = Vec::with_capacity(4);
    first.extend_from_slice(b"zz");
    let (n, bufs) = lio
        .submit(Readv::new(&file, vec![first, Vec::with_capacity(2)]).offset(2))
        .wait();
    assert_eq!(n.unwrap(), 6);
    assert_eq!(bufs, [b"cdef".to_vec(), b"gh".to_vec()]);
}

fn offset_past_i64_max_is_invalid_input(lio: &Lio) {
    let dir = TempDir::new("big-offset");
    let path = dir.file("f", b"data");
    let file = resource(&path, &rw());

    for offset in [i64::MAX as u64 + 1, u64::MAX - 1, u64::MAX] {
        let (r, buf) = lio.read_at(&file, Vec::with_capacity(8), offset).wait();
        assert_kind(&r, ErrorKind::InvalidInput);
        assert_eq!(buf.capacity(), 8);
        let (r, buf) = lio.write_at(&file, b"small".to_vec(), offset).wait();
        assert_kind(&r, ErrorKind::InvalidInput);
        assert_eq!(buf, b"small");
        let big = common::pattern(LARGE, 14);
        let (r, buf) = lio.write_at(&file, big.clone(), offset).wait();
        assert_kind(&r, ErrorKind::InvalidInput);
        assert_eq!(buf, big);
        let (r, _) = lio
            .readv_at(&file, vec![Vec::with_capacity(8)], offset)
            .wait();
        assert_kind(&r, ErrorKind::InvalidInput);
        let (r, _) = lio.writev_at(&file, vec![b"v".to_vec()], offset).wait();
        assert_kind(&r, ErrorKind::InvalidInput);
        let (r, _) = lio.writev_at(&file, vec![big], offset).wait();
        assert_kind(&r, ErrorKind::InvalidInput);
    }
    // Offsets up to i64::MAX reach the kernel, which answers as it does for std.
    let std_file = std::fs::File::open(&path).unwrap();
    for offset in [i64::MAX as u64 - 8, i64::MAX as u64] {
        let (r, _) = lio.read_at(&file, Vec::with_capacity(8), offset).wait();
        let std_r = std::os::unix::fs::FileExt::read_at(&std_file, &mut [0u8; 8], offset);
        match (r, std_r) {
            (Ok(n), Ok(std_n)) => assert_eq!(n, std_n, "offset {offset}"),
            (Err(e), Err(std_e)) => {
                assert_eq!(e.raw_os_error(), std_e.raw_os_error(), "offset {offset}")
            }
            (r, std_r) => panic!("offset {offset}: lio {r:?}, std {std_r:?}"),
        }
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"data");
}

fn interior_nul_in_path_is_invalid_input(lio: &Lio) {
    let dir = TempDir::new("nul-path");
    let good = dir.file("good", b"x");
    let bad = dir.join("a\0b");
    let read = OpenOptions::new().read(true);
    assert_kind(&lio.open(&bad, &read).wait(), ErrorKind::InvalidInput);
    assert_kind(&lio.statx(&bad).wait(), ErrorKind::InvalidInput);
    assert_kind(&lio.rename(&good, &bad).wait(), ErrorKind::InvalidInput);
    assert_kind(&lio.rename(&bad, &good).wait(), ErrorKind::InvalidInput);
    assert_kind(&lio.unlink(&bad).wait(), ErrorKind::InvalidInput);
    assert_kind(&lio.rmdir(&bad).wait(), ErrorKind::InvalidInput);
    assert_kind(&lio.mkdir(&bad).wait(), ErrorKind::InvalidInput);
    assert_kind(
        &lio.symlink(&bad, dir.join("l")).wait(),
        ErrorKind::InvalidInput,
    );
    assert_kind(&lio.symlink(&good, &bad).wait(), ErrorKind::InvalidInput);
    assert_kind(&lio.link(&good, &bad).wait(), ErrorKind::InvalidInput);
    // std rejects it the same way.
    assert_eq!(
        std::fs::File::open(&bad).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert!(good.is_file(), "nothing happened to the good file");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

fn invalid_open_options_are_rejected_like_std(lio: &Lio) {
    let dir = TempDir::new("open-options");
    let path = dir.file("f", b"keep");
    // (read, write, append, truncate, create, create_new)
    let cases = [
        (false, false, false, false, false, false),
        (true, false, false, true, false, false),
        (true, false, false, false, true, false),
        (true, false, false, false, false, true),
        (false, false, true, true, false, false),
        (false, true, true, true, false, false),
    ];
    for (read, write, append, truncate, create, create_new) in cases {
        let std_result = std::fs::OpenOptions::new()
            .read(read)
            .write(write)
            .append(append)
            .truncate(truncate)
            .create(create)
            .create_new(create_new)
            .open(&path);
        let options = OpenOptions::new()
            .read(read)
            .write(write)
            .append(append)
            .truncate(truncate)
            .create(create)
            .create_new(create_new);
        let result = lio.open(&path, &options).wait();
        let case = (read, write, append, truncate, create, create_new);
        assert_eq!(
            std_result.unwrap_err().kind(),
            ErrorKind::InvalidInput,
            "std rejects {case:?}"
        );
        assert_kind(&result, ErrorKind::InvalidInput);
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"keep");
}

fn reading_a_directory_is_eisdir(lio: &Lio) {
    let dir = TempDir::new("eisdir");
    let dir_file = resource(dir.path(), std::fs::OpenOptions::new().read(true));
    let (r, buf) = lio.read_at(&dir_file, Vec::with_capacity(8), 0).wait();
    assert_errno(&r, libc::EISDIR);
    assert_eq!(buf.capacity(), 8);
    let (r, _) = lio.read(&dir_file, Vec::with_capacity(8)).wait();
    assert_errno(&r, libc::EISDIR);
    // Opening a directory for writing fails with EISDIR too, as with std.
    let result = lio.open(dir.path(), &OpenOptions::new().write(true)).wait();
    let std_err = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path())
        .unwrap_err();
    assert_eq!(std_err.raw_os_error(), Some(libc::EISDIR));
    assert_errno(&result, libc::EISDIR);
}

fn too_many_buffers_is_invalid_input(lio: &Lio) {
    let dir = TempDir::new("iov-max");
    let path = dir.file("f", b"abc");
    let file = resource(&path, &rw());

    let bufs: Vec<Vec<u8>> = (0..1025).map(|_| Vec::with_capacity(1)).collect();
    let (r, bufs) = lio.readv_at(&file, bufs, 0).wait();
    assert_kind(&r, ErrorKind::InvalidInput);
    assert_eq!(bufs.len(), 1025, "the buffers come back");
    let bufs: Vec<Vec<u8>> = (0..1025).map(|_| b"x".to_vec()).collect();
    let (r, bufs) = lio.writev_at(&file, bufs, 0).wait();
    assert_kind(&r, ErrorKind::InvalidInput);
    assert_eq!(bufs.len(), 1025);
    assert_eq!(std::fs::read(&path).unwrap(), b"abc", "nothing written");

    // The limit itself (IOV_MAX, 1024) is fine.
    let bufs: Vec<Vec<u8>> = (0..1024u32).map(|i| vec![b'a' + (i % 26) as u8]).collect();
    let expected: Vec<u8> = bufs.concat();
    let (n, _) = lio.writev_at(&file, bufs, 0).wait();
    assert_eq!(n.unwrap(), 1024);
    assert_eq!(std::fs::read(&path).unwrap(), expected);
    let bufs: Vec<Vec<u8>> = (0..1024).map(|_| Vec::with_capacity(1)).collect();
    let (n, bufs) = lio.readv_at(&file, bufs, 0).wait();
    assert_eq!(n.unwrap(), 1024);
    assert_eq!(bufs.concat(), expected);
}

fn relative_to_a_non_directory_is_enotdir(lio: &Lio) {
    let dir = TempDir::new("enotdir");
    let path = dir.file("f", b"x");
    let not_dir = resource(&path, std::fs::OpenOptions::new().read(true));
    let read = OpenOptions::new().read(true);
    let result = lio.submit(OpenAt::new("x", &read).dir(&not_dir)).wait();
    assert_errno(&result, libc::ENOTDIR);
    let result = lio.submit(Statx::path("x").dir(&not_dir)).wait();
    assert_errno(&result, libc::ENOTDIR);
}

fn run_with_nothing_in_flight_returns_at_once(lio: &Lio) {
    let start = Instant::now();
    assert_eq!(lio.run().unwrap(), 0);
    assert_eq!(lio.try_run().unwrap(), 0);
    assert_eq!(lio.run_timeout(Duration::from_secs(30)).unwrap(), 0);
    // Also after operations came and went.
    lio.nop().wait().unwrap();
    assert_eq!(lio.run().unwrap(), 0);
    assert!(start.elapsed() < Duration::from_secs(5), "run blocked");
}

fn run_timeout_returns_after_the_timeout(lio: &Lio) {
    let fired = Rc::new(Cell::new(false));
    let flag = fired.clone();
    lio.sleep(Duration::from_secs(10))
        .when_done(move |_| flag.set(true));
    let timeout = Duration::from_millis(10);
    let start = Instant::now();
    assert_eq!(lio.run_timeout(timeout).unwrap(), 0);
    let elapsed = start.elapsed();
    assert!(elapsed >= timeout, "returned early: {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(2),
        "returned late: {elapsed:?}"
    );
    assert!(!fired.get(), "the sleep is still pending");
    assert_eq!(lio.in_flight(), 1);
    assert_eq!(
        lio.try_run().unwrap(),
        0,
        "try_run does not wait for it either"
    );
}

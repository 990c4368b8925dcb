//! File data operations against the real kernel, each checked against what `std` reads and
//! writes on the same file: nop, read and write at an offset and at the file position,
//! vectored reads and writes, fsync/fdatasync, fallocate (with and without
//! `FALLOC_FL_KEEP_SIZE`) and ftruncate.
//!
//! Writes are done both small (below the inline-write limit) and large (above it, through
//! the OS queue), since lio takes a different path for each.

mod common;

use common::{backend_tests, pattern, resource, rw, TempDir};
use lio::op::Fallocate;
use lio::Lio;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};

/// Larger than the default inline-write limit (64 KiB), so these writes go through the ring.
const LARGE: usize = 200 * 1024;

backend_tests!(
    nop_completes,
    read_at_matches_std,
    read_continues_from_file_position,
    write_at_matches_std,
    large_write_at_matches_std,
    write_at_file_position_appends,
    write_continues_after_std_seek,
    readv_fills_buffers_in_order,
    readv_at_file_position,
    writev_at_matches_std,
    writev_at_file_position,
    fsync_and_fdatasync_succeed,
    fallocate_grows_file,
    fallocate_keep_size_keeps_length,
    ftruncate_shrinks_and_extends,
);

fn nop_completes(lio: &Lio) {
    lio.nop().wait().expect("nop");
    // Several at once, batched into one submission.
    let receivers: Vec<_> = (0..8).map(|_| lio.nop().recv()).collect();
    // Run until every output arrived: `in_flight()` counts what awaits the OS, and a nop
    // on epoll needs no OS at all (0 at once, its output still comes from the next `run`).
    let mut outputs = Vec::new();
    common::run_until(lio, || {
        outputs.extend(receivers.iter().filter_map(|rx| rx.try_recv().ok()));
        outputs.len() == receivers.len()
    });
    for output in outputs {
        output.expect("nop result");
    }
    assert_eq!(lio.in_flight(), 0);
}

fn read_at_matches_std(lio: &Lio) {
    let dir = TempDir::new("read-at");
    let data = pattern(10_000, 1);
    let path = dir.file("f", &data);
    let std_file = std::fs::File::open(&path).unwrap();
    let file = resource(&path, std::fs::OpenOptions::new().read(true));

    for (offset, cap) in [(0u64, 4096usize), (1000, 4096), (9000, 4096), (9999, 16)] {
        let (n, buf) = lio.read_at(&file, Vec::with_capacity(cap), offset).wait();
        let n = n.expect("read_at");
        let mut expected = vec![0u8; cap];
        let want = std_file.read_at(&mut expected, offset).unwrap();
        expected.truncate(want);
        assert_eq!(n, want, "count at offset {offset}");
        assert_eq!(buf.len(), n, "the Vec's length is set to the count");
        assert_eq!(buf, expected, "bytes at offset {offset}");
    }
    // pread leaves the file position alone.
    let (n, buf) = lio.read(&file, Vec::with_capacity(8)).wait();
    assert_eq!((n.unwrap(), &buf[..]), (8, &data[..8]));
}

fn read_continues_from_file_position(lio: &Lio) {
    let dir = TempDir::new("read-pos");
    let data = pattern(100, 2);
    let path = dir.file("f", &data);
    let mut std_file = std::fs::File::open(&path).unwrap();
    // A clone shares the open file description, hence the file position.
    let file = lio::Resource::from(std_file.try_clone().unwrap());

    std_file.seek(SeekFrom::Start(5)).unwrap();
    let (n, buf) = lio.read(&file, Vec::with_capacity(4)).wait();
    assert_eq!(
        (n.unwrap(), &buf[..]),
        (4, &data[5..9]),
        "starts at std's seek"
    );
    let (n, buf) = lio.read(&file, Vec::with_capacity(10)).wait();
    assert_eq!(
        (n.unwrap(), &buf[..]),
        (10, &data[9..19]),
        "continues after lio's read"
    );
    assert_eq!(std_file.stream_position().unwrap(), 19, "position advanced");

    // At the end: the rest, then 0.
    std_file.seek(SeekFrom::Start(95)).unwrap();
    let (n, buf) = lio.read(&file, Vec::with_capacity(10)).wait();
    assert_eq!((n.unwrap(), &buf[..]), (5, &data[95..]));
    let (n, buf) = lio.read(&file, Vec::with_capacity(10)).wait();
    assert_eq!((n.unwrap(), buf.len()), (0, 0));
}

fn write_at_matches_std(lio: &Lio) {
    let dir = TempDir::new("write-at");
    let path = dir.file("f", b"0123456789");
    let file = resource(&path, &rw());

    let (n, buf) = lio.write_at(&file, b"XYZ".to_vec(), 3).wait();
    assert_eq!(n.unwrap(), 3);
    assert_eq!(buf, b"XYZ", "the buffer comes back");
    assert_eq!(std::fs::read(&path).unwrap(), b"012XYZ6789");

    // Past the end: the gap reads as zeros, exactly as with std's write_at on a twin file.
    let twin = dir.file("twin", b"012XYZ6789");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&twin)
        .unwrap()
        .write_at(b"end", 15)
        .unwrap();
    let (n, _) = lio.write_at(&file, b"end".to_vec(), 15).wait();
    assert_eq!(n.unwrap(), 3);
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&twin).unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), b"012XYZ6789\0\0\0\0\0end");
}

fn large_write_at_matches_std(lio: &Lio) {
    let dir = TempDir::new("write-at-large");
    let path = dir.file("f", &pattern(1000, 3));
    let file = resource(&path, &rw());
    let data = pattern(LARGE, 4);

    let (n, buf) = lio.write_at(&file, data.clone(), 500).wait();
    assert_eq!(n.unwrap(), LARGE);
    assert_eq!(buf, data, "the buffer comes back unchanged");
    let mut expected = pattern(1000, 3);
    expected.truncate(500);
    expected.extend_from_slice(&data);
    assert_eq!(std::fs::read(&path).unwrap(), expected);

    // And lio reads back what std sees.
    let (n, back) = lio
        .read_at(&file, Vec::with_capacity(LARGE + 1000), 0)
        .wait();
    assert_eq!(n.unwrap(), expected.len());
    assert_eq!(back, expected);
}

fn write_at_file_position_appends(lio: &Lio) {
    let dir = TempDir::new("write-pos");
    let path = dir.file("f", b"");
    let file = resource(&path, &rw());

    let (n, _) = lio.write(&file, b"hello".to_vec()).wait();
    assert_eq!(n.unwrap(), 5);
    let (n, _) = lio.write(&file, b"world".to_vec()).wait();
    assert_eq!(n.unwrap(), 5);
    assert_eq!(std::fs::read(&path).unwrap(), b"helloworld");

    // A large write (through the ring) continues at the position, and a small one after it.
    let big = pattern(LARGE, 5);
    let (n, _) = lio.write(&file, big.clone()).wait();
    assert_eq!(n.unwrap(), LARGE);
    let (n, _) = lio.write(&file, b"!".to_vec()).wait();
    assert_eq!(n.unwrap(), 1);
    let mut expected = b"helloworld".to_vec();
    expected.extend_from_slice(&big);
    expected.push(b'!');
    assert_eq!(std::fs::read(&path).unwrap(), expected);
}

fn write_continues_after_std_seek(lio: &Lio) {
    let dir = TempDir::new("write-seek");
    let path = dir.file("f", b"0123456789");
    let mut std_file = rw().open(&path).unwrap();
    let file = lio::Resource::from(std_file.try_clone().unwrap());

    std_file.seek(SeekFrom::Start(2)).unwrap();
    let (n, _) = lio.write(&file, b"ab".to_vec()).wait();
    assert_eq!(n.unwrap(), 2);
    assert_eq!(std_file.stream_position().unwrap(), 4);
    let (n, _) = lio.write(&file, b"cd".to_vec()).wait();
    assert_eq!(n.unwrap(), 2);
    assert_eq!(std::fs::read(&path).unwrap(), b"01abcd6789");
}

fn readv_fills_buffers_in_order(lio: &Lio) {
    let dir = TempDir::new("readv-at");
    let data = pattern(50, 6);
    let path = dir.file("f", &data);
    let file = resource(&path, std::fs::OpenOptions::new().read(true));

    let bufs = vec![
        Vec::with_capacity(3),
        Vec::with_capacity(5),
        Vec::with_capacity(100),
    ];
    let (n, bufs) = lio.readv_at(&file, bufs, 4).wait();
    assert_eq!(n.unwrap(), 46);
    assert_eq!(bufs[0], &data[4..7], "first buffer filled to its capacity");
    assert_eq!(bufs[1], &data[7..12], "second buffer next");
    assert_eq!(bufs[2], &data[12..], "the rest in the third");
    assert_eq!(bufs[2].capacity(), 100);

    // A short read leaves the later buffers empty (length 0).
    let bufs = vec![
        Vec::with_capacity(4),
        Vec::with_capacity(4),
        Vec::with_capacity(4),
    ];
    let (n, bufs) = lio.readv_at(&file, bufs, 45).wait();
    assert_eq!(n.unwrap(), 5);
    assert_eq!(bufs[0], &data[45..49]);
    assert_eq!(bufs[1], &data[49..]);
    assert!(bufs[2].is_empty());
}

fn readv_at_file_position(lio: &Lio) {
    let dir = TempDir::new("readv-pos");
    let data = pattern(40, 7);
    let path = dir.file("f", &data);
    let mut std_file = std::fs::File::open(&path).unwrap();
    let file = lio::Resource::from(std_file.try_clone().unwrap());

    std_file.seek(SeekFrom::Start(10)).unwrap();
    let (n, bufs) = lio
        .readv(&file, vec![Vec::with_capacity(2), Vec::with_capacity(6)])
        .wait();
    assert_eq!(n.unwrap(), 8);
    assert_eq!((&bufs[0][..], &bufs[1][..]), (&data[10..12], &data[12..18]));
    assert_eq!(std_file.stream_position().unwrap(), 18);
    let (n, bufs) = lio.readv(&file, vec![Vec::with_capacity(4)]).wait();
    assert_eq!(n.unwrap(), 4);
    assert_eq!(bufs[0], &data[18..22], "continues from the position");
}

fn writev_at_matches_std(lio: &Lio) {
    let dir = TempDir::new("writev-at");
    let path = dir.file("f", b"0123456789");
    let file = resource(&path, &rw());

    let bufs = vec![b"ab".to_vec(), b"cde".to_vec(), b"f".to_vec()];
    let (n, bufs) = lio.writev_at(&file, bufs, 2).wait();
    assert_eq!(n.unwrap(), 6);
    assert_eq!(bufs, [b"ab".to_vec(), b"cde".to_vec(), b"f".to_vec()]);
    assert_eq!(std::fs::read(&path).unwrap(), b"01abcdef89");

    // Large (through the ring): two big parts and an empty one in between.
    let (a, b) = (pattern(LARGE, 8), pattern(LARGE / 2, 9));
    let bufs = vec![a.clone(), Vec::new(), b.clone()];
    let (n, _) = lio.writev_at(&file, bufs, 1).wait();
    assert_eq!(n.unwrap(), a.len() + b.len());
    let mut expected = b"0".to_vec();
    expected.extend_from_slice(&a);
    expected.extend_from_slice(&b);
    assert_eq!(std::fs::read(&path).unwrap(), expected);
}

fn writev_at_file_position(lio: &Lio) {
    let dir = TempDir::new("writev-pos");
    let path = dir.file("f", b"");
    let file = resource(&path, &rw());

    let (n, _) = lio
        .writev(&file, vec![b"hel".to_vec(), b"lo".to_vec()])
        .wait();
    assert_eq!(n.unwrap(), 5);
    let (n, _) = lio
        .writev(&file, vec![b"wo".to_vec(), b"rld".to_vec()])
        .wait();
    assert_eq!(n.unwrap(), 5);
    assert_eq!(std::fs::read(&path).unwrap(), b"helloworld");
}

fn fsync_and_fdatasync_succeed(lio: &Lio) {
    let dir = TempDir::new("fsync");
    let path = dir.file("f", b"");
    let file = resource(&path, &rw());

    let (n, _) = lio.write_at(&file, b"durable".to_vec(), 0).wait();
    assert_eq!(n.unwrap(), 7);
    lio.fsync(&file).wait().expect("fsync");
    let (n, _) = lio.write_at(&file, b"!".to_vec(), 7).wait();
    assert_eq!(n.unwrap(), 1);
    lio.fdatasync(&file).wait().expect("fdatasync");
    assert_eq!(std::fs::read(&path).unwrap(), b"durable!");
}

fn fallocate_grows_file(lio: &Lio) {
    let dir = TempDir::new("fallocate");
    let path = dir.file("f", b"abc");
    let file = resource(&path, &rw());

    let result = lio.fallocate(&file, 0, 8192).wait();
    if common::unsupported(&result, "fallocate") {
        return;
    }
    result.expect("fallocate");
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), 8192);
    assert!(meta.blocks() * 512 >= 8192, "space is allocated");
    let mut expected = b"abc".to_vec();
    expected.resize(8192, 0);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        expected,
        "data kept, rest zeros"
    );

    // An allocation inside the file changes nothing visible.
    lio.fallocate(&file, 100, 100)
        .wait()
        .expect("fallocate inside");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 8192);
}

fn fallocate_keep_size_keeps_length(lio: &Lio) {
    let dir = TempDir::new("fallocate-keep");
    let path = dir.file("f", b"abc");
    let file = resource(&path, &rw());
    let before = std::fs::metadata(&path).unwrap();

    let op = Fallocate::new(&file, 0, 64 * 1024).mode(libc::FALLOC_FL_KEEP_SIZE);
    let result = lio.submit(op).wait();
    if common::unsupported(&result, "fallocate(FALLOC_FL_KEEP_SIZE)") {
        return;
    }
    result.expect("fallocate keep-size");
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!(after.len(), 3, "length unchanged");
    assert!(
        after.blocks() > before.blocks() && after.blocks() * 512 >= 64 * 1024,
        "space is allocated past the end: {} -> {} blocks",
        before.blocks(),
        after.blocks()
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"abc");
}

fn ftruncate_shrinks_and_extends(lio: &Lio) {
    let dir = TempDir::new("ftruncate");
    let path = dir.file("f", b"0123456789");
    let file = resource(&path, &rw());

    let result = lio.ftruncate(&file, 4).wait();
    if common::unsupported(&result, "ftruncate") {
        return;
    }
    result.expect("ftruncate shrink");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 4);
    assert_eq!(std::fs::read(&path).unwrap(), b"0123");

    lio.ftruncate(&file, 10).wait().expect("ftruncate extend");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 10);
    assert_eq!(std::fs::read(&path).unwrap(), b"0123\0\0\0\0\0\0");
    let (n, buf) = lio.read_at(&file, Vec::with_capacity(16), 4).wait();
    assert_eq!(
        (n.unwrap(), &buf[..]),
        (6, &[0u8; 6][..]),
        "extension reads as zeros"
    );

    lio.ftruncate(&file, 0).wait().expect("ftruncate to 0");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
}

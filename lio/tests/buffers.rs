//! Every buffer type against the real kernel, checked with `std` on the same file: `Slice`
//! sub-ranges (writes send exactly the range; reads fill it and extend, never shrink, the
//! inner buffer), `Box<[u8]>`, `&'static [u8]`, `&'static str`, `String`, and (with the
//! `bytes` feature) `Bytes` and `BytesMut`.

mod common;

use common::{backend_tests, resource, rw, TempDir};
use lio::buf::{IoBuf, IoBufMut, Slice};
use lio::Lio;

backend_tests!(
    slice_write_sends_exactly_the_range,
    slice_mut_read_appends_after_existing_bytes,
    slice_mut_read_never_shrinks_the_inner_buffer,
    slices_in_vectored_operations,
    boxed_slice_read_and_write,
    static_and_string_writes,
);

fn slice_write_sends_exactly_the_range(lio: &Lio) {
    let dir = TempDir::new("slice-write");
    let path = dir.file("f", b"");
    let file = resource(&path, &rw());

    let (n, slice) = lio
        .write_at(&file, b"0123456789".to_vec().slice(2..5), 0)
        .wait();
    assert_eq!(n.unwrap(), 3);
    assert_eq!(std::fs::read(&path).unwrap(), b"234");
    assert_eq!((slice.begin(), slice.end()), (2, 5));
    assert_eq!(
        slice.into_inner(),
        b"0123456789",
        "the whole buffer comes back"
    );

    // Open-ended and at the file position.
    let (n, _) = lio.write(&file, b"0123456789".to_vec().slice(7..)).wait();
    assert_eq!(n.unwrap(), 3);
    let (n, _) = lio.write(&file, b"0123456789".to_vec().slice(..=1)).wait();
    assert_eq!(n.unwrap(), 2);
    // An empty range writes nothing.
    let (n, _) = lio.write(&file, b"0123456789".to_vec().slice(4..4)).wait();
    assert_eq!(n.unwrap(), 0);
    assert_eq!(std::fs::read(&path).unwrap(), b"78901");
}

fn slice_mut_read_appends_after_existing_bytes(lio: &Lio) {
    let dir = TempDir::new("slice-read");
    let path = dir.file("f", b"abcdefghijklmnopqrstuvwxyz");
    let file = resource(&path, std::fs::OpenOptions::new().read(true));

    let mut buf = Vec::with_capacity(16);
    buf.extend_from_slice(b"XY");
    let (n, slice) = lio.read_at(&file, buf.slice_mut(2..), 0).wait();
    assert_eq!(n.unwrap(), 14, "fills the spare capacity");
    let buf = slice.into_inner();
    assert_eq!(
        buf, b"XYabcdefghijklmn",
        "appended after the existing bytes"
    );

    // A bounded range: at most its length, and the inner length grows to the end of the data.
    let mut buf = Vec::with_capacity(16);
    buf.extend_from_slice(b"XY");
    let (n, slice) = lio.read_at(&file, buf.slice_mut(2..6), 10).wait();
    assert_eq!(n.unwrap(), 4);
    assert_eq!(slice.as_bytes(), b"klmn");
    assert_eq!(slice.into_inner(), b"XYklmn");

    // A short read (at the end of the file) sets the length to what was read.
    let mut buf = Vec::with_capacity(16);
    buf.extend_from_slice(b"XY");
    let (n, slice) = lio.read_at(&file, buf.slice_mut(2..), 23).wait();
    assert_eq!(n.unwrap(), 3);
    assert_eq!(slice.into_inner(), b"XYxyz");

    // Nothing to read: the existing bytes stay.
    let mut buf = Vec::with_capacity(16);
    buf.extend_from_slice(b"XY");
    let (n, slice) = lio.read_at(&file, buf.slice_mut(2..), 100).wait();
    assert_eq!(n.unwrap(), 0);
    assert_eq!(slice.into_inner(), b"XY");

    // The empty spare capacity of a zero-capacity Vec.
    let (n, slice) = lio.read_at(&file, Vec::new().slice_mut(..), 0).wait();
    assert_eq!(n.unwrap(), 0);
    assert!(slice.into_inner().is_empty());
}

fn slice_mut_read_never_shrinks_the_inner_buffer(lio: &Lio) {
    let dir = TempDir::new("slice-overwrite");
    let path = dir.file("f", b"XYZ");
    let file = resource(&path, std::fs::OpenOptions::new().read(true));

    let mut buf = Vec::with_capacity(16);
    buf.extend_from_slice(b"abcdefgh");
    let (n, slice) = lio.read_at(&file, buf.slice_mut(2..), 0).wait();
    assert_eq!(n.unwrap(), 3);
    assert_eq!(
        slice.as_bytes(),
        b"XYZfgh",
        "the slice's view of the initialised bytes"
    );
    assert_eq!(
        slice.into_inner(),
        b"abXYZfgh",
        "overwritten in place, length kept"
    );
}

fn slices_in_vectored_operations(lio: &Lio) {
    let dir = TempDir::new("slice-vectored");
    let path = dir.file("f", b"");
    let file = resource(&path, &rw());

    let bufs: Vec<Slice<Vec<u8>>> = vec![
        b"__ab__".to_vec().slice(2..4),
        b"cde".to_vec().slice(..),
        b"xxxf".to_vec().slice(3..),
    ];
    let (n, bufs) = lio.writev_at(&file, bufs, 0).wait();
    assert_eq!(n.unwrap(), 6);
    assert_eq!(bufs[0].as_bytes(), b"ab");
    assert_eq!(std::fs::read(&path).unwrap(), b"abcdef");

    let mut head = Vec::with_capacity(5);
    head.extend_from_slice(b">");
    let bufs = vec![head.slice_mut(1..), Vec::with_capacity(8).slice_mut(..)];
    let (n, bufs) = lio.readv_at(&file, bufs, 0).wait();
    assert_eq!(n.unwrap(), 6);
    let inner: Vec<Vec<u8>> = bufs.into_iter().map(Slice::into_inner).collect();
    assert_eq!(inner, [b">abcd".to_vec(), b"ef".to_vec()]);
}

fn boxed_slice_read_and_write(lio: &Lio) {
    let dir = TempDir::new("boxed");
    let path = dir.file("f", b"");
    let file = resource(&path, &rw());

    let data: Box<[u8]> = Box::from(&b"boxed bytes"[..]);
    let (n, back) = lio.write_at(&file, data, 0).wait();
    assert_eq!(n.unwrap(), 11);
    assert_eq!(&back[..], b"boxed bytes");
    assert_eq!(std::fs::read(&path).unwrap(), b"boxed bytes");

    // A read fills from the start; the bytes past the count keep their old value.
    let buf: Box<[u8]> = Box::from(&b"................"[..]);
    let (n, buf) = lio.read_at(&file, buf, 6).wait();
    assert_eq!(n.unwrap(), 5);
    assert_eq!(&buf[..], b"bytes...........");
    assert_eq!(buf.buf_capacity(), 16);
}

fn static_and_string_writes(lio: &Lio) {
    let dir = TempDir::new("static");
    let path = dir.file("f", b"");
    let file = resource(&path, &rw());

    let (n, _) = lio.write(&file, &b"static "[..]).wait();
    assert_eq!(n.unwrap(), 7);
    let (n, _) = lio.write(&file, "str ").wait();
    assert_eq!(n.unwrap(), 4);
    let (n, back) = lio.write(&file, String::from("string")).wait();
    assert_eq!(n.unwrap(), 6);
    assert_eq!(back, "string");
    let (n, _) = lio.writev(&file, vec!["!", "?"]).wait();
    assert_eq!(n.unwrap(), 2);
    assert_eq!(std::fs::read(&path).unwrap(), b"static str string!?");
}

#[cfg(feature = "bytes")]
mod with_bytes {
    //! `bytes::Bytes` (write) and `bytes::BytesMut` (write and read).

    use super::common::{backend_tests, resource, rw, TempDir};
    use bytes::{BufMut, Bytes, BytesMut};
    use lio::buf::IoBufMut;
    use lio::Lio;

    backend_tests!(bytes_write, bytes_mut_write_and_read);

    fn bytes_write(lio: &Lio) {
        let dir = TempDir::new("bytes");
        let path = dir.file("f", b"");
        let file = resource(&path, &rw());
        let data = Bytes::from_static(b"from Bytes");
        let (n, back) = lio.write_at(&file, data.slice(5..), 0).wait();
        assert_eq!(n.unwrap(), 5);
        assert_eq!(&back[..], b"Bytes");
        assert_eq!(std::fs::read(&path).unwrap(), b"Bytes");
    }

    fn bytes_mut_write_and_read(lio: &Lio) {
        let dir = TempDir::new("bytes-mut");
        let path = dir.file("f", b"");
        let file = resource(&path, &rw());

        let mut data = BytesMut::with_capacity(64);
        data.put_slice(b"from BytesMut");
        let (n, _) = lio.write_at(&file, data, 0).wait();
        assert_eq!(n.unwrap(), 13);
        assert_eq!(std::fs::read(&path).unwrap(), b"from BytesMut");

        let buf = BytesMut::with_capacity(8);
        let cap = buf.buf_capacity();
        let (n, buf) = lio.read_at(&file, buf, 0).wait();
        let n = n.unwrap();
        assert_eq!(n, cap.min(13));
        assert_eq!(&buf[..], &b"from BytesMut"[..n], "length set to the count");

        // Appending into the spare capacity through a Slice.
        let mut buf = BytesMut::with_capacity(32);
        buf.put_slice(b">>");
        let (n, slice) = lio.read_at(&file, buf.slice_mut(2..), 5).wait();
        assert_eq!(n.unwrap(), 8);
        assert_eq!(&slice.into_inner()[..], b">>BytesMut");
    }
}

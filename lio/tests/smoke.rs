use lio::op::OpenOptions;
use std::time::Duration;

#[test]
fn smoke() {
    let lio = lio::Lio::new().unwrap();
    lio.nop().wait().unwrap();
    let dir = std::env::temp_dir().join(format!("lio-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f");
    let f = lio
        .open(
            &path,
            &OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .mode(0o640),
        )
        .wait()
        .unwrap();
    let (n, _) = lio.write(&f, b"hello".to_vec()).wait();
    assert_eq!(n.unwrap(), 5);
    let (n, _) = lio.write(&f, b"world".to_vec()).wait();
    assert_eq!(n.unwrap(), 5);
    assert_eq!(std::fs::read(&path).unwrap(), b"helloworld");
    let (n, buf) = lio.read_at(&f, Vec::with_capacity(64), 0).wait();
    assert_eq!(n.unwrap(), 10);
    assert_eq!(buf, b"helloworld");
    let r = lio
        .sleep(Duration::from_secs(5))
        .timeout(Duration::from_millis(10))
        .wait();
    assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    lio.sleep(Duration::from_millis(1)).wait().unwrap();
    let st = lio.statx(&path).wait().unwrap();
    assert_eq!(st.size, 10);
    let out = lio
        .block_on(async { lio.read_at(&f, vec![0u8; 4], 5).await })
        .unwrap();
    assert_eq!(&out.1[..], b"worl");
    std::fs::remove_dir_all(&dir).unwrap();
}

//! An echo server in async style: `lio::Lio::block_on` runs one future, a small task set
//! that polls each connection's future only when that connection's own waker fired (lio has
//! no `spawn`; this is the least an executor needs). Every byte a client sends comes back
//! until the client closes.
//!
//! ```text
//! cargo run -p lio --example echo_server -- --backend epoll --addr 127.0.0.1:7878
//! ```

mod echo_args;

use lio::buf::IoBuf;
use lio::net::{TcpListener, TcpStream};
use lio::Lio;
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

fn main() {
    let (args, _) = echo_args::parse("echo_server", false);
    let lio = args.lio;
    let listener = TcpListener::bind(args.addr).unwrap_or_else(|e| {
        eprintln!("echo_server: cannot listen on {}: {e}", args.addr);
        std::process::exit(1)
    });
    let addr = listener.local_addr().unwrap_or(args.addr);
    println!("echo_server: listening on {addr} ({})", lio.backend());
    let tasks = TaskSet::default();
    let spawner = tasks.spawner();
    spawner.spawn(accept_loop(lio.clone(), listener, spawner.clone()));
    if let Err(e) = lio.block_on(tasks) {
        eprintln!("echo_server: the driver failed: {e}");
        std::process::exit(1);
    }
}

/// Accepts connections forever, one task each.
async fn accept_loop(lio: Lio, listener: TcpListener, spawner: Spawner) {
    loop {
        match listener.accept(&lio).await {
            Ok((stream, peer)) => spawner.spawn(echo(lio.clone(), stream, peer)),
            // Out of descriptors, a connection reset before it was accepted, ...: log and
            // go on.
            Err(e) => eprintln!("echo_server: accept: {e}"),
        }
    }
}

/// Echoes everything `stream` sends until it closes.
async fn echo(lio: Lio, stream: TcpStream, peer: SocketAddr) {
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        let (read, got) = stream.read(&lio, buf).await;
        buf = got;
        match read {
            Ok(0) => break,
            Ok(_) => {
                let (written, back) = write_all(&lio, &stream, buf).await;
                buf = back;
                if let Err(e) = written {
                    eprintln!("echo_server: {peer}: write: {e}");
                    break;
                }
                buf.clear();
            }
            Err(e) => {
                eprintln!("echo_server: {peer}: read: {e}");
                break;
            }
        }
    }
}

/// Writes all of `buf`, looping over short writes; hands the buffer back.
async fn write_all(lio: &Lio, stream: &TcpStream, mut buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
    let mut sent = 0;
    while sent < buf.len() {
        let (written, slice) = stream.write(lio, buf.slice(sent..)).await;
        buf = slice.into_inner();
        match written {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
            Ok(n) => sent += n,
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// Futures run by a [`TaskSet`]; each is polled when its own waker fires.
#[derive(Default)]
struct TaskSet {
    /// Slots of running tasks, each with its waker.
    slots: Vec<Option<(Task, Waker)>>,
    free: Vec<usize>,
    spawned: Rc<RefCell<Vec<Task>>>,
    woken: Arc<Woken>,
}

/// Which tasks were woken, and the waker of the future polling the set.
#[derive(Default)]
struct Woken {
    tasks: Mutex<Vec<usize>>,
    outer: Mutex<Option<Waker>>,
}

/// The waker of task `index`.
struct TaskWaker {
    index: usize,
    woken: Arc<Woken>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.woken.tasks).push(self.index);
        if let Some(outer) = lock(&self.woken.outer).as_ref() {
            outer.wake_by_ref();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Adds tasks to a [`TaskSet`] from inside its tasks.
#[derive(Clone)]
struct Spawner(Rc<RefCell<Vec<Task>>>);

impl Spawner {
    fn spawn(&self, task: impl Future<Output = ()> + 'static) {
        self.0.borrow_mut().push(Box::pin(task));
    }
}

impl TaskSet {
    fn spawner(&self) -> Spawner {
        Spawner(self.spawned.clone())
    }

    /// Gives `task` a slot and a waker, and marks it to be polled.
    fn adopt(&mut self, task: Task) {
        let index = self.free.pop().unwrap_or(self.slots.len());
        let waker = Waker::from(Arc::new(TaskWaker {
            index,
            woken: self.woken.clone(),
        }));
        if index == self.slots.len() {
            self.slots.push(None);
        }
        self.slots[index] = Some((task, waker));
        lock(&self.woken.tasks).push(index);
    }
}

impl Future for TaskSet {
    type Output = ();

    /// Polls the woken tasks until none is left to poll; ready when every task finished.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        *lock(&this.woken.outer) = Some(cx.waker().clone());
        loop {
            let spawned: Vec<Task> = this.spawned.borrow_mut().drain(..).collect();
            for task in spawned {
                this.adopt(task);
            }
            let ready = std::mem::take(&mut *lock(&this.woken.tasks));
            if ready.is_empty() {
                break;
            }
            for index in ready {
                // A stale wake-up of a finished task (or of its slot's next occupant) only
                // costs a poll.
                let Some((task, waker)) = this.slots.get_mut(index).and_then(Option::as_mut) else {
                    continue;
                };
                let waker = waker.clone();
                if task
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_ready()
                {
                    this.slots[index] = None;
                    this.free.push(index);
                }
            }
        }
        if this.slots.iter().all(Option::is_none) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

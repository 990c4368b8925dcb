//! Fair dispatch and "drive until done". One `run` handles only what was ready when it
//! started, so an endless chain of callbacks whose operations finish without the OS (inline
//! file writes on both backends, nops on epoll) cannot starve timers and other I/O; and
//! `in_flight()` counts every operation whose callback has not run yet, so the natural loop
//! `while lio.in_flight() > 0 { lio.run()?; }` (or `run_until_idle`) drives a callback-style
//! program to its end on every backend.

mod common;

use common::{backend_tests, pattern, TempDir};
use lio::op::OpenOptions;
use lio::{Lio, Resource};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

backend_tests!(
    one_run_handles_only_what_was_ready_when_it_started,
    a_sleep_fires_while_callbacks_resubmit_inline_writes,
    a_sleep_fires_while_callbacks_resubmit_nops,
    in_flight_counts_callbacks_that_have_not_run,
    a_callback_copy_driven_while_in_flight_copies_everything,
    run_until_idle_drives_a_callback_copy_to_its_end,
);

/// The longest a chain may run before the test calls the driver unfair.
const CHAIN_LIMIT: usize = 200_000;

fn scratch_file(dir: &TempDir, lio: &Lio, name: &str) -> Resource {
    let options = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true);
    lio.open(dir.join(name), &options).wait().unwrap()
}

/// What one link of a chain submits: an operation whose callback calls `next`.
type Submit = Rc<dyn Fn(&Lio, Box<dyn FnOnce()>)>;

/// Starts a chain that resubmits from each callback until `stop` is set (or the limit).
fn chain(lio: &Lio, submit: Submit, links: Rc<Cell<usize>>, stop: Rc<Cell<bool>>) {
    let next = lio.clone();
    let again = submit.clone();
    submit(
        lio,
        Box::new(move || {
            links.set(links.get() + 1);
            if !stop.get() && links.get() < CHAIN_LIMIT {
                chain(&next, again, links, stop);
            }
        }),
    );
}

fn inline_writes(file: Resource) -> Submit {
    Rc::new(move |lio: &Lio, done: Box<dyn FnOnce()>| {
        lio.write_at(&file, b"x".to_vec(), 0)
            .when_done(move |(n, _)| {
                n.expect("write");
                done();
            });
    })
}

fn nops() -> Submit {
    Rc::new(|lio: &Lio, done: Box<dyn FnOnce()>| {
        lio.nop().when_done(move |r| {
            r.expect("nop");
            done();
        });
    })
}

fn one_run_handles_only_what_was_ready_when_it_started(lio: &Lio) {
    let dir = TempDir::new("fair-one-run");
    let file = scratch_file(&dir, lio, "f");
    let (links, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    chain(lio, inline_writes(file), links.clone(), stop.clone());
    assert_eq!(lio.run().unwrap(), 1);
    assert_eq!(links.get(), 1, "the successor waits for the next run");
    assert_eq!(lio.run().unwrap(), 1);
    assert_eq!(links.get(), 2);
    stop.set(true);
    lio.run_until_idle().unwrap();
    assert_eq!(lio.in_flight(), 0);
}

/// A 5 ms sleep submitted beside an endless chain fires long before the chain would end.
fn sleep_beats_chain(lio: &Lio, submit: Submit) {
    let (links, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let at_sleep = Rc::new(Cell::new(None));
    {
        let (stop, links, at_sleep) = (stop.clone(), links.clone(), at_sleep.clone());
        lio.sleep(Duration::from_millis(5)).when_done(move |_| {
            at_sleep.set(Some(links.get()));
            stop.set(true);
        });
    }
    chain(lio, submit, links.clone(), stop);
    lio.run_until_idle().unwrap();
    let at_sleep = at_sleep.get().expect("the sleep fired");
    eprintln!("the sleep fired after {at_sleep} links");
    assert!(
        at_sleep < CHAIN_LIMIT,
        "the sleep fired only after the chain gave up ({CHAIN_LIMIT} links)"
    );
}

fn a_sleep_fires_while_callbacks_resubmit_inline_writes(lio: &Lio) {
    let dir = TempDir::new("fair-sleep");
    let file = scratch_file(&dir, lio, "f");
    sleep_beats_chain(lio, inline_writes(file));
}

fn a_sleep_fires_while_callbacks_resubmit_nops(lio: &Lio) {
    sleep_beats_chain(lio, nops());
}

fn in_flight_counts_callbacks_that_have_not_run(lio: &Lio) {
    let dir = TempDir::new("fair-count");
    let file = scratch_file(&dir, lio, "f");
    let ran = Rc::new(Cell::new(0));
    let r = ran.clone();
    lio.nop().when_done(move |_| r.set(r.get() + 1));
    let r = ran.clone();
    // Completes inline, at submission: its callback still waits for `run`.
    lio.write_at(&file, b"abc".to_vec(), 0)
        .when_done(move |_| r.set(r.get() + 1));
    assert_eq!(lio.in_flight(), 2);
    while lio.in_flight() > 0 {
        lio.run().unwrap();
    }
    assert_eq!(ran.get(), 2);
}

const COPY_LEN: usize = 4 << 20;
const CHUNK: usize = 64 << 10;

/// Copies `src` to `dst` chunk by chunk with callbacks: read at an offset (the pool on
/// epoll), then write it (inline: finished at submission), then the next read.
fn copy_from(lio: &Lio, src: Resource, dst: Resource, offset: u64) {
    let next = lio.clone();
    lio.read_at(&src, Vec::with_capacity(CHUNK), offset)
        .when_done(move |(n, buf)| {
            let n = n.expect("read");
            if n == 0 {
                return;
            }
            let lio = next.clone();
            next.write_at(&dst, buf, offset).when_done(move |(w, _)| {
                assert_eq!(w.expect("write"), n, "a short write to a regular file");
                copy_from(&lio, src, dst, offset + n as u64);
            });
        });
}

fn copy_setup(lio: &Lio, dir: &TempDir) -> (Resource, Resource, Vec<u8>) {
    let data = pattern(COPY_LEN, 8);
    let src = dir.file("src", &data);
    let src = lio
        .open(&src, &OpenOptions::new().read(true))
        .wait()
        .unwrap();
    (src, scratch_file(dir, lio, "dst"), data)
}

fn a_callback_copy_driven_while_in_flight_copies_everything(lio: &Lio) {
    let dir = TempDir::new("fair-copy");
    let (src, dst, data) = copy_setup(lio, &dir);
    copy_from(lio, src, dst, 0);
    while lio.in_flight() > 0 {
        lio.run().unwrap();
    }
    assert!(
        std::fs::read(dir.join("dst")).unwrap() == data,
        "the copy is incomplete"
    );
}

fn run_until_idle_drives_a_callback_copy_to_its_end(lio: &Lio) {
    let dir = TempDir::new("fair-idle");
    let (src, dst, data) = copy_setup(lio, &dir);
    copy_from(lio, src, dst, 0);
    let handled = lio.run_until_idle().unwrap();
    assert_eq!(lio.in_flight(), 0);
    assert!(
        handled >= 2 * (COPY_LEN / CHUNK),
        "{handled} completions handled"
    );
    assert!(
        std::fs::read(dir.join("dst")).unwrap() == data,
        "the copy is incomplete"
    );
}

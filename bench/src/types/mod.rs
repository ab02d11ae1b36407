// SPDX-License-Identifier: GPL-2.0

//! File types under test. Each type is one module that implements
//! [`FileType`] (how to make a channel) and [`Channel`] (how one message is
//! sent, and how a completed read is checked); the harness does the rest.
//!
//! To add a type: write `types/<name>.rs` with a
//! `FileType` implementation and list it in [`all`]. Types whose reads
//! answer requests (userfaultfd, fuse: the writer's system call or memory
//! access only returns once the reader replies) implement
//! [`Channel::reply`], and [`Channel::abort`] when a signal cannot release
//! a writer waiting for a reply that will not come (userfaultfd, fuse);
//! types whose file may also deliver requests that are not messages (a FUSE
//! connection: the kernel's own `FORGET`, `INTERRUPT`, `GETATTR`) answer
//! them in [`Channel::housekeeping`], and the reader reads again; types
//! whose messages cannot carry a timestamp return `ts_ns: None` from
//! [`Channel::check`] and the harness uses the time the writer recorded just
//! before its system call (that of the oldest message the read consumed);
//! counter types whose reads coalesce several messages (eventfd) return
//! `msgs > 1` from [`Channel::check`] and say so with
//! [`FileType::coalesces`]. Types whose messages are addressed to the
//! reader thread (signalfd) set the process up in [`FileType::process_init`]
//! and check what is left for the reader in [`Channel::reader_end`].

use std::os::fd::RawFd;

use crate::case::{Kind, Method, Mode};

pub mod eventfd;
pub mod fuse;
pub mod pipe;
pub mod signalfd;
pub mod uffd;

/// How the harness wants a channel opened.
#[derive(Clone, Debug)]
pub struct OpenCfg {
    /// The read side must not block (epoll readers); io_uring and blocking
    /// readers need a blocking file (with `O_NONBLOCK` io_uring would fail
    /// reads with `-EAGAIN` instead of waiting).
    pub nonblocking_read: bool,
    /// The reader is a thread blocked in `read(2)` (the `blocking` method).
    /// Types whose io_uring reads need a non-blocking file (userfaultfd:
    /// its `poll` reports only `EPOLLERR` without `O_NONBLOCK`) open a
    /// blocking one only then.
    pub blocking_read: bool,
    /// Payload size for types with a free-form payload.
    pub msg_size: usize,
}

/// What one completed read delivered.
#[derive(Clone, Copy, Debug)]
pub struct Received {
    /// Messages the read consumed (1 for pipes; counter types may coalesce).
    pub msgs: u64,
    /// The writer's timestamp of the first message, if it travels with the
    /// data.
    pub ts_ns: Option<u64>,
}

/// One reader/writer pair of endpoints.
pub trait Channel: Send + Sync {
    /// The fd the reader reads.
    fn read_fd(&self) -> RawFd;

    /// The length of the reader's read buffer (one message).
    fn read_len(&self) -> usize;

    /// Called in the reader's thread before its first read (e.g. to block a
    /// signal or register with a device).
    fn reader_init(&self) -> Result<(), String> {
        Ok(())
    }

    /// Called in the reader's thread after the last read of a case that
    /// went well, before [`Channel::leftover`] is asked from another thread:
    /// for data queued for the reader thread itself (a signalfd's signals),
    /// which goes away with the thread.
    fn reader_end(&self) {}

    /// The writer's side: makes message `seq` available with one system
    /// call. `ts_ns` is the `CLOCK_MONOTONIC` time taken just before.
    /// Must return `EINTR` errors unchanged (the harness retries or aborts).
    fn send(&self, seq: u64, ts_ns: u64) -> Result<(), (i32, String)>;

    /// Sets aside a read that is no message at all (called before
    /// [`Channel::check`] for every read): requests of the kernel's own on
    /// a request/response file, which the type answers here if they need
    /// an answer (FUSE: `FORGET`, `INTERRUPT`, `GETATTR` of the root).
    /// `Ok(true)`: it was such a read, answered; the reader reads that
    /// channel again for its message. `Ok(false)`: it is for `check`.
    fn housekeeping(&self, _data: &[u8]) -> Result<bool, String> {
        Ok(false)
    }

    /// Checks the bytes a read returned: they must be message `seq`, whole
    /// and intact. Returns what was delivered.
    fn check(&self, data: &[u8], seq: u64) -> Result<Received, String>;

    /// Answers a request after `check` (request/response types only).
    fn reply(&self, _data: &[u8]) -> Result<(), String> {
        Ok(())
    }

    /// Data still queued after the run (must be 0: counts are exact): bytes
    /// for a stream, the counter's value for a counter type. A type whose
    /// leftovers are not bytes nor a count (userfaultfd: faults unread or
    /// unresolved) may return an error that says what is left instead.
    fn leftover(&self) -> Result<usize, String> {
        Ok(0)
    }

    /// The harness is aborting the case (a failure or a hang): release a
    /// writer that waits for a reply the reader will never send, if a
    /// signal cannot (its `send` must then return `EINTR`). Called from the
    /// harness's thread, possibly while both sides are still running.
    fn abort(&self) {}
}

/// A file type under test.
pub trait FileType: Sync {
    /// Short name used on the command line and in reports.
    fn name(&self) -> &'static str;

    /// Why this type cannot be tested here, if it cannot.
    fn unavailable(&self) -> Option<String> {
        None
    }

    /// Process-wide setup, run once in the main thread before the harness
    /// starts any thread, so that every later thread inherits it (signalfd
    /// blocks its real-time signals there).
    fn process_init(&self) -> Result<(), String> {
        Ok(())
    }

    /// The most channels that can be open at once, and why, if the type
    /// has a limit (signalfd: one real-time signal each). A batch case with
    /// more files is skipped.
    fn max_channels(&self) -> Option<(usize, &'static str)> {
        None
    }

    /// Whether one read may deliver several messages (a counter: eventfd).
    /// Reads in paced kinds must still deliver exactly one; the throughput
    /// table then shows messages per read.
    fn coalesces(&self) -> bool {
        false
    }

    /// What a message of this type is, for the Markdown report (one
    /// paragraph under the type's heading), if it needs saying.
    fn note(&self) -> Option<&'static str> {
        None
    }

    /// Why a case of this type that the harness would run makes no sense
    /// for it, if it does not (the case is skipped with this reason).
    fn skip(&self, _kind: Kind, _mode: Mode, _method: Method) -> Option<String> {
        None
    }

    /// Opens one channel.
    fn open(&self, cfg: &OpenCfg) -> Result<Box<dyn Channel>, String>;
}

/// Every implemented type, in report order.
pub fn all() -> Vec<&'static dyn FileType> {
    vec![
        &pipe::Pipe,
        &eventfd::Eventfd,
        &uffd::Uffd,
        &signalfd::Signalfd,
        &fuse::Fuse,
        &fuse::FuseRead,
    ]
}

/// The implemented type called `name`.
pub fn by_name(name: &str) -> Option<&'static dyn FileType> {
    all().into_iter().find(|t| t.name() == name)
}

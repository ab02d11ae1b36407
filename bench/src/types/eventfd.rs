// SPDX-License-Identifier: GPL-2.0

//! eventfd counters (`eventfd(2)`, normal mode: not `EFD_SEMAPHORE`).
//!
//! A message is one `write(2)` of the 8-byte value 1: it adds 1 to the
//! counter. A read (of 8 bytes) takes the whole counter and resets it to 0,
//! so one read delivers every message written since the last one: its value
//! is the number of messages it consumed. In paced kinds (latency, batch) the
//! writer waits for the reader to re-arm, so every read must return exactly
//! 1 (the harness checks it); unpaced (throughput) reads coalesce several
//! writes, and messages are counted as the sum of the values read: for
//! eventfd, messages per second are increments delivered per second.
//!
//! The value cannot carry a timestamp: the writer records its send time in
//! shared memory indexed by sequence number just before `write(2)`
//! ([`crate::pace::Shared::record_ts`]) and [`Channel::check`] returns
//! `ts_ns: None`, so the harness takes the send time of the oldest message
//! the read consumed.
//!
//! Integrity: a read must return 8 bytes and a value of at least 1 that does
//! not take more messages than have been written (a value delivered twice
//! shows up here); the harness then checks that the values add up to exactly
//! the messages sent, ending exactly with the terminator, and
//! [`Channel::leftover`] that the counter is 0 at the end
//! (`/proc/self/fdinfo/<fd>`, `eventfd-count:`).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Channel, FileType, OpenCfg, Received};
use crate::sys::{errno, os_err};

/// The size of every eventfd read and write.
const VALUE: usize = 8;

/// The eventfd type.
pub struct Eventfd;

impl FileType for Eventfd {
    fn name(&self) -> &'static str {
        "eventfd"
    }

    fn coalesces(&self) -> bool {
        true
    }

    fn note(&self) -> Option<&'static str> {
        Some(
            "A message is one `write(2)` of the value 1 to the eventfd (normal mode); a read \
             takes the whole counter and resets it. Paced cases (latency, batch) have one \
             message in flight, and every read must return exactly 1 (checked). In throughput cases the \
             writer never blocks and reads coalesce several writes: messages are counted as \
             the sum of the values read, so **msgs/s is increments delivered per second** \
             (not reads per second; see msgs/read), and the per-message costs are per \
             increment. The value carries no timestamp: the writer records its send time in \
             shared memory, indexed by sequence number, just before `write(2)`, and the \
             latency of a read is measured from the oldest message it consumed.",
        )
    }

    fn open(&self, cfg: &OpenCfg) -> Result<Box<dyn Channel>, String> {
        // One open file serves both sides (an eventfd cannot be reopened),
        // so with an epoll reader the writer's writes are non-blocking too:
        // harmless, a write only blocks when the counter would overflow.
        let mut flags = libc::EFD_CLOEXEC;
        if cfg.nonblocking_read {
            flags |= libc::EFD_NONBLOCK;
        }
        // SAFETY: plain system call without pointers.
        let fd = unsafe { libc::eventfd(0, flags) };
        if fd < 0 {
            return Err(os_err("eventfd", errno()));
        }
        Ok(Box::new(EventfdChannel {
            // SAFETY: eventfd succeeded: the fd is new and owned by nobody
            // else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            posted: AtomicU64::new(0),
        }))
    }
}

struct EventfdChannel {
    fd: OwnedFd,
    /// One past the highest sequence number the writer has written (stored
    /// before its `write(2)`, so a reader that sees the value sees this).
    posted: AtomicU64,
}

/// The counter in the text of `/proc/self/fdinfo/<eventfd>`.
fn fdinfo_count(text: &str) -> Option<u64> {
    let v = text
        .lines()
        .find_map(|l| l.strip_prefix("eventfd-count:"))?;
    u64::from_str_radix(v.trim(), 16).ok()
}

impl EventfdChannel {
    /// The counter without consuming it, from fdinfo; where `/proc` is not
    /// mounted, a `poll(2)` and, if the fd is readable, a read (which then
    /// empties it: only ever on a failed case).
    fn counter(&self) -> Result<u64, String> {
        let fd = self.fd.as_raw_fd();
        if let Ok(text) = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")) {
            return fdinfo_count(&text)
                .ok_or_else(|| format!("no eventfd-count in /proc/self/fdinfo/{fd}"));
        }
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `p` is one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        if n < 0 {
            return Err(os_err("poll(eventfd)", errno()));
        }
        if n == 0 || p.revents & libc::POLLIN == 0 {
            return Ok(0);
        }
        let mut b = [0u8; VALUE];
        // SAFETY: `b` is a valid buffer of the length passed; the fd is
        // readable, so the read does not block.
        let r = unsafe { libc::read(fd, b.as_mut_ptr().cast(), VALUE) };
        if r != VALUE as isize {
            return Err(os_err("read(eventfd)", errno()));
        }
        Ok(u64::from_ne_bytes(b))
    }
}

impl Channel for EventfdChannel {
    fn read_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn read_len(&self) -> usize {
        VALUE
    }

    fn send(&self, seq: u64, _ts_ns: u64) -> Result<(), (i32, String)> {
        self.posted.store(seq + 1, Ordering::Release);
        let one = 1u64.to_ne_bytes();
        // SAFETY: `one` is a valid buffer of the length passed.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), one.as_ptr().cast(), VALUE) };
        if n < 0 {
            let e = errno();
            return Err((e, os_err("write(eventfd)", e)));
        }
        if n as usize != VALUE {
            return Err((0, format!("short eventfd write: {n} of {VALUE} bytes")));
        }
        Ok(())
    }

    fn check(&self, data: &[u8], seq: u64) -> Result<Received, String> {
        let Ok(b) = <[u8; VALUE]>::try_from(data) else {
            return Err(format!(
                "message {seq}: read returned {} bytes, expected {VALUE}",
                data.len()
            ));
        };
        let v = u64::from_ne_bytes(b);
        if v == 0 {
            return Err(format!("message {seq}: read returned the value 0"));
        }
        let posted = self.posted.load(Ordering::Acquire);
        if v > posted.saturating_sub(seq) {
            return Err(format!(
                "message {seq}: read returned {v}, but only {} more were written \
                 (a value delivered twice?)",
                posted.saturating_sub(seq)
            ));
        }
        Ok(Received {
            msgs: v,
            ts_ns: None,
        })
    }

    fn leftover(&self) -> Result<usize, String> {
        self.counter().map(|c| c as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(nonblocking_read: bool) -> Box<dyn Channel> {
        Eventfd
            .open(&OpenCfg {
                nonblocking_read,
                blocking_read: false,
                msg_size: 64,
            })
            .unwrap()
    }

    fn read(ch: &dyn Channel) -> Result<[u8; VALUE], i32> {
        let mut b = [0u8; VALUE];
        // SAFETY: `b` is a valid buffer of the length passed.
        let n = unsafe { libc::read(ch.read_fd(), b.as_mut_ptr().cast(), VALUE) };
        if n < 0 {
            return Err(errno());
        }
        assert_eq!(n, VALUE as isize);
        Ok(b)
    }

    #[test]
    fn fdinfo_parse() {
        let t = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\n\
                 eventfd-count:               2a\neventfd-id: 3\n";
        assert_eq!(fdinfo_count(t), Some(42));
        assert_eq!(fdinfo_count("pos:\t0\n"), None);
    }

    #[test]
    fn writes_coalesce_and_are_counted() {
        let ch = open(true);
        assert_eq!(ch.leftover().unwrap(), 0);
        for seq in 0..3 {
            ch.send(seq, 0).unwrap();
        }
        assert_eq!(ch.leftover().unwrap(), 3);
        let b = read(ch.as_ref()).unwrap();
        let r = ch.check(&b, 0).unwrap();
        assert_eq!(r.msgs, 3);
        assert_eq!(r.ts_ns, None);
        // The same value again would take more messages than were written.
        assert!(ch.check(&b, 1).is_err());
        assert_eq!(ch.leftover().unwrap(), 0);
        assert_eq!(read(ch.as_ref()), Err(libc::EAGAIN));
        ch.send(3, 0).unwrap();
        let b = read(ch.as_ref()).unwrap();
        assert_eq!(ch.check(&b, 3).unwrap().msgs, 1);
        assert!(ch.check(&b[..4], 3).is_err());
        assert!(ch.check(&0u64.to_ne_bytes(), 4).is_err());
    }
}

// SPDX-License-Identifier: GPL-2.0

//! Anonymous pipes (`pipe2(2)`).
//!
//! A message is `msg_size` bytes written with one `write(2)` (at most
//! `PIPE_BUF`, so it is atomic) and read with a read of exactly that size, so
//! every read returns one whole message:
//!
//! | bytes | content |
//! |---|---|
//! | 0..8 | sequence number (little endian) |
//! | 8..16 | writer's `CLOCK_MONOTONIC` ns just before `write(2)` |
//! | 16..24 | `seq ^ ts ^ MAGIC` |
//! | 24.. | `(seq + i) as u8` for byte `i` |

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{Channel, FileType, OpenCfg, Received};
use crate::sys::{errno, os_err};

/// Smallest message: the header.
pub const MIN_MSG: usize = 24;
/// Largest message: `PIPE_BUF` (writes up to it are atomic).
pub const MAX_MSG: usize = 4096;
const MAGIC: u64 = 0x6975_2d62_656e_6368; // "iu-bench"

/// The pipe type.
pub struct Pipe;

impl FileType for Pipe {
    fn name(&self) -> &'static str {
        "pipe"
    }

    fn open(&self, cfg: &OpenCfg) -> Result<Box<dyn Channel>, String> {
        if !(MIN_MSG..=MAX_MSG).contains(&cfg.msg_size) {
            return Err(format!(
                "pipe message size {} is outside {MIN_MSG}..={MAX_MSG}",
                cfg.msg_size
            ));
        }
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` has room for the two fds pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(os_err("pipe2", errno()));
        }
        // SAFETY: pipe2 succeeded: both fds are new and owned by nobody else.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        if cfg.nonblocking_read {
            // The two ends are separate open files: only the reader's
            // becomes non-blocking.
            // SAFETY: `rd` is a valid fd; F_SETFL takes an int flag set.
            if unsafe { libc::fcntl(rd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) } != 0 {
                return Err(os_err("fcntl(O_NONBLOCK)", errno()));
            }
        }
        Ok(Box::new(PipeChannel {
            rd,
            wr,
            size: cfg.msg_size,
        }))
    }
}

struct PipeChannel {
    rd: OwnedFd,
    wr: OwnedFd,
    size: usize,
}

/// Fills `buf` with message `seq` stamped `ts`.
fn encode(buf: &mut [u8], seq: u64, ts: u64) {
    buf[0..8].copy_from_slice(&seq.to_le_bytes());
    buf[8..16].copy_from_slice(&ts.to_le_bytes());
    buf[16..24].copy_from_slice(&(seq ^ ts ^ MAGIC).to_le_bytes());
    for (i, b) in buf[24..].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_add(i as u8);
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl Channel for PipeChannel {
    fn read_fd(&self) -> RawFd {
        self.rd.as_raw_fd()
    }

    fn read_len(&self) -> usize {
        self.size
    }

    fn send(&self, seq: u64, ts_ns: u64) -> Result<(), (i32, String)> {
        let mut buf = [0u8; MAX_MSG];
        let msg = &mut buf[..self.size];
        encode(msg, seq, ts_ns);
        // SAFETY: `msg` is a valid buffer of the length passed.
        let n = unsafe { libc::write(self.wr.as_raw_fd(), msg.as_ptr().cast(), msg.len()) };
        if n < 0 {
            let e = errno();
            return Err((e, os_err("write(pipe)", e)));
        }
        if n as usize != msg.len() {
            return Err((0, format!("short pipe write: {n} of {} bytes", msg.len())));
        }
        Ok(())
    }

    fn check(&self, data: &[u8], seq: u64) -> Result<Received, String> {
        if data.len() != self.size {
            return Err(format!(
                "message {seq}: read returned {} bytes, expected {}",
                data.len(),
                self.size
            ));
        }
        let got = u64_at(data, 0);
        let ts = u64_at(data, 8);
        if got != seq {
            return Err(format!("expected message {seq}, read message {got}"));
        }
        if u64_at(data, 16) != seq ^ ts ^ MAGIC {
            return Err(format!("message {seq}: header check word is wrong"));
        }
        if let Some(i) = data[24..]
            .iter()
            .enumerate()
            .position(|(i, &b)| b != (seq as u8).wrapping_add(i as u8))
        {
            return Err(format!("message {seq}: payload byte {} is wrong", 24 + i));
        }
        Ok(Received {
            msgs: 1,
            ts_ns: Some(ts),
        })
    }

    fn leftover(&self) -> Result<usize, String> {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int into `n`.
        if unsafe { libc::ioctl(self.rd.as_raw_fd(), libc::FIONREAD, &mut n) } != 0 {
            return Err(os_err("ioctl(FIONREAD)", errno()));
        }
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_check_round_trip() {
        let ch = Pipe
            .open(&OpenCfg {
                nonblocking_read: false,
                blocking_read: false,
                msg_size: 64,
            })
            .unwrap();
        let mut b = [0u8; 64];
        encode(&mut b, 7, 12345);
        let r = ch.check(&b, 7).unwrap();
        assert_eq!(r.msgs, 1);
        assert_eq!(r.ts_ns, Some(12345));
        assert!(ch.check(&b, 8).is_err());
        b[40] ^= 1;
        assert!(ch.check(&b, 7).is_err());
        assert!(ch.check(&b[..63], 7).is_err());
    }

    #[test]
    fn send_then_read() {
        let ch = Pipe
            .open(&OpenCfg {
                nonblocking_read: true,
                blocking_read: false,
                msg_size: 32,
            })
            .unwrap();
        ch.send(3, 99).unwrap();
        assert_eq!(ch.leftover().unwrap(), 32);
        let mut b = [0u8; 32];
        // SAFETY: `b` is a valid buffer of the length passed.
        let n = unsafe { libc::read(ch.read_fd(), b.as_mut_ptr().cast(), 32) };
        assert_eq!(n, 32);
        assert_eq!(ch.check(&b, 3).unwrap().ts_ns, Some(99));
        assert_eq!(ch.leftover().unwrap(), 0);
    }
}

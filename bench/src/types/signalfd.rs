// SPDX-License-Identifier: GPL-2.0

//! signalfd (`signalfd(2)`): queued real-time signals read as
//! `struct signalfd_siginfo`.
//!
//! Each channel owns one real-time signal (`SIGRTMIN + n`, distinct per open
//! channel, so the K channels of a batch never take each other's signals)
//! and a signalfd whose mask is that signal alone. The reader thread blocks
//! the signal ([`Channel::reader_init`], which also records the reader's
//! thread id); the main thread blocks every real-time signal before the
//! harness starts a thread ([`FileType::process_init`]), so every thread of
//! the process has them blocked and none is ever delivered (the default
//! action of a real-time signal ends the process) instead of queued.
//!
//! A message is one `rt_tgsigqueueinfo(getpid(), reader_tid, sig, info)`:
//! a thread-directed signal, queued on the reader's private pending set,
//! which signalfd searches before the process-wide one. Real-time signals
//! queue (one `struct sigqueue` each) rather than merge, so every message is
//! read separately, in order. `info` is `SI_QUEUE` with `si_pid` and
//! `si_uid` of the process and `si_value.sival_ptr = seq`: the full sequence
//! number, whose low 32 bits are `si_int` (the union's first member). A read
//! is one 128-byte `struct signalfd_siginfo`, exactly one signal. The
//! siginfo has no room for the send time besides the value: as for eventfd,
//! the writer records it in shared memory indexed by sequence number
//! ([`crate::pace::Shared::record_ts`]) and [`Channel::check`] returns
//! `ts_ns: None`.
//!
//! Queued signals are bounded by `RLIMIT_SIGPENDING`, counted per user: a
//! writer that sends more than the limit gets `EAGAIN`. Each channel keeps at
//! most a window of signals queued and not yet read ([`WINDOW_MAX`], and at
//! most half the limit spread over every real-time signal the process may
//! use); a writer at the window waits (futex) until the reader has read half
//! of it, as a writer of a full pipe waits. Paced kinds have one signal per
//! channel queued; only throughput reaches the window.
//!
//! Integrity: every read must be 128 bytes, the channel's signal, `SI_QUEUE`
//! from this process and user, with value (and `si_int`) the next sequence
//! number; at the end no signal may be left queued for the reader
//! ([`Channel::reader_end`] counts them with `sigtimedwait`) and the reader
//! must have read every signal the writer queued.
//!
//! io-wq (`IOSQE_ASYNC`) is skipped: a signalfd read dequeues from the
//! calling task's own pending set and the process-wide one. With
//! `IOSQE_ASYNC` every attempt at the read runs in an io-wq worker (after a
//! poll wake-up, `io_req_task_submit()` queues a `REQ_F_FORCE_ASYNC` request
//! to io-wq again), which is not the reader thread the signals are directed
//! at: the read never completes (every such case hangs on a stock 6.18).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use super::{Channel, FileType, OpenCfg, Received};
use crate::case::{Kind, Method, Mode};
use crate::sys::{errno, futex_wait, futex_wake, os_err};

/// `sizeof(struct signalfd_siginfo)`: the size of every read.
const MSG: usize = 128;
/// Byte offsets in `struct signalfd_siginfo` (include/uapi/linux/signalfd.h).
const SSI_SIGNO: usize = 0;
const SSI_ERRNO: usize = 4;
const SSI_CODE: usize = 8;
const SSI_PID: usize = 12;
const SSI_UID: usize = 16;
const SSI_INT: usize = 44;
const SSI_PTR: usize = 48;
/// Most signals of one channel queued and not yet read.
pub const WINDOW_MAX: u64 = 256;

/// Why the io-wq method is skipped (see the README).
const IOWQ_SKIP: &str = "an io-wq worker's signalfd read dequeues from the worker's own pending \
     set and the process-wide one, never from the reader thread's, which the signals are \
     directed at: the read would never complete (README, signalfd)";

/// `siginfo_t` (128 bytes) as filled for `SI_QUEUE` on x86_64: the
/// `_sifields` union starts at byte 16, its `_rt` member is `si_pid`,
/// `si_uid` and `si_value`.
#[repr(C)]
struct QueueInfo {
    signo: i32,
    errno: i32,
    code: i32,
    _pad: i32,
    pid: i32,
    uid: u32,
    /// `union sigval`: `sival_ptr`, whose low half is `sival_int`.
    value: u64,
    _rest: [u64; 12],
}

/// The real-time signals the process may use (glibc keeps the first two).
fn rt_signals() -> std::ops::RangeInclusive<i32> {
    libc::SIGRTMIN()..=libc::SIGRTMAX()
}

/// How many channels can be open at once: one signal each.
fn signal_count() -> usize {
    rt_signals().count()
}

/// Signals of open channels (bit `n`: signal `n`).
static IN_USE: Mutex<u128> = Mutex::new(0);

/// A real-time signal owned by one channel, given back on drop.
struct Signal(i32);

impl Signal {
    fn take() -> Result<Signal, String> {
        let mut used = IN_USE.lock().unwrap_or_else(|e| e.into_inner());
        let sig = rt_signals()
            .find(|&s| *used & (1u128 << s) == 0)
            .ok_or_else(|| {
                format!(
                    "all {} real-time signals are in use: a signalfd channel needs its own",
                    signal_count()
                )
            })?;
        *used |= 1u128 << sig;
        Ok(Signal(sig))
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        *IN_USE.lock().unwrap_or_else(|e| e.into_inner()) &= !(1u128 << self.0);
    }
}

/// The set of `sigs`.
fn sigset(sigs: impl IntoIterator<Item = i32>) -> libc::sigset_t {
    // SAFETY: sigset_t is plain old data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for s in sigs {
        // SAFETY: as above; `s` is a valid signal number (1..=64).
        unsafe { libc::sigaddset(&mut set, s) };
    }
    set
}

/// Blocks `sigs` in the calling thread.
fn block(sigs: impl IntoIterator<Item = i32>) -> Result<(), String> {
    let set = sigset(sigs);
    // SAFETY: `set` is a valid sigset_t; the old mask is not requested.
    let e = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if e != 0 {
        return Err(os_err("pthread_sigmask", e));
    }
    Ok(())
}

/// `RLIMIT_SIGPENDING`'s soft limit (`u64::MAX`: unlimited).
fn sigpending_limit() -> Result<u64, String> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_SIGPENDING, &mut r) } != 0 {
        return Err(os_err("getrlimit(RLIMIT_SIGPENDING)", errno()));
    }
    Ok(if r.rlim_cur == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        r.rlim_cur
    })
}

/// A channel's window for a `RLIMIT_SIGPENDING` of `limit` when `signals`
/// channels may be open: half the limit (the rest for the user's other
/// processes) spread over them, at most [`WINDOW_MAX`]; 0 if not even one
/// signal each fits.
fn window_for(limit: u64, signals: usize) -> u64 {
    (limit / 2 / signals.max(1) as u64).min(WINDOW_MAX)
}

/// A new signalfd for `sig` alone.
fn new_signalfd(sig: i32, nonblock: bool) -> Result<OwnedFd, String> {
    let set = sigset([sig]);
    let mut flags = libc::SFD_CLOEXEC;
    if nonblock {
        flags |= libc::SFD_NONBLOCK;
    }
    // SAFETY: `set` is a valid sigset_t; -1 asks for a new fd.
    let fd = unsafe { libc::signalfd(-1, &set, flags) };
    if fd < 0 {
        let e = errno();
        let why = if e == libc::ENOSYS {
            ": the kernel has no signalfd (CONFIG_SIGNALFD=n) or a filter hides it"
        } else {
            ""
        };
        return Err(format!("{}{why}", os_err("signalfd", e)));
    }
    // SAFETY: signalfd succeeded: the fd is new and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The signalfd type.
pub struct Signalfd;

impl FileType for Signalfd {
    fn name(&self) -> &'static str {
        "signalfd"
    }

    fn unavailable(&self) -> Option<String> {
        static PROBE: OnceLock<Option<String>> = OnceLock::new();
        PROBE
            .get_or_init(|| {
                let n = signal_count();
                if n == 0 {
                    return Some("the C library leaves no real-time signal free".into());
                }
                let limit = match sigpending_limit() {
                    Ok(l) => l,
                    Err(e) => return Some(e),
                };
                if window_for(limit, n) == 0 {
                    return Some(format!(
                        "RLIMIT_SIGPENDING is {limit}: too low to queue a signal on each of \
                         {n} channels within half of it"
                    ));
                }
                new_signalfd(libc::SIGRTMIN(), true).err()
            })
            .clone()
    }

    fn process_init(&self) -> Result<(), String> {
        block(rt_signals())
    }

    fn max_channels(&self) -> Option<(usize, &'static str)> {
        Some((
            signal_count(),
            "each signalfd channel needs its own real-time signal",
        ))
    }

    fn skip(&self, _kind: Kind, _mode: Mode, method: Method) -> Option<String> {
        (method == Method::Iowq).then(|| IOWQ_SKIP.to_string())
    }

    fn note(&self) -> Option<&'static str> {
        Some(
            "A message is one real-time signal queued to the reader thread with \
             `rt_tgsigqueueinfo(2)` (thread-directed, `SI_QUEUE`, the sequence number in \
             `si_value`/`si_int`); the reader blocks the signal and reads one 128-byte \
             `struct signalfd_siginfo` per read from a signalfd for that signal alone (each \
             file of a batch has its own signal). The siginfo carries no send time: the writer \
             records it in shared memory, indexed by sequence number, just before the system \
             call. Queued signals count against `RLIMIT_SIGPENDING`: in throughput cases the \
             writer keeps at most a window of signals unread per file (256, less under a low \
             limit) and waits, like a writer of a full pipe, until half of it has been read. \
             The `iowq` method is skipped: an io-wq worker's signalfd read only sees its own \
             and the process-wide pending signals, never the reader thread's.",
        )
    }

    fn open(&self, cfg: &OpenCfg) -> Result<Box<dyn Channel>, String> {
        let limit = sigpending_limit()?;
        let window = window_for(limit, signal_count());
        if window == 0 {
            return Err(format!(
                "RLIMIT_SIGPENDING is {limit}: too low for a signalfd channel"
            ));
        }
        let sig = Signal::take()?;
        let fd = new_signalfd(sig.0, cfg.nonblocking_read)?;
        Ok(Box::new(SignalfdChannel {
            fd,
            sig,
            // SAFETY: getpid and getuid cannot fail.
            pid: unsafe { libc::getpid() },
            // SAFETY: as above.
            uid: unsafe { libc::getuid() },
            reader: AtomicI32::new(0),
            window,
            posted: AtomicU64::new(0),
            consumed: AtomicU64::new(0),
            wait_for: AtomicU64::new(NOT_WAITING),
            progress: AtomicU32::new(0),
            aborted: AtomicBool::new(false),
            left: AtomicU64::new(0),
        }))
    }
}

/// `wait_for` when the writer is not waiting.
const NOT_WAITING: u64 = u64::MAX;

struct SignalfdChannel {
    fd: OwnedFd,
    sig: Signal,
    pid: i32,
    uid: u32,
    /// The reader's thread id, set by `reader_init` (before the reader
    /// tells the writer anything, so the writer always sees it).
    reader: AtomicI32,
    /// Most signals queued and not yet read.
    window: u64,
    /// Signals the writer has queued (counted just before the system call).
    posted: AtomicU64,
    /// Signals the reader has read and accepted.
    consumed: AtomicU64,
    /// While the writer waits for room: the most signals still unread at
    /// which it may go on.
    wait_for: AtomicU64,
    /// Futex word the writer sleeps on; bumped by the reader to wake it.
    progress: AtomicU32,
    /// Set by `abort`.
    aborted: AtomicBool,
    /// Signals `reader_end` found still queued for the reader.
    left: AtomicU64,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl SignalfdChannel {
    /// Signals queued and not yet read.
    fn unread(&self) -> u64 {
        self.posted
            .load(Ordering::SeqCst)
            .saturating_sub(self.consumed.load(Ordering::SeqCst))
    }

    /// Writer: waits until at most `target` signals are unread.
    fn wait_room(&self, target: u64) -> Result<(), (i32, String)> {
        loop {
            // Dekker with `check`: we publish `wait_for`, then read
            // `consumed`; the reader bumps `consumed`, then reads
            // `wait_for`. `progress` is read before the test, so a wake
            // between the test and the sleep makes the sleep return.
            self.wait_for.store(target, Ordering::SeqCst);
            let v = self.progress.load(Ordering::SeqCst);
            let done = self.unread() <= target;
            if !done && !self.aborted.load(Ordering::SeqCst) {
                // Bounded so that an abort is noticed even without a wake.
                futex_wait(&self.progress, v, 100_000_000);
            }
            self.wait_for.store(NOT_WAITING, Ordering::SeqCst);
            if done {
                return Ok(());
            }
            if self.aborted.load(Ordering::SeqCst) {
                return Err((libc::EINTR, "the case was aborted".into()));
            }
        }
    }
}

impl Channel for SignalfdChannel {
    fn read_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn read_len(&self) -> usize {
        MSG
    }

    fn reader_init(&self) -> Result<(), String> {
        block([self.sig.0])?;
        // SAFETY: gettid cannot fail.
        let tid = unsafe { libc::gettid() };
        self.reader.store(tid, Ordering::Release);
        Ok(())
    }

    fn reader_end(&self) {
        let set = sigset([self.sig.0]);
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let mut n = 0;
        // Takes what is still queued for this thread (the case is over).
        // SAFETY: `set` and `zero` are valid; no siginfo is requested.
        while unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) } == self.sig.0 {
            n += 1;
        }
        self.left.store(n, Ordering::SeqCst);
    }

    fn send(&self, seq: u64, _ts_ns: u64) -> Result<(), (i32, String)> {
        if self.aborted.load(Ordering::SeqCst) {
            return Err((libc::EINTR, "the case was aborted".into()));
        }
        let tid = self.reader.load(Ordering::Acquire);
        if tid == 0 {
            return Err((0, "no reader thread: reader_init has not run".into()));
        }
        if self.unread() >= self.window {
            self.wait_room(self.window / 2)?;
        }
        let info = QueueInfo {
            signo: self.sig.0,
            errno: 0,
            code: libc::SI_QUEUE,
            _pad: 0,
            pid: self.pid,
            uid: self.uid,
            value: seq,
            _rest: [0; 12],
        };
        loop {
            self.posted.fetch_add(1, Ordering::SeqCst);
            // SAFETY: `info` is a valid 128-byte siginfo the kernel only
            // reads; tgid and tid name the reader thread of this process.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_rt_tgsigqueueinfo,
                    self.pid,
                    tid,
                    self.sig.0,
                    &info as *const QueueInfo,
                )
            };
            if r == 0 {
                return Ok(());
            }
            let e = errno();
            self.posted.fetch_sub(1, Ordering::SeqCst);
            if e != libc::EAGAIN {
                return Err((e, os_err("rt_tgsigqueueinfo", e)));
            }
            // RLIMIT_SIGPENDING is reached although this channel stays
            // within its share: other signals of this user hold the rest.
            // Go on once the reader has read one of ours, if any is queued.
            let unread = self.unread();
            if unread == 0 {
                return Err((
                    e,
                    format!(
                        "{}: RLIMIT_SIGPENDING is used up by other signals queued for this user",
                        os_err("rt_tgsigqueueinfo", e)
                    ),
                ));
            }
            self.wait_room(unread - 1)?;
        }
    }

    fn check(&self, data: &[u8], seq: u64) -> Result<Received, String> {
        if data.len() != MSG {
            return Err(format!(
                "message {seq}: read returned {} bytes, expected {MSG}",
                data.len()
            ));
        }
        let signo = u32_at(data, SSI_SIGNO);
        if signo != self.sig.0 as u32 {
            return Err(format!(
                "message {seq}: signal {signo}, expected {}",
                self.sig.0
            ));
        }
        let (errno, code) = (u32_at(data, SSI_ERRNO), u32_at(data, SSI_CODE) as i32);
        let (pid, uid) = (u32_at(data, SSI_PID), u32_at(data, SSI_UID));
        if code != libc::SI_QUEUE || errno != 0 || pid != self.pid as u32 || uid != self.uid {
            return Err(format!(
                "message {seq}: si_code {code}, si_errno {errno}, from pid {pid} uid {uid}: \
                 not the writer's SI_QUEUE signal (pid {}, uid {})",
                self.pid, self.uid
            ));
        }
        let got = u64_at(data, SSI_PTR);
        if got != seq {
            return Err(format!("expected message {seq}, read message {got}"));
        }
        let int = u32_at(data, SSI_INT);
        if int != seq as u32 {
            return Err(format!(
                "message {seq}: si_int {int:#x} is not the low half of the value {got:#x}"
            ));
        }
        self.consumed.fetch_add(1, Ordering::SeqCst);
        let target = self.wait_for.load(Ordering::SeqCst);
        if target != NOT_WAITING && self.unread() <= target {
            self.progress.fetch_add(1, Ordering::SeqCst);
            futex_wake(&self.progress);
        }
        Ok(Received {
            msgs: 1,
            ts_ns: None,
        })
    }

    fn leftover(&self) -> Result<usize, String> {
        let left = self.left.load(Ordering::SeqCst);
        let unread = self.unread();
        if left != 0 || unread != 0 {
            return Err(format!(
                "{left} signals left queued for the reader; {unread} queued by the writer \
                 and never read"
            ));
        }
        Ok(0)
    }

    fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
        self.progress.fetch_add(1, Ordering::SeqCst);
        futex_wake(&self.progress);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn abi() {
        assert_eq!(std::mem::size_of::<QueueInfo>(), 128);
        assert_eq!(std::mem::size_of::<libc::signalfd_siginfo>(), MSG);
        use std::mem::offset_of;
        type S = libc::signalfd_siginfo;
        assert_eq!(offset_of!(S, ssi_signo), SSI_SIGNO);
        assert_eq!(offset_of!(S, ssi_errno), SSI_ERRNO);
        assert_eq!(offset_of!(S, ssi_code), SSI_CODE);
        assert_eq!(offset_of!(S, ssi_pid), SSI_PID);
        assert_eq!(offset_of!(S, ssi_uid), SSI_UID);
        assert_eq!(offset_of!(S, ssi_int), SSI_INT);
        assert_eq!(offset_of!(S, ssi_ptr), SSI_PTR);
        assert_eq!(offset_of!(QueueInfo, pid), 16);
        assert_eq!(offset_of!(QueueInfo, value), 24);
        assert!(signal_count() >= 8, "{:?}", rt_signals());
    }

    #[test]
    fn window_respects_the_limit() {
        assert_eq!(window_for(u64::MAX, 31), WINDOW_MAX);
        assert_eq!(window_for(96_362, 31), WINDOW_MAX);
        // 512 MiB guest: max_threads / 2 = 2048.
        assert_eq!(window_for(2048, 31), 33);
        assert_eq!(window_for(61, 31), 0);
        for limit in [62, 100, 2048, 100_000] {
            assert!(window_for(limit, 31) * 31 <= limit / 2);
        }
    }

    #[test]
    fn signals_are_distinct_per_channel() {
        let sigs: Vec<Signal> = (0..3).map(|_| Signal::take().unwrap()).collect();
        assert!(sigs[0].0 != sigs[1].0 && sigs[1].0 != sigs[2].0 && sigs[0].0 != sigs[2].0);
        assert!(sigs.iter().all(|s| rt_signals().contains(&s.0)));
        let freed = sigs[1].0;
        drop(sigs);
        // Free again (other tests may hold some).
        assert_eq!(*IN_USE.lock().unwrap() & (1u128 << freed), 0);
    }

    fn open(nonblocking_read: bool) -> Option<Arc<Box<dyn Channel>>> {
        if let Some(why) = Signalfd.unavailable() {
            eprintln!("signalfd test skipped: {why}");
            return None;
        }
        let ch = Signalfd
            .open(&OpenCfg {
                nonblocking_read,
                blocking_read: !nonblocking_read,
                msg_size: 64,
            })
            .unwrap();
        Some(Arc::new(ch))
    }

    fn read(ch: &dyn Channel) -> Result<[u8; MSG], i32> {
        let mut b = [0u8; MSG];
        // SAFETY: `b` is a valid buffer of the length passed.
        let n = unsafe { libc::read(ch.read_fd(), b.as_mut_ptr().cast(), MSG) };
        if n < 0 {
            return Err(errno());
        }
        assert_eq!(n, MSG as isize);
        Ok(b)
    }

    /// This thread is the reader and sends to itself: thread-directed
    /// signals queue on it, in order, one per read, and a read finds only
    /// its own channel's signal.
    #[test]
    fn queued_signals_round_trip_in_order() {
        let (Some(a), Some(b)) = (open(true), open(true)) else {
            return;
        };
        a.reader_init().unwrap();
        b.reader_init().unwrap();
        let big = (7u64 << 32) | 5;
        for seq in [0, 1, big] {
            a.send(seq, 0).unwrap();
        }
        b.send(0, 0).unwrap();
        let m0 = read(a.as_ref().as_ref()).unwrap();
        let r = a.check(&m0, 0).unwrap();
        assert_eq!((r.msgs, r.ts_ns), (1, None));
        // Message 0 again where 1 is expected (delivered twice).
        assert!(a.check(&m0, 1).is_err());
        let m1 = read(a.as_ref().as_ref()).unwrap();
        assert!(a.check(&m1[..64], 1).is_err());
        // Message 1 where 2 is expected (one lost).
        let e = a.check(&m1, 2).unwrap_err();
        assert!(e.contains("expected message 2, read message 1"), "{e}");
        a.check(&m1, 1).unwrap();
        let m2 = read(a.as_ref().as_ref()).unwrap();
        a.check(&m2, big).unwrap();
        // b's signal is not a's.
        assert_eq!(read(a.as_ref().as_ref()), Err(libc::EAGAIN));
        let mb = read(b.as_ref().as_ref()).unwrap();
        assert!(a.check(&mb, big + 1).unwrap_err().contains("signal"));
        b.check(&mb, 0).unwrap();
        // A corrupted si_int.
        let mut bad = mb;
        bad[SSI_INT] ^= 1;
        assert!(b.check(&bad, 0).is_err());
        for ch in [&a, &b] {
            ch.reader_end();
            assert_eq!(ch.leftover(), Ok(0));
        }
    }

    #[test]
    fn leftovers_are_counted() {
        let Some(ch) = open(true) else { return };
        ch.reader_init().unwrap();
        ch.send(0, 0).unwrap();
        ch.send(1, 0).unwrap();
        ch.reader_end();
        let e = ch.leftover().unwrap_err();
        assert!(e.starts_with("2 signals left queued"), "{e}");
        assert_eq!(read(ch.as_ref().as_ref()), Err(libc::EAGAIN));
    }

    /// A writer in another thread stops at the window and goes on once the
    /// reader (this thread, in blocking reads) has read half of it.
    #[test]
    fn the_writer_waits_at_the_window() {
        let Some(ch) = open(false) else { return };
        ch.reader_init().unwrap();
        let n = 3 * WINDOW_MAX + 1;
        let w = {
            let ch = ch.clone();
            std::thread::spawn(move || (0..n).try_for_each(|seq| ch.send(seq, 0)))
        };
        // Let the writer run into the window.
        std::thread::sleep(std::time::Duration::from_millis(50));
        for seq in 0..n {
            let m = read(ch.as_ref().as_ref()).unwrap();
            ch.check(&m, seq).unwrap();
        }
        w.join().unwrap().unwrap();
        ch.reader_end();
        assert_eq!(ch.leftover(), Ok(0));
    }

    #[test]
    fn abort_releases_a_writer_at_the_window() {
        let Some(ch) = open(true) else { return };
        ch.reader_init().unwrap();
        let w = {
            let ch = ch.clone();
            std::thread::spawn(move || (0..WINDOW_MAX + 1).try_for_each(|seq| ch.send(seq, 0)))
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!w.is_finished());
        ch.abort();
        let r = w.join().unwrap();
        assert_eq!(r.map_err(|(e, _)| e), Err(libc::EINTR));
        ch.reader_end();
    }
}

// SPDX-License-Identifier: GPL-2.0

//! What a benchmark case is: a file type, a kind of measurement, a reader
//! mode and a method, and the settings every case shares.

use serde::Serialize;

use crate::ring::{SETUP_DEFER_TASKRUN, SETUP_INLINE_READ, SETUP_SINGLE_ISSUER, SQE_ASYNC};
use crate::types::FileType;

/// How the reader reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Plain ring with `IORING_SETUP_INLINE_READ`: the writer completes.
    Inline,
    /// Plain ring, stock path: poll armed, wake-up, task_work in the reader.
    Poll,
    /// `DEFER_TASKRUN | SINGLE_ISSUER` ring, stock path.
    Defer,
    /// `DEFER_TASKRUN | SINGLE_ISSUER | INLINE_READ` ring: the writer copies,
    /// the CQE is posted when the reader next runs its task work.
    InlineDefer,
    /// Plain ring, `IOSQE_ASYNC`: io-wq issues the read (for pollable
    /// files it only arms poll from the worker).
    Iowq,
    /// A thread blocked in `read(2)`.
    Blocking,
    /// `epoll_wait(2)` then `read(2)` on a non-blocking fd.
    Epoll,
}

impl Method {
    /// Every method, in report order.
    pub const ALL: [Method; 7] = [
        Method::Inline,
        Method::Poll,
        Method::Defer,
        Method::InlineDefer,
        Method::Iowq,
        Method::Blocking,
        Method::Epoll,
    ];

    /// Command-line and report name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Inline => "inline",
            Method::Poll => "poll",
            Method::Defer => "defer",
            Method::InlineDefer => "inline-defer",
            Method::Iowq => "iowq",
            Method::Blocking => "blocking",
            Method::Epoll => "epoll",
        }
    }

    /// One line for the report's legend.
    pub fn describe(self) -> &'static str {
        match self {
            Method::Inline => "plain ring with IORING_SETUP_INLINE_READ: the writer's write(2) copies the data and posts the CQE",
            Method::Poll => "plain ring, stock path: poll armed on -EAGAIN, the wake-up queues task_work that makes the reader read (the baseline of every ratio)",
            Method::Defer => "DEFER_TASKRUN|SINGLE_ISSUER ring, stock path",
            Method::InlineDefer => "DEFER_TASKRUN|SINGLE_ISSUER ring with IORING_SETUP_INLINE_READ: the writer copies, the CQE is posted when the reader next runs its task work",
            Method::Iowq => "plain ring, IOSQE_ASYNC: for pollable files io-wq only arms poll, the read itself takes the stock poll path",
            Method::Blocking => "a thread blocked in read(2)",
            Method::Epoll => "epoll_wait(2) then read(2) on a non-blocking fd",
        }
    }

    /// Parses a command-line name.
    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Whether the method reads through an io_uring.
    pub fn uses_ring(self) -> bool {
        !matches!(self, Method::Blocking | Method::Epoll)
    }

    /// Whether the ring opts in to inline reads.
    pub fn is_inline(self) -> bool {
        matches!(self, Method::Inline | Method::InlineDefer)
    }

    /// Whether the ring is a `DEFER_TASKRUN` ring.
    pub fn is_defer(self) -> bool {
        matches!(self, Method::Defer | Method::InlineDefer)
    }

    /// `io_uring_setup` flags for ring methods.
    pub fn setup_flags(self) -> u32 {
        let mut f = 0;
        if self.is_inline() {
            f |= SETUP_INLINE_READ;
        }
        if self.is_defer() {
            f |= SETUP_DEFER_TASKRUN | SETUP_SINGLE_ISSUER;
        }
        f
    }

    /// SQE flags of the reads.
    pub fn sqe_flags(self) -> u8 {
        if self == Method::Iowq {
            SQE_ASYNC
        } else {
            0
        }
    }
}

/// How the reader waits for a completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Spins on the CQ in user space without system calls (on
    /// `DEFER_TASKRUN` rings, which only post CQEs when the reader enters the
    /// kernel, it spins on `io_uring_enter(GETEVENTS, min_complete=0)`).
    Busy,
    /// Sleeps in `io_uring_enter(GETEVENTS, min_complete=K)` (blocking and
    /// epoll readers sleep in `read(2)` and `epoll_wait(2)`).
    Sleep,
}

impl Mode {
    /// Both modes, in report order.
    pub const ALL: [Mode; 2] = [Mode::Busy, Mode::Sleep];

    /// Command-line and report name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Busy => "busy",
            Mode::Sleep => "sleep",
        }
    }

    /// Parses a command-line name.
    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// What a case measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// One message in flight: the writer waits until the reader has armed
    /// its next read, then writes; one-way latency, per-message costs.
    Latency,
    /// The writer writes as fast as the file takes it; the reader re-arms
    /// immediately: messages per second, per-message costs (an eventfd's
    /// reads coalesce: messages are the sum of the values read).
    Throughput,
    /// K channels: per round the writer writes one message to each, the
    /// reader waits for all K (`min_complete = K`).
    Batch,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 3] = [Kind::Latency, Kind::Throughput, Kind::Batch];

    /// Command-line and report name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Latency => "latency",
            Kind::Throughput => "throughput",
            Kind::Batch => "batch",
        }
    }

    /// Parses a command-line name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Whether the writer waits for the reader to re-arm before each round.
    pub fn paced(self) -> bool {
        self != Kind::Throughput
    }
}

/// One benchmark case.
#[derive(Clone, Copy)]
pub struct Case {
    /// The file type.
    pub ty: &'static dyn FileType,
    /// What is measured.
    pub kind: Kind,
    /// How the reader waits.
    pub mode: Mode,
    /// How the reader reads.
    pub method: Method,
}

impl Case {
    /// Whether the combination means anything: blocking and epoll readers
    /// always sleep, and a blocking reader cannot wait for K files at once.
    pub fn applicable(kind: Kind, mode: Mode, method: Method) -> bool {
        match method {
            Method::Blocking => mode == Mode::Sleep && kind != Kind::Batch,
            Method::Epoll => mode == Mode::Sleep,
            _ => true,
        }
    }

    /// `type kind mode method`, for progress lines.
    pub fn label(&self) -> String {
        format!(
            "{} {} {} {}",
            self.ty.name(),
            self.kind.name(),
            self.mode.name(),
            self.method.name()
        )
    }
}

/// Every applicable case for the selections, in report order.
pub fn cases(
    types: &[&'static dyn FileType],
    kinds: &[Kind],
    modes: &[Mode],
    methods: &[Method],
) -> Vec<Case> {
    let mut v = Vec::new();
    for &ty in types {
        for kind in Kind::ALL.into_iter().filter(|k| kinds.contains(k)) {
            for mode in Mode::ALL.into_iter().filter(|m| modes.contains(m)) {
                for method in Method::ALL.into_iter().filter(|m| methods.contains(m)) {
                    if Case::applicable(kind, mode, method) {
                        v.push(Case {
                            ty,
                            kind,
                            mode,
                            method,
                        });
                    }
                }
            }
        }
    }
    v
}

/// Settings shared by every case.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    /// Messages measured per case (after the warm-up), at most.
    pub messages: u64,
    /// Time budget of the writer per case, in seconds.
    pub time_s: f64,
    /// Messages at the start of a case left out of every figure.
    pub warmup: u64,
    /// K of the batch case.
    pub batch: usize,
    /// Message size of types with a free-form payload.
    pub msg_size: usize,
    /// Pin the writer and the reader to two different CPUs.
    pub pin: bool,
    /// A case that has not finished after this long has failed (hung).
    pub case_timeout_s: f64,
    /// Smoke run: correctness only.
    pub smoke: bool,
    /// Test of the harness: the writer leaves out message N of channel 0,
    /// so every case must fail (wrong sequence) or time out (hang).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inject_loss: Option<u64>,
}

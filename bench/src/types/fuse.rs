// SPDX-License-Identifier: GPL-2.0

//! FUSE (`/dev/fuse`): synchronous requests of a mounted file system served
//! by a daemon in user space. The writer is a task using the mount, the
//! reader is the daemon.
//!
//! Each channel is one FUSE connection of its own: `/dev/fuse` opened
//! (`O_NONBLOCK` for the epoll reader only), a fresh directory under the
//! temporary directory (`mkdtemp`, `iub-fuse.XXXXXX`) and `mount(2)` of type
//! `fuse` there, read-only, `nosuid`, `nodev`, with
//! `fd=N,rootmode=40000,user_id=0,group_id=0` (root only).
//! [`FileType::open`] then answers `FUSE_INIT` itself, with `read(2)` and
//! `write(2)`: protocol 7.31 (or the kernel's own minor version if older),
//! `max_write` 4096 and no flags at all, in particular neither
//! `FUSE_ASYNC_READ` nor `FUSE_ASYNC_DIO`, so every request below is
//! synchronous: the writer's system call sleeps until the reader answers.
//!
//! A read of the device must offer at least `FUSE_MIN_READ_BUFFER` (8192)
//! bytes, and at least `sizeof(fuse_in_header) + sizeof(fuse_write_in) +
//! max_write` (4176): the kernel fails a smaller one with `EINVAL`. Every
//! read is [`READ_LEN`] = 8 KiB (two pages) and returns one whole request.
//!
//! Two message flavours, two types sharing this code:
//!
//! - `fuse`: message `seq` is `fstatat(root, "m<seq>", AT_SYMLINK_NOFOLLOW)`
//!   relative to an `O_PATH` fd of the mount's root: a name never looked up
//!   before, so the kernel sends one `FUSE_LOOKUP` (in the root, node 1)
//!   carrying it. The reader checks the request (`fuse_in_header`: length,
//!   opcode, node, a non-zero unique; the name must be exactly `m<seq>`)
//!   and answers it with a bare `fuse_out_header` for its unique, error
//!   `-ENOENT` ([`Channel::reply`]); the writer's `stat` fails with `ENOENT`,
//!   which is its success. An error reply caches no negative entry, so every
//!   `stat` is a request (and the names never repeat anyway).
//! - `fuse-read`: [`FileType::open`] also opens one file, `f` in the root
//!   (answering its `FUSE_LOOKUP`, a regular file of 1 TiB, and its
//!   `FUSE_OPEN` with `FOPEN_DIRECT_IO | FOPEN_NOFLUSH`). Message `seq` is
//!   `pread(2)` of [`CHUNK`] = 64 bytes at offset `seq * 64`: with direct
//!   I/O there is no page cache, so every `pread` is one `FUSE_READ` whose
//!   offset carries the sequence number. The reader checks the request (file
//!   handle, offset, size) and answers with 64 bytes stamped with `seq` and
//!   the offset, which the writer's `pread` returns and the writer checks.
//!
//! Neither a `LOOKUP` nor a `READ` can carry the writer's timestamp:
//! [`Channel::check`] returns `ts_ns: None` and the harness uses the time
//! the writer recorded just before its system call.
//!
//! Housekeeping: the kernel may send requests of its own on the connection
//! (`FORGET`, `BATCH_FORGET` and `INTERRUPT` need no answer; a `GETATTR` of
//! the root or of `f` is answered with their attributes; `RELEASE` with
//! success; anything else with `-ENOSYS`). [`Channel::housekeeping`]
//! answers them and the reader reads again; none comes in a normal run.
//!
//! A writer waiting for an answer is not released by a signal (the kernel
//! then sends `FUSE_INTERRUPT` and keeps waiting, killably only), so
//! [`Channel::abort`] aborts the connection: `umount2(MNT_FORCE)` calls
//! FUSE's `umount_begin`, which is `fuse_abort_conn()` (the umount itself
//! then fails with `EBUSY` while the writer is still in its system call,
//! which does not matter). That ends every request with `ECONNABORTED`
//! (later ones: `ENOTCONN`) and fails the reader's reads with `ENODEV`; the
//! writer's `send` returns `EINTR`. It needs neither `/sys` nor the
//! `fusectl` file system (`/sys/fs/fuse/connections/N/abort`), which the
//! test VM does not mount. On drop the connection is aborted the same way,
//! then the mount detached (`MNT_DETACH`), the directory removed and the
//! device closed: a failed case leaves nothing mounted that a later case
//! could trip on.
//!
//! Integrity: every message read must be the request of exactly the next
//! message (a lost or repeated `stat`/`pread` names another file or
//! offset); every `stat` must fail with `ENOENT` and every `pread` return
//! the 64 bytes the reader stamped for it; at the end no request may be
//! left queued on the device (`poll`: `POLLIN`), nor the connection be
//! aborted (`POLLERR`).
//!
//! The batch kind is skipped, as for userfaultfd: a request blocks the one
//! writer thread until it is answered.

use std::ffi::{CStr, CString};
use std::io::Write as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{Channel, FileType, OpenCfg, Received};
use crate::case::{Kind, Method, Mode};
use crate::sys::{errno, os_err};

// include/uapi/linux/fuse.h
const FUSE_KERNEL_VERSION: u32 = 7;
/// The minor version the replies are laid out for: every structure used
/// here has had its present size since well before 7.31.
const FUSE_MINOR: u32 = 31;
const FUSE_LOOKUP: u32 = 1;
const FUSE_FORGET: u32 = 2;
const FUSE_GETATTR: u32 = 3;
const FUSE_OPEN: u32 = 14;
const FUSE_READ: u32 = 15;
const FUSE_RELEASE: u32 = 18;
const FUSE_INIT: u32 = 26;
const FUSE_INTERRUPT: u32 = 36;
const FUSE_BATCH_FORGET: u32 = 42;
const FUSE_ROOT_ID: u64 = 1;
const FOPEN_DIRECT_IO: u32 = 1 << 0;
const FOPEN_NOFLUSH: u32 = 1 << 5;

/// `sizeof(struct fuse_in_header)`.
const IN_HEADER: usize = 40;
/// `sizeof(struct fuse_out_header)`.
const OUT_HEADER: usize = 16;
/// `sizeof(struct fuse_attr)`.
const ATTR: usize = 88;
/// `sizeof(struct fuse_entry_out)`.
const ENTRY_OUT: usize = 40 + ATTR;
/// `sizeof(struct fuse_attr_out)`.
const ATTR_OUT: usize = 16 + ATTR;
/// `sizeof(struct fuse_open_out)`.
const OPEN_OUT: usize = 16;
/// `sizeof(struct fuse_read_in)`.
const READ_IN: usize = 40;
/// `sizeof(struct fuse_init_out)` (7.23 on).
const INIT_OUT: usize = 64;
/// The part of `struct fuse_init_in` read: major, minor, max_readahead,
/// flags.
const INIT_IN_MIN: usize = 16;

/// `max_write` announced in the `FUSE_INIT` reply.
const MAX_WRITE: u32 = 4096;
/// Every read of the device: `max(FUSE_MIN_READ_BUFFER = 8192,
/// sizeof(fuse_in_header) + sizeof(fuse_write_in) + MAX_WRITE = 4176)`.
pub const READ_LEN: usize = 8192;
/// The read of `FUSE_INIT`, before `max_write` is known: large enough for
/// any kernel's minimum.
const INIT_READ_LEN: usize = 1 << 20;

/// Node id and name of the `fuse-read` file.
const FILE_ID: u64 = 2;
const FILE_NAME: &CStr = c"f";
/// Its size: far more than any run reads.
const FILE_SIZE: u64 = 1 << 40;
/// The file handle of its `FUSE_OPEN` reply.
const FH: u64 = 0x6975_6675_7365_6668; // "iufusefh"
/// Bytes per `pread`, and the offset step per message.
pub const CHUNK: usize = 64;
const MAGIC: u64 = 0x6975_6675_7365_2d72; // "iufuse-r"
/// Entry and attribute validity in replies (seconds): no revalidation.
const VALID_S: u64 = 86_400;
/// How long set-up may wait for the kernel's requests.
const SETUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the batch kind is skipped (see the README).
const BATCH_SKIP: &str = "batch needs K requests outstanding, but a FUSE request blocks the one \
     writer thread until it is answered: it would need K writer threads (README, fuse)";

/// Which system call a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    /// `fstatat` of a new name: one `FUSE_LOOKUP`, answered `-ENOENT`.
    Stat,
    /// `pread` of 64 bytes of a direct-I/O file: one `FUSE_READ`.
    Read,
}

impl Flavour {
    /// The opcode of a message.
    fn opcode(self) -> u32 {
        match self {
            Flavour::Stat => FUSE_LOOKUP,
            Flavour::Read => FUSE_READ,
        }
    }
}

/// The `fuse` type: a message is a `stat` (`FUSE_LOOKUP`).
pub struct Fuse;

/// The `fuse-read` type: a message is a `pread` (`FUSE_READ`).
pub struct FuseRead;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

/// A request's name, for errors.
fn op_name(op: u32) -> String {
    match op {
        FUSE_LOOKUP => "LOOKUP".into(),
        FUSE_FORGET => "FORGET".into(),
        FUSE_GETATTR => "GETATTR".into(),
        FUSE_OPEN => "OPEN".into(),
        FUSE_READ => "READ".into(),
        FUSE_RELEASE => "RELEASE".into(),
        FUSE_INIT => "INIT".into(),
        FUSE_INTERRUPT => "INTERRUPT".into(),
        FUSE_BATCH_FORGET => "BATCH_FORGET".into(),
        _ => format!("opcode {op}"),
    }
}

/// The fields of `struct fuse_in_header` that are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct InHeader {
    len: u32,
    opcode: u32,
    unique: u64,
    nodeid: u64,
}

/// Parses the header of one request read whole into `data`.
fn parse_header(data: &[u8]) -> Result<InHeader, String> {
    if data.len() < IN_HEADER {
        return Err(format!(
            "read returned {} bytes, less than a fuse_in_header ({IN_HEADER})",
            data.len()
        ));
    }
    let h = InHeader {
        len: u32_at(data, 0),
        opcode: u32_at(data, 4),
        unique: u64_at(data, 8),
        nodeid: u64_at(data, 16),
    };
    if h.len as usize != data.len() {
        return Err(format!(
            "{}: the header says {} bytes, the read returned {}",
            op_name(h.opcode),
            h.len,
            data.len()
        ));
    }
    Ok(h)
}

/// The name a `LOOKUP` (header already parsed) carries: NUL-terminated,
/// exactly the rest of the request.
fn lookup_name(data: &[u8]) -> Result<&[u8], String> {
    match data[IN_HEADER..].split_last() {
        Some((0, name)) if !name.contains(&0) => Ok(name),
        _ => Err(format!(
            "LOOKUP: the name is not one NUL-terminated string ({:?})",
            String::from_utf8_lossy(&data[IN_HEADER..])
        )),
    }
}

/// The name of message `seq` of the `fuse` type (without the NUL).
fn msg_name(seq: u64) -> String {
    format!("m{seq}")
}

/// The 64 bytes of message `seq` of the `fuse-read` type.
fn chunk(seq: u64) -> [u8; CHUNK] {
    let off = seq.wrapping_mul(CHUNK as u64);
    let mut b = [0u8; CHUNK];
    let words = [seq, off, seq ^ off ^ MAGIC, !seq];
    for (i, w) in words.into_iter().enumerate() {
        put64(&mut b, i * 8, w);
    }
    for (i, x) in b[32..].iter_mut().enumerate() {
        *x = (seq as u8).wrapping_add(i as u8);
    }
    b
}

/// Checks that `data` is message `seq` of `flavour`: returns its unique.
fn check_request(flavour: Flavour, data: &[u8], seq: u64) -> Result<u64, String> {
    let h = parse_header(data).map_err(|e| format!("message {seq}: {e}"))?;
    let want_op = flavour.opcode();
    if h.opcode != want_op {
        return Err(format!(
            "message {seq}: {}, expected {}",
            op_name(h.opcode),
            op_name(want_op)
        ));
    }
    if h.unique == 0 {
        return Err(format!(
            "message {seq}: {} with unique 0",
            op_name(h.opcode)
        ));
    }
    match flavour {
        Flavour::Stat => {
            if h.nodeid != FUSE_ROOT_ID {
                return Err(format!(
                    "message {seq}: LOOKUP in node {}, expected the root (1)",
                    h.nodeid
                ));
            }
            let name = lookup_name(data).map_err(|e| format!("message {seq}: {e}"))?;
            let want = msg_name(seq);
            if name != want.as_bytes() {
                return Err(format!(
                    "message {seq}: LOOKUP of {:?}, expected {want:?} (a stat lost or \
                     delivered twice?)",
                    String::from_utf8_lossy(name)
                ));
            }
        }
        Flavour::Read => {
            if h.nodeid != FILE_ID {
                return Err(format!(
                    "message {seq}: READ of node {}, expected the file ({FILE_ID})",
                    h.nodeid
                ));
            }
            if data.len() != IN_HEADER + READ_IN {
                return Err(format!(
                    "message {seq}: READ of {} bytes, expected {}",
                    data.len(),
                    IN_HEADER + READ_IN
                ));
            }
            let a = &data[IN_HEADER..];
            let (fh, off, size) = (u64_at(a, 0), u64_at(a, 8), u32_at(a, 16));
            if fh != FH {
                return Err(format!(
                    "message {seq}: READ with file handle {fh:#x}, not the one opened ({FH:#x})"
                ));
            }
            if size as usize != CHUNK {
                return Err(format!(
                    "message {seq}: READ of {size} bytes, expected {CHUNK}"
                ));
            }
            let want = seq.wrapping_mul(CHUNK as u64);
            if off != want {
                return Err(format!(
                    "message {seq}: READ at offset {off} (message {}), expected {want} (a \
                     pread lost or delivered twice?)",
                    off / CHUNK as u64
                ));
            }
        }
    }
    Ok(h.unique)
}

/// A reply: a `fuse_out_header` for `unique` with `error` (a negative
/// errno, or 0) followed by `body`.
fn reply_bytes(unique: u64, error: i32, body: &[u8]) -> Vec<u8> {
    let len = OUT_HEADER + body.len();
    let mut b = vec![0u8; len];
    put32(&mut b, 0, len as u32);
    put32(&mut b, 4, error as u32);
    put64(&mut b, 8, unique);
    b[OUT_HEADER..].copy_from_slice(body);
    b
}

/// The answer to message request `data` (already checked): the `fuse`
/// type's `-ENOENT`, or the `fuse-read` type's 64 bytes.
fn message_reply(flavour: Flavour, data: &[u8]) -> Vec<u8> {
    let unique = u64_at(data, 8);
    match flavour {
        Flavour::Stat => reply_bytes(unique, -libc::ENOENT, &[]),
        Flavour::Read => {
            let seq = u64_at(&data[IN_HEADER..], 8) / CHUNK as u64;
            reply_bytes(unique, 0, &chunk(seq))
        }
    }
}

/// `struct fuse_attr` of node `ino` into `b`.
fn put_attr(b: &mut [u8], ino: u64) {
    let (mode, nlink, size) = if ino == FUSE_ROOT_ID {
        (libc::S_IFDIR | 0o755, 2, 0)
    } else {
        (libc::S_IFREG | 0o444, 1, FILE_SIZE)
    };
    put64(b, 0, ino);
    put64(b, 8, size);
    put32(b, 60, mode);
    put32(b, 64, nlink);
    put32(b, 80, 4096); // blksize
}

/// A `fuse_entry_out` for node `ino`.
fn entry_out(ino: u64) -> [u8; ENTRY_OUT] {
    let mut b = [0u8; ENTRY_OUT];
    put64(&mut b, 0, ino);
    put64(&mut b, 16, VALID_S);
    put64(&mut b, 24, VALID_S);
    put_attr(&mut b[40..], ino);
    b
}

/// A `fuse_attr_out` for node `ino`.
fn attr_out(ino: u64) -> [u8; ATTR_OUT] {
    let mut b = [0u8; ATTR_OUT];
    put64(&mut b, 0, VALID_S);
    put_attr(&mut b[16..], ino);
    b
}

/// What to do with a request that is not a message.
#[derive(Debug, PartialEq, Eq)]
enum Other {
    /// Nothing: it takes no answer.
    Ignore,
    /// Write this reply.
    Reply(Vec<u8>),
}

/// The answer to a request that is not a message: the kernel's own
/// housekeeping, and the `fuse-read` type's set-up (`LOOKUP` and `OPEN` of
/// its file).
fn answer_other(flavour: Flavour, h: &InHeader, data: &[u8]) -> Other {
    let file = flavour == Flavour::Read;
    let known = |id: u64| id == FUSE_ROOT_ID || (file && id == FILE_ID);
    let err = |e: i32| Other::Reply(reply_bytes(h.unique, -e, &[]));
    match h.opcode {
        FUSE_FORGET | FUSE_BATCH_FORGET | FUSE_INTERRUPT => Other::Ignore,
        FUSE_GETATTR if known(h.nodeid) => {
            Other::Reply(reply_bytes(h.unique, 0, &attr_out(h.nodeid)))
        }
        FUSE_GETATTR => err(libc::ENOENT),
        FUSE_LOOKUP
            if file
                && h.nodeid == FUSE_ROOT_ID
                && lookup_name(data).ok() == Some(FILE_NAME.to_bytes()) =>
        {
            Other::Reply(reply_bytes(h.unique, 0, &entry_out(FILE_ID)))
        }
        FUSE_LOOKUP => err(libc::ENOENT),
        FUSE_OPEN if file && h.nodeid == FILE_ID => {
            let mut o = [0u8; OPEN_OUT];
            put64(&mut o, 0, FH);
            put32(&mut o, 8, FOPEN_DIRECT_IO | FOPEN_NOFLUSH);
            Other::Reply(reply_bytes(h.unique, 0, &o))
        }
        FUSE_RELEASE => Other::Reply(reply_bytes(h.unique, 0, &[])),
        _ => err(libc::ENOSYS),
    }
}

/// The `FUSE_INIT` reply to the request in `data`.
fn init_reply(data: &[u8]) -> Result<Vec<u8>, String> {
    let h = parse_header(data).map_err(|e| format!("reading FUSE_INIT: {e}"))?;
    if h.opcode != FUSE_INIT || data.len() < IN_HEADER + INIT_IN_MIN {
        return Err(format!(
            "expected FUSE_INIT after mount(2), read {} of {} bytes",
            op_name(h.opcode),
            data.len()
        ));
    }
    let a = &data[IN_HEADER..];
    let (major, minor, readahead) = (u32_at(a, 0), u32_at(a, 4), u32_at(a, 8));
    if major != FUSE_KERNEL_VERSION {
        return Err(format!(
            "the kernel speaks FUSE {major}.{minor}, this server {FUSE_KERNEL_VERSION}.x"
        ));
    }
    let mut o = [0u8; INIT_OUT];
    put32(&mut o, 0, FUSE_KERNEL_VERSION);
    put32(&mut o, 4, minor.min(FUSE_MINOR));
    put32(&mut o, 8, readahead);
    // flags (12) 0: no FUSE_ASYNC_READ, no FUSE_ASYNC_DIO: synchronous
    // requests only; max_background, congestion_threshold 0: defaults.
    put32(&mut o, 20, MAX_WRITE);
    put32(&mut o, 24, 1); // time_gran: 1 ns
    Ok(reply_bytes(h.unique, 0, &o))
}

/// Writes one reply to the device.
fn write_reply(dev: RawFd, b: &[u8]) -> Result<(), String> {
    loop {
        // SAFETY: `b` is a valid buffer of the length passed.
        let n = unsafe { libc::write(dev, b.as_ptr().cast(), b.len()) };
        if n == b.len() as isize {
            return Ok(());
        }
        if n >= 0 {
            return Err(format!("write of a reply: {n} of {} bytes", b.len()));
        }
        match errno() {
            libc::EINTR => continue,
            e => return Err(os_err("write of a reply to /dev/fuse", e)),
        }
    }
}

/// Waits (up to `deadline`) for a request on the device, then reads it
/// into `buf`. `Ok(None)`: none before the deadline.
fn read_request(dev: RawFd, buf: &mut [u8], deadline: Instant) -> Result<Option<usize>, String> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let mut p = libc::pollfd {
            fd: dev,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, 100) as i32;
        // SAFETY: `p` is one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r < 0 && errno() != libc::EINTR {
            return Err(os_err("poll(/dev/fuse)", errno()));
        }
        if r <= 0 {
            continue;
        }
        if p.revents & libc::POLLERR != 0 {
            return Err("the FUSE connection was aborted".into());
        }
        // SAFETY: `buf` is a valid, writable buffer of the length passed.
        let n = unsafe { libc::read(dev, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        match errno() {
            libc::EINTR | libc::EAGAIN => continue,
            e => return Err(os_err("read(/dev/fuse)", e)),
        }
    }
}

/// `/dev/fuse` opened, or the errno and why not.
fn open_dev(nonblock: bool) -> Result<OwnedFd, (i32, String)> {
    let mut flags = libc::O_RDWR | libc::O_CLOEXEC;
    if nonblock {
        flags |= libc::O_NONBLOCK;
    }
    // SAFETY: a NUL-terminated path and plain flags.
    let fd = unsafe { libc::open(c"/dev/fuse".as_ptr(), flags) };
    if fd < 0 {
        let e = errno();
        let why = match e {
            libc::ENOENT => ": no such device node (CONFIG_FUSE_FS=n, or /dev not populated)",
            libc::ENODEV | libc::ENXIO => ": the kernel has no FUSE (CONFIG_FUSE_FS=n)",
            libc::EACCES | libc::EPERM => ": not permitted (needs root)",
            _ => "",
        };
        return Err((e, format!("{}{why}", os_err("open(/dev/fuse)", e))));
    }
    // SAFETY: open succeeded: the fd is new and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A new empty directory under the temporary directory.
fn make_dir() -> Result<CString, String> {
    let base = std::env::temp_dir();
    let mut t = format!("{}/iub-fuse.XXXXXX", base.display()).into_bytes();
    t.push(0);
    // SAFETY: `t` is a writable NUL-terminated template, which mkdtemp
    // fills in place.
    if unsafe { libc::mkdtemp(t.as_mut_ptr().cast()) }.is_null() {
        return Err(os_err(
            &format!("mkdtemp({}/iub-fuse.XXXXXX)", base.display()),
            errno(),
        ));
    }
    t.pop();
    CString::new(t).map_err(|_| "the temporary directory's name has a NUL".to_string())
}

/// Mounts a FUSE file system served by `dev` on `dir`. On failure returns
/// the errno and why.
fn mount(dev: RawFd, dir: &CStr) -> Result<(), (i32, String)> {
    let data =
        CString::new(format!("fd={dev},rootmode=40000,user_id=0,group_id=0")).expect("no NUL");
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_RDONLY;
    // SAFETY: NUL-terminated strings; the data is the string fuse parses.
    let r = unsafe {
        libc::mount(
            c"iu-bench".as_ptr(),
            dir.as_ptr(),
            c"fuse".as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    if r != 0 {
        let e = errno();
        let why = match e {
            libc::EPERM => ": not permitted (needs CAP_SYS_ADMIN: root outside a user namespace)",
            libc::ENODEV => ": the kernel has no fuse file system (CONFIG_FUSE_FS=n)",
            _ => "",
        };
        let what = format!(
            "mount(fuse, {}, {})",
            dir.to_string_lossy(),
            data.to_string_lossy()
        );
        return Err((e, format!("{}{why}", os_err(&what, e))));
    }
    Ok(())
}

/// A mounted connection: the device, the mount point, and the fds that
/// use the mount.
struct Conn {
    dev: OwnedFd,
    dir: CString,
    /// `O_PATH` fd of the mount's root (the `fuse` type's `fstatat`).
    root: Option<OwnedFd>,
    /// The `fuse-read` type's open file.
    file: Option<OwnedFd>,
}

/// Answers set-up request `data` (not a message) on `dev`.
fn serve(dev: RawFd, data: &[u8]) -> Result<(), String> {
    let h = parse_header(data)?;
    match answer_other(Flavour::Read, &h, data) {
        Other::Ignore => Ok(()),
        Other::Reply(r) => write_reply(dev, &r),
    }
}

impl Conn {
    /// Opens the device, mounts it on a new directory and answers
    /// `FUSE_INIT`.
    fn new(nonblock: bool) -> Result<Conn, String> {
        let dev = open_dev(nonblock).map_err(|(_, m)| m)?;
        let dir = make_dir()?;
        if let Err((_, m)) = mount(dev.as_raw_fd(), &dir) {
            // SAFETY: NUL-terminated path of our own empty directory.
            unsafe { libc::rmdir(dir.as_ptr()) };
            return Err(m);
        }
        // From here on, dropping `c` unmounts and removes the directory.
        let mut c = Conn {
            dev,
            dir,
            root: None,
            file: None,
        };
        let mut buf = vec![0u8; INIT_READ_LEN];
        let deadline = Instant::now() + SETUP_TIMEOUT;
        let n = read_request(c.dev.as_raw_fd(), &mut buf, deadline)?
            .ok_or("no FUSE_INIT request within 5 s of mount(2)")?;
        write_reply(c.dev.as_raw_fd(), &init_reply(&buf[..n])?)
            .map_err(|e| format!("FUSE_INIT: {e}"))?;
        // SAFETY: NUL-terminated path; O_PATH opens nothing on the file
        // system (no request), it only pins the mount's root.
        let fd = unsafe {
            libc::open(
                c.dir.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(os_err(
                &format!("open({}, O_PATH)", c.dir.to_string_lossy()),
                errno(),
            ));
        }
        // SAFETY: open succeeded: the fd is new and owned by nobody else.
        c.root = Some(unsafe { OwnedFd::from_raw_fd(fd) });
        Ok(c)
    }

    fn root_fd(&self) -> RawFd {
        self.root.as_ref().map_or(-1, |f| f.as_raw_fd())
    }

    /// Opens the `fuse-read` file, answering the requests that takes
    /// (`LOOKUP`, `OPEN`) in this thread meanwhile.
    fn open_file(&mut self) -> Result<(), String> {
        let (dev, root) = (self.dev.as_raw_fd(), self.root_fd());
        let deadline = Instant::now() + SETUP_TIMEOUT;
        let res = std::thread::scope(|s| {
            let opener = s.spawn(move || {
                // SAFETY: `root` is an open directory fd; the name is
                // NUL-terminated.
                let fd = unsafe {
                    libc::openat(root, FILE_NAME.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC)
                };
                (fd, errno())
            });
            let mut buf = vec![0u8; READ_LEN];
            let mut served = Ok(());
            while !opener.is_finished() {
                let step = Instant::now() + Duration::from_millis(10);
                let r = match read_request(dev, &mut buf, step) {
                    Ok(Some(n)) => serve(dev, &buf[..n]),
                    Ok(None) if Instant::now() < deadline => continue,
                    Ok(None) => Err("open(f) was not answered within 5 s".to_string()),
                    Err(e) => Err(e),
                };
                if let Err(e) = r {
                    // Abort the connection: the open fails and returns.
                    served = Err(e);
                    force_unmount(&self.dir);
                    break;
                }
            }
            let (fd, e) = opener.join().unwrap_or((-1, 0));
            served.map(|()| (fd, e))
        });
        let (fd, e) = res.map_err(|e| format!("opening the file f: {e}"))?;
        if fd < 0 {
            return Err(os_err("openat(f) on the FUSE mount", e));
        }
        // SAFETY: openat succeeded: the fd is new and owned by nobody else.
        self.file = Some(unsafe { OwnedFd::from_raw_fd(fd) });
        Ok(())
    }
}

/// `umount2(dir, MNT_FORCE)`: FUSE's `umount_begin` aborts the connection
/// (every request waiting ends, the device's reads fail with `ENODEV`),
/// whether or not the umount itself then succeeds (`EBUSY` while the mount
/// is in use). Returns whether the umount succeeded.
fn force_unmount(dir: &CStr) -> bool {
    // SAFETY: NUL-terminated path.
    unsafe { libc::umount2(dir.as_ptr(), libc::MNT_FORCE) == 0 }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Abort first, so that nothing below can wait for an answer (the
        // last close of an open FUSE file may send FLUSH and RELEASE).
        if !force_unmount(&self.dir) {
            self.root.take();
            self.file.take();
            // SAFETY: NUL-terminated path; an error (no longer mounted)
            // changes nothing.
            unsafe { libc::umount2(self.dir.as_ptr(), libc::MNT_DETACH) };
        }
        // SAFETY: NUL-terminated path of our own directory, now empty and
        // no longer a mount point.
        unsafe { libc::rmdir(self.dir.as_ptr()) };
        // `dev` (and the other fds) close after this.
    }
}

/// Why FUSE cannot be tested here, if it cannot: no device, or mount(2)
/// refused.
fn probe() -> Option<String> {
    let dev = match open_dev(false) {
        Ok(d) => d,
        Err((_, m)) => return Some(m),
    };
    let dir = match make_dir() {
        Ok(d) => d,
        Err(m) => return Some(m),
    };
    let r = mount(dev.as_raw_fd(), &dir);
    if r.is_ok() {
        // FUSE_INIT is never answered: the umount aborts the connection.
        force_unmount(&dir);
        // SAFETY: NUL-terminated path; harmless if already unmounted.
        unsafe { libc::umount2(dir.as_ptr(), libc::MNT_DETACH) };
    }
    // SAFETY: NUL-terminated path of our own directory.
    unsafe { libc::rmdir(dir.as_ptr()) };
    match r {
        Err((libc::EPERM | libc::ENODEV | libc::EACCES, m)) => Some(m),
        // Another failure fails the cases, with the error.
        _ => None,
    }
}

fn unavailable() -> Option<String> {
    static PROBE: OnceLock<Option<String>> = OnceLock::new();
    PROBE.get_or_init(probe).clone()
}

fn open_channel(flavour: Flavour, cfg: &OpenCfg) -> Result<FuseChannel, String> {
    let mut conn = Conn::new(cfg.nonblocking_read)?;
    if flavour == Flavour::Read {
        conn.open_file()?;
    }
    Ok(FuseChannel {
        flavour,
        conn,
        aborted: AtomicBool::new(false),
    })
}

fn open(flavour: Flavour, cfg: &OpenCfg) -> Result<Box<dyn Channel>, String> {
    Ok(Box::new(open_channel(flavour, cfg)?))
}

const NOTE_STAT: &str = "The writer is a task using a FUSE mount, the reader its daemon (each \
     file is a FUSE connection of its own, mounted by the benchmark, `FUSE_INIT` answered with \
     no flags: every request is synchronous). A message is one `fstatat(2)` of a name never \
     looked up before, `m<seq>` in the root: one `FUSE_LOOKUP` carrying the sequence number, \
     read (8 KiB reads, the device's minimum) and answered `-ENOENT` by the daemon; the \
     writer's `stat` returns `ENOENT`. Latency runs from just before the `stat` (the send time \
     the writer records in shared memory) to the daemon seeing the request (CQE, or the \
     return of `read(2)`); it does not include the answer. A request blocks the writer until \
     it is answered, so throughput (msgs/s) is requests answered per second with one in \
     flight, and the writer's send CPU is the whole `stat`: on the inline path it includes \
     the read and the CQE done for the daemon. The batch kind is skipped (one writer thread \
     cannot have K requests outstanding).";

const NOTE_READ: &str = "As `fuse`, but a message is one `pread(2)` of 64 bytes at offset \
     `seq * 64` of one file opened with `FOPEN_DIRECT_IO` (no page cache): one `FUSE_READ` \
     whose offset carries the sequence number; the daemon answers with 64 bytes stamped with \
     it, which the writer checks. Latency runs to the daemon seeing the request, as for \
     `fuse`; throughput is reads answered per second.";

impl FileType for Fuse {
    fn name(&self) -> &'static str {
        "fuse"
    }

    fn unavailable(&self) -> Option<String> {
        unavailable()
    }

    fn skip(&self, kind: Kind, _mode: Mode, _method: Method) -> Option<String> {
        (kind == Kind::Batch).then(|| BATCH_SKIP.to_string())
    }

    fn note(&self) -> Option<&'static str> {
        Some(NOTE_STAT)
    }

    fn open(&self, cfg: &OpenCfg) -> Result<Box<dyn Channel>, String> {
        open(Flavour::Stat, cfg)
    }
}

impl FileType for FuseRead {
    fn name(&self) -> &'static str {
        "fuse-read"
    }

    fn unavailable(&self) -> Option<String> {
        unavailable()
    }

    fn skip(&self, kind: Kind, _mode: Mode, _method: Method) -> Option<String> {
        (kind == Kind::Batch).then(|| BATCH_SKIP.to_string())
    }

    fn note(&self) -> Option<&'static str> {
        Some(NOTE_READ)
    }

    fn open(&self, cfg: &OpenCfg) -> Result<Box<dyn Channel>, String> {
        open(Flavour::Read, cfg)
    }
}

/// One FUSE connection (see the module documentation).
struct FuseChannel {
    flavour: Flavour,
    conn: Conn,
    /// Set by `abort`: the connection is aborted.
    aborted: AtomicBool,
}

impl FuseChannel {
    /// The writer's system call failed with `e`: `EINTR` once the case is
    /// aborted (and passed through), an error otherwise.
    fn send_err(&self, seq: u64, what: &str, e: i32) -> (i32, String) {
        if e == libc::EINTR {
            return (e, os_err(what, e));
        }
        if self.aborted.load(Ordering::SeqCst) {
            return (
                libc::EINTR,
                "the case was aborted (FUSE connection aborted)".into(),
            );
        }
        let why = match e {
            libc::ECONNABORTED | libc::ENOTCONN => ": the FUSE connection was aborted",
            _ => "",
        };
        (e, format!("message {seq}: {}{why}", os_err(what, e)))
    }
}

impl Channel for FuseChannel {
    fn read_fd(&self) -> RawFd {
        self.conn.dev.as_raw_fd()
    }

    fn read_len(&self) -> usize {
        READ_LEN
    }

    fn send(&self, seq: u64, _ts_ns: u64) -> Result<(), (i32, String)> {
        match self.flavour {
            Flavour::Stat => {
                let mut name = [0u8; 24];
                write!(&mut name[..], "m{seq}\0").expect("24 bytes hold m<u64>");
                // SAFETY: stat is plain old data; all-zero is valid.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: the root fd is open; `name` is NUL-terminated; `st`
                // is a valid, writable struct stat.
                let r = unsafe {
                    libc::fstatat(
                        self.conn.root_fd(),
                        name.as_ptr().cast(),
                        &mut st,
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                };
                if r == 0 {
                    return Err((
                        0,
                        format!(
                            "message {seq}: stat({}) succeeded, but the daemon answered ENOENT",
                            msg_name(seq)
                        ),
                    ));
                }
                match errno() {
                    libc::ENOENT => Ok(()),
                    e => Err(self.send_err(seq, &format!("stat({})", msg_name(seq)), e)),
                }
            }
            Flavour::Read => {
                let fd = self.conn.file.as_ref().map_or(-1, |f| f.as_raw_fd());
                let mut b = [0u8; CHUNK];
                let off = seq.wrapping_mul(CHUNK as u64);
                // SAFETY: `b` is a valid, writable buffer of the length
                // passed; `fd` is the open file.
                let n = unsafe { libc::pread(fd, b.as_mut_ptr().cast(), CHUNK, off as i64) };
                if n < 0 {
                    return Err(self.send_err(seq, &format!("pread(f, {CHUNK}, {off})"), errno()));
                }
                if n as usize != CHUNK || b != chunk(seq) {
                    return Err((
                        0,
                        format!(
                            "message {seq}: pread at {off} returned {n} bytes {:02x?}, not the \
                             {CHUNK} the daemon answered for it",
                            &b[..(n as usize).min(CHUNK)]
                        ),
                    ));
                }
                Ok(())
            }
        }
    }

    fn housekeeping(&self, data: &[u8]) -> Result<bool, String> {
        let Ok(h) = parse_header(data) else {
            return Ok(false); // `check` says what is wrong
        };
        if h.opcode == self.flavour.opcode() {
            return Ok(false);
        }
        match answer_other(self.flavour, &h, data) {
            Other::Ignore => {}
            Other::Reply(r) => write_reply(self.conn.dev.as_raw_fd(), &r)
                .map_err(|e| format!("answering {}: {e}", op_name(h.opcode)))?,
        }
        Ok(true)
    }

    fn check(&self, data: &[u8], seq: u64) -> Result<Received, String> {
        check_request(self.flavour, data, seq)?;
        Ok(Received {
            msgs: 1,
            ts_ns: None,
        })
    }

    fn reply(&self, data: &[u8]) -> Result<(), String> {
        write_reply(
            self.conn.dev.as_raw_fd(),
            &message_reply(self.flavour, data),
        )
    }

    fn leftover(&self) -> Result<usize, String> {
        let mut p = libc::pollfd {
            fd: self.conn.dev.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `p` is one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, 0) } < 0 {
            return Err(os_err("poll(/dev/fuse)", errno()));
        }
        if p.revents & libc::POLLERR != 0 {
            return Err("the FUSE connection was aborted".into());
        }
        if p.revents & libc::POLLIN != 0 {
            return Err("a FUSE request is still queued, never read".into());
        }
        Ok(0)
    }

    fn abort(&self) {
        self.aborted.store(true, Ordering::SeqCst);
        force_unmount(&self.conn.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A request as the kernel would send it.
    fn request(opcode: u32, unique: u64, nodeid: u64, body: &[u8]) -> Vec<u8> {
        let len = IN_HEADER + body.len();
        let mut b = vec![0u8; len];
        put32(&mut b, 0, len as u32);
        put32(&mut b, 4, opcode);
        put64(&mut b, 8, unique);
        put64(&mut b, 16, nodeid);
        b[IN_HEADER..].copy_from_slice(body);
        b
    }

    fn lookup(unique: u64, name: &str) -> Vec<u8> {
        let mut n = name.as_bytes().to_vec();
        n.push(0);
        request(FUSE_LOOKUP, unique, FUSE_ROOT_ID, &n)
    }

    fn read_req(unique: u64, fh: u64, off: u64, size: u32) -> Vec<u8> {
        let mut a = [0u8; READ_IN];
        put64(&mut a, 0, fh);
        put64(&mut a, 8, off);
        put32(&mut a, 16, size);
        request(FUSE_READ, unique, FILE_ID, &a)
    }

    #[test]
    fn abi() {
        assert_eq!(ENTRY_OUT, 128);
        assert_eq!(ATTR_OUT, 104);
        assert_eq!(IN_HEADER + READ_IN, 80);
        assert!(READ_LEN >= IN_HEADER + 40 + MAX_WRITE as usize);
        let r = reply_bytes(7, -libc::ENOENT, &[]);
        assert_eq!(r.len(), OUT_HEADER);
        assert_eq!(u32_at(&r, 0), 16);
        assert_eq!(u32_at(&r, 4) as i32, -libc::ENOENT);
        assert_eq!(u64_at(&r, 8), 7);
    }

    #[test]
    fn lookups_are_checked() {
        let s = Flavour::Stat;
        assert_eq!(check_request(s, &lookup(9, "m12"), 12), Ok(9));
        assert_eq!(check_request(s, &lookup(9, "m0"), 0), Ok(9));
        let e = check_request(s, &lookup(9, "m13"), 12).unwrap_err();
        assert!(e.contains("\"m13\", expected \"m12\""), "{e}");
        assert!(check_request(s, &lookup(9, "m012"), 12).is_err());
        assert!(check_request(s, &lookup(9, "m12x"), 12).is_err());
        assert!(check_request(s, &lookup(0, "m12"), 12).is_err());
        // Not NUL-terminated, or a NUL inside.
        assert!(check_request(s, &request(FUSE_LOOKUP, 9, 1, b"m12"), 12).is_err());
        assert!(check_request(s, &request(FUSE_LOOKUP, 9, 1, b"m1\0\0"), 1).is_err());
        assert!(check_request(s, &request(FUSE_LOOKUP, 9, 1, b""), 1).is_err());
        // Another directory, another opcode.
        assert!(check_request(s, &request(FUSE_LOOKUP, 9, 5, b"m12\0"), 12).is_err());
        let e = check_request(s, &request(FUSE_GETATTR, 9, 1, &[0; 16]), 12).unwrap_err();
        assert!(e.contains("GETATTR, expected LOOKUP"), "{e}");
        // Length: the header must say what was read.
        let mut l = lookup(9, "m12");
        put32(&mut l, 0, 99);
        assert!(check_request(s, &l, 12)
            .unwrap_err()
            .contains("says 99 bytes"));
        assert!(check_request(s, &l[..20], 12)
            .unwrap_err()
            .contains("less than"));
        // The answer: -ENOENT for that unique.
        assert_eq!(
            message_reply(s, &lookup(9, "m12")),
            reply_bytes(9, -libc::ENOENT, &[])
        );
    }

    #[test]
    fn reads_are_checked() {
        let r = Flavour::Read;
        assert_eq!(check_request(r, &read_req(4, FH, 5 * 64, 64), 5), Ok(4));
        let e = check_request(r, &read_req(4, FH, 6 * 64, 64), 5).unwrap_err();
        assert!(e.contains("offset 384 (message 6), expected 320"), "{e}");
        assert!(check_request(r, &read_req(4, FH + 1, 5 * 64, 64), 5).is_err());
        assert!(check_request(r, &read_req(4, FH, 5 * 64, 128), 5).is_err());
        assert!(check_request(r, &lookup(4, "m5"), 5).is_err());
        let mut other_node = read_req(4, FH, 5 * 64, 64);
        put64(&mut other_node, 16, 1);
        assert!(check_request(r, &other_node, 5).is_err());
        let a = message_reply(r, &read_req(4, FH, 5 * 64, 64));
        assert_eq!(a, reply_bytes(4, 0, &chunk(5)));
        assert_eq!(u32_at(&a, 0) as usize, OUT_HEADER + CHUNK);
        assert_eq!(u64_at(&a, OUT_HEADER), 5);
        assert_ne!(chunk(5), chunk(6));
    }

    #[test]
    fn housekeeping_answers() {
        let h = |d: &[u8]| parse_header(d).unwrap();
        let forget = request(FUSE_FORGET, 3, 8, &[0; 8]);
        assert_eq!(
            answer_other(Flavour::Stat, &h(&forget), &forget),
            Other::Ignore
        );
        let intr = request(FUSE_INTERRUPT, 3 | 1, 0, &[0; 8]);
        assert_eq!(answer_other(Flavour::Stat, &h(&intr), &intr), Other::Ignore);
        let ga = request(FUSE_GETATTR, 5, FUSE_ROOT_ID, &[0; 16]);
        let Other::Reply(r) = answer_other(Flavour::Stat, &h(&ga), &ga) else {
            panic!("no reply to GETATTR");
        };
        assert_eq!(r.len(), OUT_HEADER + ATTR_OUT);
        assert_eq!((u32_at(&r, 4), u64_at(&r, 8)), (0, 5));
        assert_eq!(u32_at(&r, OUT_HEADER + 16 + 60), libc::S_IFDIR | 0o755);
        let ga2 = request(FUSE_GETATTR, 6, FILE_ID, &[0; 16]);
        assert_eq!(
            answer_other(Flavour::Stat, &h(&ga2), &ga2),
            Other::Reply(reply_bytes(6, -libc::ENOENT, &[]))
        );
        let Other::Reply(r) = answer_other(Flavour::Read, &h(&ga2), &ga2) else {
            panic!("no reply to GETATTR of the file");
        };
        assert_eq!(u64_at(&r, OUT_HEADER + 16 + 8), FILE_SIZE);
        let lf = lookup(7, "f");
        let Other::Reply(r) = answer_other(Flavour::Read, &h(&lf), &lf) else {
            panic!("no reply to LOOKUP f");
        };
        assert_eq!(
            (r.len(), u64_at(&r, OUT_HEADER)),
            (OUT_HEADER + ENTRY_OUT, FILE_ID)
        );
        let op = request(FUSE_OPEN, 8, FILE_ID, &[0; 8]);
        let Other::Reply(r) = answer_other(Flavour::Read, &h(&op), &op) else {
            panic!("no reply to OPEN");
        };
        assert_eq!(u64_at(&r, OUT_HEADER), FH);
        assert_eq!(u32_at(&r, OUT_HEADER + 8), FOPEN_DIRECT_IO | FOPEN_NOFLUSH);
        let odd = request(99, 9, 1, &[]);
        assert_eq!(
            answer_other(Flavour::Stat, &h(&odd), &odd),
            Other::Reply(reply_bytes(9, -libc::ENOSYS, &[]))
        );
    }

    #[test]
    fn init_is_answered() {
        let mut a = [0u8; 64];
        put32(&mut a, 0, 7);
        put32(&mut a, 4, 41);
        put32(&mut a, 8, 131072);
        let r = init_reply(&request(FUSE_INIT, 2, 0, &a)).unwrap();
        assert_eq!(r.len(), OUT_HEADER + INIT_OUT);
        let o = &r[OUT_HEADER..];
        assert_eq!((u32_at(o, 0), u32_at(o, 4), u32_at(o, 8)), (7, 31, 131072));
        assert_eq!((u32_at(o, 12), u32_at(o, 20)), (0, MAX_WRITE));
        put32(&mut a, 4, 27);
        let r = init_reply(&request(FUSE_INIT, 2, 0, &a)).unwrap();
        assert_eq!(u32_at(&r[OUT_HEADER..], 4), 27);
        put32(&mut a, 0, 8);
        assert!(init_reply(&request(FUSE_INIT, 2, 0, &a)).is_err());
        assert!(init_reply(&lookup(2, "x")).is_err());
    }

    /// A channel, or `None` (the test is skipped) where FUSE cannot be
    /// mounted.
    fn open_chan(ty: &dyn FileType) -> Option<Arc<Box<dyn Channel>>> {
        if let Some(why) = ty.unavailable() {
            eprintln!("fuse test skipped: {why}");
            return None;
        }
        let ch = ty
            .open(&OpenCfg {
                nonblocking_read: false,
                blocking_read: true,
                msg_size: 64,
            })
            .unwrap();
        Some(Arc::new(ch))
    }

    /// A blocking read of one request.
    fn read(ch: &dyn Channel) -> Vec<u8> {
        let mut b = vec![0u8; ch.read_len()];
        // SAFETY: `b` is a valid buffer of the length passed.
        let n = unsafe { libc::read(ch.read_fd(), b.as_mut_ptr().cast(), b.len()) };
        assert!(n > 0, "{}", os_err("read", errno()));
        b.truncate(n as usize);
        b
    }

    fn round_trip(ty: &dyn FileType) {
        let Some(ch) = open_chan(ty) else { return };
        let n = 50;
        let w = {
            let ch = ch.clone();
            std::thread::spawn(move || (0..n).try_for_each(|seq| ch.send(seq, 0)))
        };
        for seq in 0..n {
            let m = read(ch.as_ref().as_ref());
            assert!(!ch.housekeeping(&m).unwrap());
            let r = ch.check(&m, seq).unwrap();
            assert_eq!((r.msgs, r.ts_ns), (1, None));
            if seq > 0 {
                assert!(ch.check(&m, seq - 1).is_err());
            }
            ch.reply(&m).unwrap();
        }
        w.join().unwrap().unwrap();
        assert_eq!(ch.leftover(), Ok(0));
    }

    #[test]
    fn stats_round_trip() {
        round_trip(&Fuse);
    }

    #[test]
    fn preads_round_trip() {
        round_trip(&FuseRead);
    }

    #[test]
    fn housekeeping_is_answered_on_a_live_mount() {
        if let Some(why) = Fuse.unavailable() {
            eprintln!("fuse test skipped: {why}");
            return;
        }
        let cfg = OpenCfg {
            nonblocking_read: false,
            blocking_read: true,
            msg_size: 64,
        };
        let ch = Arc::new(open_channel(Flavour::Stat, &cfg).unwrap());
        // A stat of the mount point itself: a GETATTR of the root (whose
        // attributes are not cached yet), which is no message.
        let w = {
            let dir = ch.conn.dir.clone();
            std::thread::spawn(move || {
                // SAFETY: stat is plain old data; all-zero is valid.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: NUL-terminated path, valid writable stat.
                let r = unsafe { libc::stat(dir.as_ptr(), &mut st) };
                (r, st.st_mode)
            })
        };
        let m = read(&*ch);
        assert_eq!(parse_header(&m).unwrap().opcode, FUSE_GETATTR);
        assert!(ch.housekeeping(&m).unwrap());
        assert_eq!(w.join().unwrap(), (0, libc::S_IFDIR | 0o755));
        // Then a message goes to `check` as usual.
        let w = {
            let ch = ch.clone();
            std::thread::spawn(move || ch.send(0, 0))
        };
        let m = read(&*ch);
        assert!(!ch.housekeeping(&m).unwrap());
        ch.check(&m, 0).unwrap();
        ch.reply(&m).unwrap();
        w.join().unwrap().unwrap();
        assert_eq!(ch.leftover(), Ok(0));
    }

    #[test]
    fn abort_releases_a_blocked_writer() {
        let Some(ch) = open_chan(&Fuse) else { return };
        let w = {
            let ch = ch.clone();
            std::thread::spawn(move || ch.send(0, 0))
        };
        // Wait for the LOOKUP, then leave it unanswered.
        let mut p = libc::pollfd {
            fd: ch.read_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `p` is one valid pollfd.
        assert_eq!(unsafe { libc::poll(&mut p, 1, 10_000) }, 1);
        assert!(ch.leftover().is_err());
        let m = read(ch.as_ref().as_ref());
        ch.check(&m, 0).unwrap();
        ch.abort();
        let r = w.join().unwrap();
        assert_eq!(r.map_err(|(e, _)| e), Err(libc::EINTR));
        assert!(ch.leftover().unwrap_err().contains("aborted"));
    }
}

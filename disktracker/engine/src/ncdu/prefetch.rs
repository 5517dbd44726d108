//! Reading an export on a second thread while the first parses: the copy
//! out of the page cache and the system calls (about a twentieth of an
//! import) then overlap the parse instead of adding to it.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Chunk read at a time.
const CHUNK: usize = 1 << 20;
/// Chunks read ahead at most.
const AHEAD: usize = 4;

/// A reader whose source is read ahead on its own thread. The source must
/// not block for long (a file, not a terminal): dropping the reader waits
/// for the read in progress.
pub struct Prefetch {
    chunks: Option<Receiver<io::Result<Vec<u8>>>>,
    thread: Option<JoinHandle<()>>,
    current: Vec<u8>,
    at: usize,
    done: bool,
}

impl Prefetch {
    /// Starts reading `source` ahead; without a thread, reads it in place.
    pub fn new<R: Read + Send + 'static>(mut source: R) -> io::Result<Prefetch> {
        let (tx, rx): (SyncSender<io::Result<Vec<u8>>>, _) = sync_channel(AHEAD);
        let thread = std::thread::Builder::new()
            .name("ncdu-read".into())
            .spawn(move || {
                loop {
                    let mut buf = vec![0u8; CHUNK];
                    let n = match source.read(&mut buf) {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    buf.truncate(n);
                    // The parser gave up (dropped the receiver), or this was the end.
                    if tx.send(Ok(buf)).is_err() || n == 0 {
                        return;
                    }
                }
            })?;
        Ok(Prefetch {
            chunks: Some(rx),
            thread: Some(thread),
            current: Vec::new(),
            at: 0,
            done: false,
        })
    }
}

impl Read for Prefetch {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() && !self.done {
            let next = self.chunks.as_ref().and_then(|rx| rx.recv().ok());
            match next {
                Some(Ok(chunk)) => {
                    self.done = chunk.is_empty();
                    self.current = chunk;
                    self.at = 0;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                // The thread ended without saying why: it could not go on.
                None => {
                    self.done = true;
                    return Err(io::Error::other("the reading thread stopped"));
                }
            }
        }
        let n = out.len().min(self.current.len() - self.at);
        out[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        // Closing the channel stops the thread at its next chunk.
        self.chunks = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bytes_come_through_in_order_whatever_the_read_sizes() {
        let data: Vec<u8> = (0..(3 * CHUNK + 12_345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        for step in [1usize, 7, 4096, CHUNK + 3] {
            let mut p = Prefetch::new(io::Cursor::new(data.clone())).expect("thread");
            let mut got = Vec::new();
            let mut buf = vec![0u8; step];
            loop {
                let n = p.read(&mut buf).expect("read");
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert!(got == data, "step {step}");
        }
    }

    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            self.0 -= 1;
            out[0] = b'x';
            Ok(1)
        }
    }

    #[test]
    fn an_error_of_the_source_reaches_the_reader_after_its_bytes() {
        let mut p = Prefetch::new(Failing(3)).expect("thread");
        let mut got = Vec::new();
        let err = loop {
            let mut b = [0u8; 8];
            match p.read(&mut b) {
                Ok(0) => panic!("end instead of the error"),
                Ok(n) => got.extend_from_slice(&b[..n]),
                Err(e) => break e,
            }
        };
        assert_eq!(got, b"xxx");
        assert_eq!(err.to_string(), "disk on fire");
    }

    #[test]
    fn dropping_it_early_stops_the_thread() {
        let data = vec![1u8; 20 * CHUNK];
        let mut p = Prefetch::new(io::Cursor::new(data)).expect("thread");
        let mut b = [0u8; 10];
        assert_eq!(p.read(&mut b).expect("read"), 10);
        drop(p);
    }
}

//! The history recorder: clients and the nemesis hand events to one writer thread, which gives
//! them their index and appends them to `history.jsonl` as whole lines, flushing regularly.
//!
//! The time is taken and the event queued under one lock, so file order is time order: a
//! checker reading the file sees the real-time order of invocations and completions. The
//! writer also hands each line it wrote to the online checker, when there is one
//! ([`super::online`]): off the clients' path.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use checkers::history::{Event, EventType, Process};
use serde_json::Value;

use super::online::Feed;

/// How often the writer flushes while events keep coming.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// A cheap handle for recording events; clone it into every task.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
    start: Instant,
}

struct Inner {
    tx: Option<mpsc::Sender<Event>>,
}

/// What the writer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub events: u64,
    pub bytes: u64,
}

/// Owns the writer thread; `finish` waits for every queued event to be on disk.
pub struct Writer {
    handle: JoinHandle<anyhow::Result<Written>>,
    path: PathBuf,
}

impl Recorder {
    /// Starts the writer on `path` (created, truncated). Times count from `start`.
    pub fn to_file(path: &Path, start: Instant) -> anyhow::Result<(Recorder, Writer)> {
        Recorder::to_file_feeding(path, start, None)
    }

    /// As [`Recorder::to_file`], the writer also handing every line it writes to `online`.
    pub fn to_file_feeding(
        path: &Path,
        start: Instant,
        online: Option<Feed>,
    ) -> anyhow::Result<(Recorder, Writer)> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let (tx, rx) = mpsc::channel::<Event>();
        let owned = path.to_path_buf();
        let handle = std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || write_loop(BufWriter::with_capacity(1 << 16, file), rx, &owned, online))
            .context("starting the history writer thread")?;
        Ok((
            Recorder {
                inner: Arc::new(Mutex::new(Inner { tx: Some(tx) })),
                start,
            },
            Writer {
                handle,
                path: path.to_path_buf(),
            },
        ))
    }

    /// A recorder that keeps nothing (the benchmark's baseline).
    pub fn discard(start: Instant) -> Recorder {
        Recorder {
            inner: Arc::new(Mutex::new(Inner { tx: None })),
            start,
        }
    }

    /// Nanoseconds since the run started.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    /// Records one event, timestamped now.
    pub fn record(
        &self,
        process: Process,
        kind: EventType,
        f: &str,
        key: Option<String>,
        value: Value,
        error: Option<String>,
    ) {
        let mut event = Event {
            index: 0,
            time: 0,
            process,
            kind,
            f: f.to_string(),
            key,
            value,
            error,
        };
        // A poisoned lock only means another recorder panicked mid-send; the channel is intact.
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        event.time = self.now();
        if let Some(tx) = &inner.tx {
            // The writer only stops after every sender is gone, or on a write error it reports.
            let _ = tx.send(event);
        }
    }

    /// Stops accepting events; the writer drains the queue and ends once every clone is dropped
    /// or closed.
    pub fn close(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).tx = None;
    }
}

impl Writer {
    /// Waits until every queued event is written and flushed. Close the recorder first.
    pub fn finish(self) -> anyhow::Result<Written> {
        self.handle.join().map_err(|_| {
            anyhow::anyhow!("the history writer for {} panicked", self.path.display())
        })?
    }
}

fn write_loop(
    mut out: BufWriter<File>,
    rx: mpsc::Receiver<Event>,
    path: &Path,
    mut online: Option<Feed>,
) -> anyhow::Result<Written> {
    let mut written = Written::default();
    let mut last_flush = Instant::now();
    let mut line = Vec::with_capacity(256);
    loop {
        let event = match rx.recv_timeout(FLUSH_EVERY) {
            Ok(e) => Some(e),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        if let Some(mut event) = event {
            event.index = written.events;
            line.clear();
            serde_json::to_writer(&mut line, &event).context("encoding a history event")?;
            line.push(b'\n');
            // One write_all per line: a crash leaves whole lines plus at most one partial one.
            out.write_all(&line)
                .with_context(|| format!("writing {}", path.display()))?;
            written.events += 1;
            written.bytes += line.len() as u64;
            if let Some(feed) = &mut online {
                feed.send(event, &line);
            }
        }
        if last_flush.elapsed() >= FLUSH_EVERY {
            out.flush()
                .with_context(|| format!("flushing {}", path.display()))?;
            if let Some(feed) = &mut online {
                feed.flush();
            }
            last_flush = Instant::now();
        }
    }
    out.flush()
        .with_context(|| format!("flushing {}", path.display()))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_written_whole_dense_and_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let (rec, writer) = Recorder::to_file(&path, Instant::now()).unwrap();
        let threads: Vec<_> = (0..4u64)
            .map(|p| {
                let rec = rec.clone();
                std::thread::spawn(move || {
                    for i in 0..250 {
                        rec.record(
                            Process::Client(p),
                            EventType::Invoke,
                            "write",
                            Some("k".into()),
                            json!(i),
                            None,
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        rec.close();
        let written = writer.finish().unwrap();
        assert_eq!(written.events, 1000);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.len() as u64, written.bytes);
        let events: Vec<Event> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for (i, pair) in events.windows(2).enumerate() {
            assert_eq!(pair[0].index, i as u64);
            assert!(pair[0].time <= pair[1].time, "time goes back at {i}");
        }
    }

    #[test]
    fn events_reach_the_file_before_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let (rec, writer) = Recorder::to_file(&path, Instant::now()).unwrap();
        rec.record(
            Process::Client(0),
            EventType::Invoke,
            "read",
            None,
            Value::Null,
            None,
        );
        // The writer flushes on its own within FLUSH_EVERY; poll with a deadline.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&path).unwrap();
            if text.ends_with('\n') {
                break;
            }
            assert!(Instant::now() < deadline, "not flushed within 5 s");
            std::thread::sleep(Duration::from_millis(10));
        }
        rec.close();
        assert_eq!(writer.finish().unwrap().events, 1);
    }

    #[test]
    fn a_discarding_recorder_keeps_nothing() {
        let rec = Recorder::discard(Instant::now());
        rec.record(
            Process::Client(0),
            EventType::Invoke,
            "read",
            None,
            Value::Null,
            None,
        );
        assert!(rec.now() > 0);
    }
}

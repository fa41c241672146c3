//! Group commit: one thread owns the store; HTTP handlers queue writes on a
//! bounded channel and wait for their acknowledgement.
//!
//! The thread takes whatever is queued (up to [`WriterOptions::max_batch`]),
//! judges the reports' devices (merged compliance facts, verdicts,
//! failing-since: committed with the report), applies it all in ONE durable
//! transaction, updates the live state, and only then answers each waiting
//! handler. One fsync thus acknowledges hundreds of
//! reports, which is what makes `synchronous=FULL` affordable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{Store, StoreError, WriteOp, WriteOutcome};
use crate::judge::Judge;
use crate::state::LiveState;
use crate::unix_now;

/// Tuning of the writer thread.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Queue capacity; a full queue makes handlers answer 503.
    pub queue_capacity: usize,
    /// Most writes per transaction.
    pub max_batch: usize,
    /// Reports older than this many seconds are pruned.
    pub retention_secs: i64,
    /// How often pruning runs.
    pub prune_every: Duration,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            queue_capacity: 4096,
            max_batch: 512,
            retention_secs: 30 * 86_400,
            prune_every: Duration::from_secs(3600),
        }
    }
}

/// Why a write could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full: try again later.
    #[error("ingest queue is full")]
    QueueFull,
    /// The writer has stopped.
    #[error("the database writer has stopped")]
    Stopped,
}

type Reply = oneshot::Sender<Result<WriteOutcome, StoreError>>;

enum Command {
    Write(WriteOp, Reply),
    Stop,
}

/// Handle to the writer thread; cheap to share behind an `Arc`.
pub struct WriterHandle {
    tx: SyncSender<Command>,
    alive: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Rows deleted per pruning transaction, so ingest never waits long.
const PRUNE_CHUNK: usize = 5000;

impl WriterHandle {
    /// Starts the writer thread.
    pub fn spawn<S: Store>(
        store: S,
        live: Arc<LiveState>,
        judge: Judge,
        options: WriterOptions,
    ) -> Self {
        let (tx, rx) = sync_channel(options.queue_capacity);
        let alive = Arc::new(AtomicBool::new(true));
        let thread_alive = alive.clone();
        let thread = std::thread::Builder::new()
            .name("fleetwatch-db-writer".into())
            .spawn(move || {
                run(store, live, judge, options, rx);
                thread_alive.store(false, Ordering::SeqCst);
            })
            .expect("spawning the database writer thread");
        WriterHandle {
            tx,
            alive,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Queues a write without waiting for room.
    pub fn try_submit(
        &self,
        op: WriteOp,
    ) -> Result<oneshot::Receiver<Result<WriteOutcome, StoreError>>, SubmitError> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Command::Write(op, reply)) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(SubmitError::QueueFull),
            Err(TrySendError::Disconnected(_)) => Err(SubmitError::Stopped),
        }
    }

    /// Queues a write and waits until it is committed.
    pub async fn submit(&self, op: WriteOp) -> Result<WriteOutcome, WriteError> {
        let rx = self.try_submit(op)?;
        rx.await
            .map_err(|_| SubmitError::Stopped)?
            .map_err(WriteError::Store)
    }

    /// Whether the writer thread is running.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Commits everything queued so far, then stops the thread (blocking).
    pub fn shutdown(&self) {
        let _ = self.tx.send(Command::Stop);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("database writer thread panicked");
        }
    }
}

/// A write that was not committed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Not queued.
    #[error(transparent)]
    Submit(#[from] SubmitError),
    /// Queued, but the store refused it.
    #[error(transparent)]
    Store(StoreError),
}

fn run<S: Store>(
    mut store: S,
    live: Arc<LiveState>,
    judge: Judge,
    options: WriterOptions,
    rx: Receiver<Command>,
) {
    let mut next_prune = Instant::now();
    let mut prune_pending = true;
    let mut ops = Vec::with_capacity(options.max_batch);
    let mut replies = Vec::with_capacity(options.max_batch);
    loop {
        if prune_pending {
            prune_pending = prune_chunk(&mut store, &options);
            if !prune_pending {
                next_prune = Instant::now() + options.prune_every;
            }
        } else if Instant::now() >= next_prune {
            prune_pending = true;
            continue;
        }
        let wait = if prune_pending {
            Duration::ZERO
        } else {
            next_prune.saturating_duration_since(Instant::now())
        };
        let first = match rx.recv_timeout(wait) {
            Ok(c) => c,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut stop = false;
        let push = |c: Command, ops: &mut Vec<WriteOp>, replies: &mut Vec<Reply>| match c {
            Command::Write(op, reply) => {
                ops.push(op);
                replies.push(reply);
                false
            }
            Command::Stop => true,
        };
        stop |= push(first, &mut ops, &mut replies);
        while !stop && ops.len() < options.max_batch {
            match rx.try_recv() {
                Ok(c) => stop |= push(c, &mut ops, &mut replies),
                Err(_) => break,
            }
        }
        if !ops.is_empty() {
            judge.prepare_batch(&live, &mut ops, unix_now());
            commit_batch(&mut store, &live, &ops, replies.drain(..));
            ops.clear();
        }
        if stop {
            tracing::info!("database writer stopped after flushing its queue");
            return;
        }
    }
}

fn commit_batch<S: Store>(
    store: &mut S,
    live: &LiveState,
    ops: &[WriteOp],
    replies: impl Iterator<Item = Reply>,
) {
    match store.apply(ops) {
        Ok(results) => {
            // Publish to the live state before acknowledging, so a scrape
            // after the 2xx sees the report.
            {
                let mut fleet = live.write();
                for (op, result) in ops.iter().zip(&results) {
                    match (op, result) {
                        (WriteOp::Enroll(_), Ok(WriteOutcome::Enrolled(o))) => {
                            fleet.apply_enroll(o)
                        }
                        (WriteOp::Ingest(op), Ok(WriteOutcome::Ingested(o))) => {
                            fleet.apply_report(op, o)
                        }
                        (WriteOp::Retire(id), Ok(WriteOutcome::Retired(true))) => fleet.retire(id),
                        _ => {}
                    }
                }
            }
            for (reply, result) in replies.zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, writes = ops.len(), "committing a batch failed");
            let message = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(StoreError::CommitFailed(message.clone())));
            }
        }
    }
}

/// Deletes one chunk of expired reports; true while more may remain.
fn prune_chunk<S: Store>(store: &mut S, options: &WriterOptions) -> bool {
    let before = unix_now() - options.retention_secs;
    match store.prune_reports(before, PRUNE_CHUNK) {
        Ok(n) => {
            if n > 0 {
                tracing::info!(deleted = n, "pruned expired reports");
            }
            n == PRUNE_CHUNK
        }
        Err(e) => {
            tracing::error!(error = %e, "pruning reports failed");
            false
        }
    }
}

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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;

    use fleetwatch_protocol::HostIdentity;

    use super::*;
    use crate::policy::{FailingSince, Policy, PolicyHandle};
    use crate::store::{EnrollOp, EnrollOutcome, StoredDevice};

    /// A store that records each batch, fails a `Retire` of an id starting
    /// with "bad" on its own, fails whole commits on request, and can hold
    /// its first batch until released (so later writes queue up behind it).
    struct FakeStore {
        batches: Arc<Mutex<Vec<Vec<String>>>>,
        fail_commit: Arc<AtomicBool>,
        gate: Option<mpsc::Receiver<()>>,
    }

    fn name(op: &WriteOp) -> String {
        match op {
            WriteOp::Enroll(e) => format!("enroll {}", e.new_device_id),
            WriteOp::Retire(id) => format!("retire {id}"),
            WriteOp::Ingest(i) => format!("ingest {}", i.report_id),
            WriteOp::SaveFailingSince(_) => "failing-since".into(),
        }
    }

    impl Store for FakeStore {
        fn apply(
            &mut self,
            batch: &[WriteOp],
        ) -> Result<Vec<Result<WriteOutcome, StoreError>>, StoreError> {
            if let Some(gate) = self.gate.take() {
                let _ = gate.recv();
            }
            if self.fail_commit.load(Ordering::SeqCst) {
                return Err(StoreError::CommitFailed("disk I/O error".into()));
            }
            self.batches
                .lock()
                .unwrap()
                .push(batch.iter().map(name).collect());
            Ok(batch
                .iter()
                .map(|op| match op {
                    WriteOp::Retire(id) if id.starts_with("bad") => {
                        Err(StoreError::UnknownDevice(id.clone()))
                    }
                    WriteOp::Retire(_) => Ok(WriteOutcome::Retired(true)),
                    WriteOp::Enroll(e) => Ok(WriteOutcome::Enrolled(Box::new(EnrollOutcome {
                        device: StoredDevice {
                            device_id: e.new_device_id.clone(),
                            hostname: e.identity.hostname.clone(),
                            enrolled_at: e.now,
                            last_seen: 0,
                            retired: false,
                            node_key_hash: e.node_key_hash,
                            inventory: None,
                            report: None,
                            compliance: None,
                            failing_since: FailingSince::default(),
                        },
                        reused: false,
                        previous_key_hash: None,
                    }))),
                    other => panic!("unexpected {}", name(other)),
                })
                .collect())
        }

        fn prune_reports(&mut self, _before: i64, _limit: usize) -> Result<usize, StoreError> {
            Ok(0)
        }

        fn load_devices(
            &mut self,
            _visit: &mut dyn FnMut(StoredDevice) -> Result<(), StoreError>,
        ) -> Result<(), StoreError> {
            Ok(())
        }
    }

    struct Rig {
        writer: WriterHandle,
        live: Arc<LiveState>,
        batches: Arc<Mutex<Vec<Vec<String>>>>,
        fail_commit: Arc<AtomicBool>,
        release: mpsc::Sender<()>,
    }

    fn rig() -> Rig {
        let (release, gate) = mpsc::channel();
        let batches = Arc::default();
        let fail_commit = Arc::new(AtomicBool::new(false));
        let live = Arc::new(LiveState::default());
        let store = FakeStore {
            batches: Arc::clone(&batches),
            fail_commit: fail_commit.clone(),
            gate: Some(gate),
        };
        let writer = WriterHandle::spawn(
            store,
            live.clone(),
            Judge::new(PolicyHandle::new(Policy::default())),
            WriterOptions {
                queue_capacity: 16,
                ..WriterOptions::default()
            },
        );
        Rig {
            writer,
            live,
            batches,
            fail_commit,
            release,
        }
    }

    fn enroll(id: &str, key: u8) -> WriteOp {
        WriteOp::Enroll(EnrollOp {
            identity: HostIdentity {
                hostname: id.into(),
                ..HostIdentity::default()
            },
            node_key_hash: [key; 32],
            new_device_id: id.into(),
            now: 1,
        })
    }

    type Pending = oneshot::Receiver<Result<WriteOutcome, StoreError>>;

    fn queue(writer: &WriterHandle, op: WriteOp) -> Pending {
        writer.try_submit(op).expect("room in the queue")
    }

    #[test]
    fn one_failing_write_fails_alone_in_its_batch() {
        let r = rig();
        // Held in the first batch while three writes queue up behind it.
        let first = queue(&r.writer, WriteOp::Retire("warm-up".into()));
        std::thread::sleep(Duration::from_millis(100));
        let good = queue(&r.writer, WriteOp::Retire("dev-a".into()));
        let bad = queue(&r.writer, WriteOp::Retire("bad-b".into()));
        let also_good = queue(&r.writer, enroll("dev-c", 3));
        r.release.send(()).unwrap();
        assert!(matches!(
            first.blocking_recv(),
            Ok(Ok(WriteOutcome::Retired(true)))
        ));
        assert!(matches!(
            good.blocking_recv(),
            Ok(Ok(WriteOutcome::Retired(true)))
        ));
        assert!(matches!(
            bad.blocking_recv(),
            Ok(Err(StoreError::UnknownDevice(id))) if id == "bad-b"
        ));
        assert!(matches!(
            also_good.blocking_recv(),
            Ok(Ok(WriteOutcome::Enrolled(_)))
        ));
        let batches = r.batches.lock().unwrap().clone();
        assert_eq!(
            batches,
            vec![
                vec!["retire warm-up".to_string()],
                vec![
                    "retire dev-a".to_string(),
                    "retire bad-b".to_string(),
                    "enroll dev-c".to_string()
                ],
            ],
            "the three writes were one transaction"
        );
        // The good write of the batch was published.
        assert_eq!(r.live.read().authenticate(&[3; 32]), Some("dev-c"));
        r.writer.shutdown();
    }

    #[test]
    fn a_failed_commit_acknowledges_nothing_and_the_writer_recovers() {
        let r = rig();
        r.fail_commit.store(true, Ordering::SeqCst);
        let lost = queue(&r.writer, enroll("dev-x", 9));
        r.release.send(()).unwrap();
        match lost.blocking_recv() {
            Ok(Err(StoreError::CommitFailed(m))) => assert!(m.contains("disk I/O error"), "{m}"),
            other => panic!("expected a commit failure, got {other:?}"),
        }
        // Nothing of the batch is visible: no key, no device.
        assert_eq!(r.live.read().authenticate(&[9; 32]), None);
        assert!(r.live.read().device("dev-x").is_none());
        assert!(r.batches.lock().unwrap().is_empty());
        assert!(
            r.writer.is_alive(),
            "one failed commit does not stop the writer"
        );
        // The disk is back: the next write commits.
        r.fail_commit.store(false, Ordering::SeqCst);
        let again = queue(&r.writer, enroll("dev-x", 9));
        assert!(matches!(
            again.blocking_recv(),
            Ok(Ok(WriteOutcome::Enrolled(_)))
        ));
        assert_eq!(r.live.read().authenticate(&[9; 32]), Some("dev-x"));
        r.writer.shutdown();
    }

    #[test]
    fn shutdown_commits_everything_queued_before_it() {
        let r = rig();
        let mut pending = vec![queue(&r.writer, enroll("dev-0", 10))];
        std::thread::sleep(Duration::from_millis(100));
        for i in 1..6u8 {
            pending.push(queue(&r.writer, enroll(&format!("dev-{i}"), 10 + i)));
        }
        let writer = Arc::new(r.writer);
        let stopping = {
            let writer = writer.clone();
            std::thread::spawn(move || writer.shutdown())
        };
        // Shutdown is waiting on the held batch; release it.
        std::thread::sleep(Duration::from_millis(100));
        r.release.send(()).unwrap();
        stopping.join().unwrap();
        for (i, p) in pending.into_iter().enumerate() {
            assert!(
                matches!(p.blocking_recv(), Ok(Ok(WriteOutcome::Enrolled(_)))),
                "write {i} was acknowledged"
            );
        }
        let committed: usize = r.batches.lock().unwrap().iter().map(Vec::len).sum();
        assert_eq!(committed, 6);
        assert!(!writer.is_alive());
        assert_eq!(
            writer.try_submit(WriteOp::Retire("late".into())).err(),
            Some(SubmitError::Stopped)
        );
    }
}

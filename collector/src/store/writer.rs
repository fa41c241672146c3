//! Group commit: one thread owns the store; HTTP handlers queue writes on a
//! bounded channel and wait for their acknowledgement.
//!
//! The queue is bounded twice: by count (the channel) and, for reports, by
//! bytes ([`WriterHandle::admit`]), before a report body is even read. The
//! writer keeps [`WriterHealth`]: a failing commit (full disk, I/O error)
//! makes it unhealthy until a commit, or a probe write made while idle,
//! succeeds again.
//!
//! The thread takes whatever is queued (up to [`WriterOptions::max_batch`]),
//! judges the reports' devices (merged compliance facts, verdicts,
//! failing-since: committed with the report), applies it all in ONE durable
//! transaction, updates the live state, and only then answers each waiting
//! handler. One fsync thus acknowledges hundreds of
//! reports, which is what makes `synchronous=FULL` affordable.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
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
    /// Queue capacity; a full queue makes handlers answer 429.
    pub queue_capacity: usize,
    /// Report bytes admitted and not yet acknowledged, at most.
    pub queue_bytes: usize,
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
            queue_bytes: 256 << 20,
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
    health: Arc<WriterHealth>,
    budget: Arc<QueueBudget>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Rows deleted per pruning transaction, so ingest never waits long.
const PRUNE_CHUNK: usize = 5000;

/// While unhealthy and idle, the writer probes the database this often.
const PROBE_EVERY: Duration = Duration::from_secs(2);

/// Whether the database takes writes, for readiness and self-metrics.
#[derive(Debug)]
pub struct WriterHealth {
    healthy: AtomicBool,
    commit_errors: AtomicU64,
    last_success: AtomicI64,
}

impl WriterHealth {
    fn new() -> Self {
        WriterHealth {
            healthy: AtomicBool::new(true),
            commit_errors: AtomicU64::new(0),
            // Opening the store migrated it: that was a successful write.
            last_success: AtomicI64::new(unix_now()),
        }
    }

    /// False since a commit failed, until one succeeds again.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// Commits (and probes) that failed since start.
    pub fn commit_errors_total(&self) -> u64 {
        self.commit_errors.load(Ordering::Relaxed)
    }

    /// Unix time of the last successful commit.
    pub fn last_success_timestamp(&self) -> i64 {
        self.last_success.load(Ordering::Relaxed)
    }

    fn succeeded(&self) {
        self.last_success.store(unix_now(), Ordering::Relaxed);
        if !self.healthy.swap(true, Ordering::SeqCst) {
            tracing::info!("the database takes writes again");
        }
    }

    fn failed(&self, error: &StoreError) {
        self.commit_errors.fetch_add(1, Ordering::Relaxed);
        if self.healthy.swap(false, Ordering::SeqCst) {
            tracing::error!(error = %error, "the database fails to commit; reports are answered 503 until it recovers");
        }
    }
}

/// Reports admitted and not yet acknowledged, and their bytes.
#[derive(Debug)]
pub struct QueueBudget {
    max_reports: usize,
    max_bytes: usize,
    used: Mutex<(usize, usize)>,
}

impl QueueBudget {
    /// `(reports, bytes)` admitted and not yet acknowledged.
    pub fn used(&self) -> (usize, usize) {
        *self.used.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A report's place in the queue, held until it is acknowledged (dropped).
#[derive(Debug)]
pub struct Admitted {
    budget: Arc<QueueBudget>,
    bytes: usize,
}

impl Admitted {
    /// Grows the reservation to `bytes` (the decoded body is larger than
    /// the compressed one admitted); refused when that does not fit.
    pub fn grow_to(&mut self, bytes: usize) -> Result<(), SubmitError> {
        if bytes <= self.bytes {
            return Ok(());
        }
        let mut used = self.budget.used.lock().unwrap_or_else(|e| e.into_inner());
        let more = bytes - self.bytes;
        if used.1 + more > self.budget.max_bytes {
            return Err(SubmitError::QueueFull);
        }
        used.1 += more;
        self.bytes = bytes;
        Ok(())
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut used = self.budget.used.lock().unwrap_or_else(|e| e.into_inner());
        used.0 = used.0.saturating_sub(1);
        used.1 = used.1.saturating_sub(self.bytes);
    }
}

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
        let health = Arc::new(WriterHealth::new());
        let budget = Arc::new(QueueBudget {
            max_reports: options.queue_capacity,
            max_bytes: options.queue_bytes,
            used: Mutex::default(),
        });
        let thread_alive = alive.clone();
        let thread_health = health.clone();
        let thread = std::thread::Builder::new()
            .name("fleetwatch-db-writer".into())
            .spawn(move || {
                run(store, live, judge, options, rx, &thread_health);
                thread_alive.store(false, Ordering::SeqCst);
            })
            .expect("spawning the database writer thread");
        WriterHandle {
            tx,
            alive,
            health,
            budget,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Takes a place in the queue for a report of `bytes` (at least one
    /// byte is counted) before its body is read: refused while the reports
    /// admitted and not yet acknowledged fill the queue's count or bytes.
    pub fn admit(&self, bytes: usize) -> Result<Admitted, SubmitError> {
        let bytes = bytes.max(1);
        let mut used = self.budget.used.lock().unwrap_or_else(|e| e.into_inner());
        if used.0 >= self.budget.max_reports || used.1 + bytes > self.budget.max_bytes {
            return Err(SubmitError::QueueFull);
        }
        used.0 += 1;
        used.1 += bytes;
        Ok(Admitted {
            budget: self.budget.clone(),
            bytes,
        })
    }

    /// Reports admitted and not yet acknowledged: `(count, bytes)`.
    pub fn queued(&self) -> (usize, usize) {
        self.budget.used()
    }

    /// The admission budget (read by the self-metrics at scrape time).
    pub fn budget(&self) -> Arc<QueueBudget> {
        self.budget.clone()
    }

    /// Whether the database takes writes.
    pub fn health(&self) -> Arc<WriterHealth> {
        self.health.clone()
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
    health: &WriterHealth,
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
        let mut wait = if prune_pending {
            Duration::ZERO
        } else {
            next_prune.saturating_duration_since(Instant::now())
        };
        let unhealthy = !health.healthy();
        if unhealthy {
            wait = wait.min(PROBE_EVERY);
        }
        let first = match rx.recv_timeout(wait) {
            Ok(c) => c,
            Err(RecvTimeoutError::Timeout) => {
                // Idle with a failing database: find out whether it
                // recovered (space freed), so readiness follows without traffic.
                if unhealthy {
                    match store.probe() {
                        Ok(()) => health.succeeded(),
                        Err(e) => health.failed(&e),
                    }
                }
                continue;
            }
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
            commit_batch(&mut store, &live, &judge, &ops, replies.drain(..), health);
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
    judge: &Judge,
    ops: &[WriteOp],
    replies: impl Iterator<Item = Reply>,
    health: &WriterHealth,
) {
    match store.apply(ops) {
        Ok(results) => {
            // A write that failed for want of space or I/O makes the
            // database unhealthy as a failed commit would.
            match results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .find(|e| e.is_unavailable())
            {
                Some(e) => health.failed(e),
                None => health.succeeded(),
            }
            // Publish to the live state before acknowledging, so a scrape
            // after the 2xx sees the report.
            {
                let mut fleet = live.write();
                // Read under the write lock: a fleet pass (read lock) with a
                // newer policy is either done or waits for this.
                let policy = judge.policy().current();
                for (op, result) in ops.iter().zip(&results) {
                    match (op, result) {
                        (WriteOp::Enroll(_), Ok(WriteOutcome::Enrolled(o))) => {
                            fleet.apply_enroll(o);
                            live.console()
                                .apply_enrolled(&o.device.device_id, &o.device.hostname);
                            if let Some(d) = fleet.device(&o.device.device_id) {
                                live.console().follow(d);
                            }
                        }
                        (WriteOp::Ingest(op), Ok(WriteOutcome::Ingested(o))) => {
                            fleet.apply_report(op, o);
                            if o.applied
                                && !o.duplicate
                                && let Some(doc) = &op.console
                            {
                                live.console().apply(&op.device_id, doc);
                            }
                            if let Some(d) = fleet.device(&op.device_id) {
                                live.console().follow(d);
                            }
                            // Judged before a reload: the device's cells
                            // must show the policy in force now.
                            if let Some(c) = &op.compliance
                                && !Arc::ptr_eq(&c.policy, &policy)
                                && let Some(d) = fleet.device(&op.device_id)
                            {
                                judge.rejudge(d, &policy, unix_now());
                            }
                        }
                        (WriteOp::Retire(id), Ok(WriteOutcome::Retired(true))) => {
                            fleet.retire(id);
                            if let Some(d) = fleet.device(id) {
                                live.console().follow(d);
                            }
                        }
                        _ => {}
                    }
                }
            }
            for (reply, result) in replies.zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            health.failed(&e);
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
    use crate::policy::compliance_facts::tests::full_report;
    use crate::policy::{FailingSince, Policy, PolicyCheck, PolicyHandle, VerdictKind};
    use crate::store::{EnrollOp, EnrollOutcome, IngestOp, IngestOutcome, StoredDevice};

    /// A store that records each batch, fails a `Retire` of an id starting
    /// with "bad" on its own, fails whole commits on request, and can hold
    /// its first batch until released (so later writes queue up behind it).
    struct FakeStore {
        batches: Arc<Mutex<Vec<Vec<String>>>>,
        fail_commit: Arc<AtomicBool>,
        /// Told when the held first batch has arrived (judged, not stored).
        entered: mpsc::Sender<()>,
        gate: Option<mpsc::Receiver<()>>,
    }

    fn name(op: &WriteOp) -> String {
        match op {
            WriteOp::Enroll(e) => format!("enroll {}", e.new_device_id),
            WriteOp::Retire(id) => format!("retire {id}"),
            WriteOp::Ingest(i) => format!("ingest {}", i.report_id),
            WriteOp::SaveFailingSince(_) => "failing-since".into(),
            WriteOp::SaveAlerts { .. } => "alerts".into(),
            WriteOp::StorePackages(id, _) => format!("packages {id}"),
            WriteOp::SaveDailyCompliance(_) => "daily".into(),
        }
    }

    impl Store for FakeStore {
        fn apply(
            &mut self,
            batch: &[WriteOp],
        ) -> Result<Vec<Result<WriteOutcome, StoreError>>, StoreError> {
            if let Some(gate) = self.gate.take() {
                let _ = self.entered.send(());
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
                    WriteOp::Ingest(i) => Ok(WriteOutcome::Ingested(IngestOutcome {
                        duplicate: false,
                        applied: true,
                        last_seen: i.received_at,
                        packages_hash: None,
                    })),
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
                        weaker_match: None,
                    }))),
                    other => panic!("unexpected {}", name(other)),
                })
                .collect())
        }

        fn prune_reports(&mut self, _before: i64, _limit: usize) -> Result<usize, StoreError> {
            Ok(0)
        }

        fn probe(&mut self) -> Result<(), StoreError> {
            if self.fail_commit.load(Ordering::SeqCst) {
                Err(StoreError::CommitFailed("disk I/O error".into()))
            } else {
                Ok(())
            }
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
        policy: PolicyHandle,
        batches: Arc<Mutex<Vec<Vec<String>>>>,
        fail_commit: Arc<AtomicBool>,
        /// Receives once the first batch is held in the store.
        entered: mpsc::Receiver<()>,
        release: mpsc::Sender<()>,
    }

    fn rig() -> Rig {
        let (release, gate) = mpsc::channel();
        let (entered_tx, entered) = mpsc::channel();
        let batches = Arc::default();
        let fail_commit = Arc::new(AtomicBool::new(false));
        let live = Arc::new(LiveState::default());
        let policy = PolicyHandle::new(Policy::default());
        let store = FakeStore {
            batches: Arc::clone(&batches),
            fail_commit: fail_commit.clone(),
            entered: entered_tx,
            gate: Some(gate),
        };
        let writer = WriterHandle::spawn(
            store,
            live.clone(),
            Judge::new(policy.clone()),
            WriterOptions {
                queue_capacity: 16,
                ..WriterOptions::default()
            },
        );
        Rig {
            writer,
            live,
            policy,
            batches,
            fail_commit,
            entered,
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
            max_devices: None,
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
        r.entered.recv().unwrap();
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
        let health = r.writer.health();
        assert!(!health.healthy());
        assert!(health.commit_errors_total() >= 1);
        let last_ok = health.last_success_timestamp();
        // The disk is back: an idle writer finds out by itself...
        r.fail_commit.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !health.healthy() {
            assert!(
                Instant::now() < deadline,
                "the probe never found the database back"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(health.last_success_timestamp() >= last_ok);
        // ...and the next write commits.
        let again = queue(&r.writer, enroll("dev-x", 9));
        assert!(matches!(
            again.blocking_recv(),
            Ok(Ok(WriteOutcome::Enrolled(_)))
        ));
        assert_eq!(r.live.read().authenticate(&[9; 32]), Some("dev-x"));
        r.writer.shutdown();
    }

    #[test]
    fn admission_bounds_reports_by_count_and_bytes_until_acknowledged() {
        let (tx, _rx) = sync_channel(1);
        let writer = WriterHandle {
            tx,
            alive: Arc::new(AtomicBool::new(true)),
            health: Arc::new(WriterHealth::new()),
            budget: Arc::new(QueueBudget {
                max_reports: 3,
                max_bytes: 1000,
                used: Mutex::default(),
            }),
            thread: Mutex::new(None),
        };
        let mut a = writer.admit(400).unwrap();
        let b = writer.admit(400).unwrap();
        assert_eq!(writer.queued(), (2, 800));
        assert_eq!(
            writer.admit(300).err(),
            Some(SubmitError::QueueFull),
            "bytes"
        );
        assert_eq!(a.grow_to(700).err(), Some(SubmitError::QueueFull));
        let c = writer.admit(0).unwrap();
        assert_eq!(writer.admit(1).err(), Some(SubmitError::QueueFull), "count");
        drop(b);
        a.grow_to(500).unwrap();
        assert_eq!(writer.queued(), (2, 501));
        drop((a, c));
        assert_eq!(writer.queued(), (0, 0));
    }

    #[test]
    fn shutdown_commits_everything_queued_before_it() {
        let r = rig();
        let mut pending = vec![queue(&r.writer, enroll("dev-0", 10))];
        r.entered.recv().unwrap();
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

    #[test]
    fn a_batch_judged_before_a_reload_does_not_overwrite_newer_verdicts() {
        let r = rig();
        let now = unix_now();
        r.live.write().insert_stored(&StoredDevice {
            device_id: "dev-p".into(),
            hostname: "h".into(),
            enrolled_at: now - 60,
            last_seen: 0,
            retired: false,
            node_key_hash: [7; 32],
            inventory: None,
            report: None,
            compliance: None,
            failing_since: FailingSince::default(),
        });
        // Minimum length 8: failing under the default policy (14).
        let mut report = full_report(now);
        report.device_id = "dev-p".into();
        if let Some(p) = report
            .checks
            .password_policy
            .as_mut()
            .and_then(|c| c.data.as_mut())
        {
            p.settings.min_length = Some(8);
        }
        let op = IngestOp::prepare(report, now).unwrap();
        let pending = queue(&r.writer, WriteOp::Ingest(Box::new(op)));
        // Judged under the old policy, now waiting for its commit...
        r.entered.recv().unwrap();
        // ...when the new policy arrives (and the fleet is judged with it).
        r.policy.replace(Policy {
            password_min_length: 8,
            ..Policy::default()
        });
        r.release.send(()).unwrap();
        assert!(matches!(
            pending.blocking_recv(),
            Ok(Ok(WriteOutcome::Ingested(_)))
        ));
        let fleet = r.live.read();
        let verdict = fleet
            .device("dev-p")
            .unwrap()
            .verdicts
            .outcomes()
            .get(PolicyCheck::PasswordLength);
        assert_eq!(
            verdict,
            Some(VerdictKind::Passing),
            "judged by the new policy"
        );
        drop(fleet);
        r.writer.shutdown();
    }
}

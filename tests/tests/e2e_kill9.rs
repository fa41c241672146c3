//! kill -9 under load: several connections send reports to the real
//! collector binary over TLS, the collector is killed with SIGKILL in the
//! middle of it and restarted on the same data dir, and every report it
//! acknowledged (2xx) must still be there: counted in the devices API and
//! answered as a duplicate when sent again. Reports whose answer was lost
//! in the kill are sent again too (as an agent's spool does) and must be
//! stored exactly once.
//!
//! `FLEETWATCH_KILL9_ROUNDS` sets the number of kill rounds (default 10;
//! `scripts/crash.sh` runs 100), `FLEETWATCH_KILL9_CONNECTIONS` the
//! connections (default 6) and `FLEETWATCH_KILL9_MIN_ACKED` the reports
//! acknowledged in a round before the kill may come (default 40).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fleetwatch_e2e::*;
use rand::Rng;

/// Simulated devices; every connection reports for all of them, so one
/// device's reports race each other into the same commit batches.
const DEVICES: u32 = 6;

/// A number from the environment, else `default`.
fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} is a number")))
        .unwrap_or(default)
}

/// How hard a round loads the collector.
#[derive(Debug, Clone, Copy)]
struct Load {
    /// Concurrent keep-alive connections sending reports.
    connections: usize,
    /// Reports acknowledged in a round before the kill may come.
    min_acked: usize,
}
/// Placeholder the report template carries as its id.
const ID_SLOT: &str = "\"report_id\":\"kill9-id-slot\"";

struct Device {
    id: String,
    key: String,
    /// The shipped full report for this device, with [`ID_SLOT`].
    template: String,
}

impl Device {
    fn body(&self, report_id: &str) -> Vec<u8> {
        self.template
            .replacen(ID_SLOT, &format!("\"report_id\":\"{report_id}\""), 1)
            .into_bytes()
    }
}

/// One report sent in a load phase.
#[derive(Debug, Clone)]
struct Sent {
    report_id: String,
    device: usize,
    /// Answered 2xx, accepted and new; false: no answer (killed), or a
    /// refusal, so whether it was stored is unknown.
    acked: bool,
}

/// What an answer to a report says.
#[derive(Debug, PartialEq)]
enum Answer {
    /// 2xx, accepted; `duplicate` as answered.
    Accepted { duplicate: bool },
    /// Any other status, with its body.
    Refused(u16, String),
    /// No answer (connection reset, refused, timed out).
    Lost(String),
}

fn send(client: &reqwest::blocking::Client, url: &str, device: &Device, id: &str) -> Answer {
    let sent = client
        .post(format!("{url}{}", fleetwatch_protocol::REPORTS_PATH))
        .bearer_auth(&device.key)
        .header("content-type", "application/json")
        .body(device.body(id))
        .send();
    let response = match sent {
        Ok(r) => r,
        Err(e) => return Answer::Lost(e.to_string()),
    };
    let status = response.status();
    let text = match response.text() {
        Ok(t) => t,
        Err(e) => return Answer::Lost(format!("{status}, body lost: {e}")),
    };
    if !status.is_success() {
        return Answer::Refused(status.as_u16(), text);
    }
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) if v["accepted"] == true => Answer::Accepted {
            duplicate: v["duplicate"] == true,
        },
        _ => Answer::Refused(status.as_u16(), text),
    }
}

/// Sends reports from `load.connections` connections until the collector is
/// killed (SIGKILL, once enough reports were acknowledged and a random
/// moment later); returns what was sent.
fn load_and_kill(
    collector: Collector,
    devices: &Arc<Vec<Device>>,
    round: usize,
    load: Load,
) -> Vec<Sent> {
    let url = collector.url();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for conn in 0..load.connections {
        // One client each: its own keep-alive connection.
        let client = collector.api_client();
        let (url, stop, acked, sent, devices) = (
            url.clone(),
            stop.clone(),
            acked.clone(),
            sent.clone(),
            devices.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let mut seq = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let device = (conn + seq) % devices.len();
                let report_id = format!("kill9-r{round}-c{conn}-s{seq}");
                seq += 1;
                let answer = send(&client, &url, &devices[device], &report_id);
                let ok = answer == Answer::Accepted { duplicate: false };
                assert!(
                    !matches!(answer, Answer::Accepted { duplicate: true }),
                    "{report_id} was never sent before but was answered as a duplicate"
                );
                if ok {
                    acked.fetch_add(1, Ordering::SeqCst);
                }
                sent.lock().unwrap().push(Sent {
                    report_id,
                    device,
                    acked: ok,
                });
                match answer {
                    // The collector is gone: this connection is done.
                    Answer::Lost(_) => break,
                    // Overload (429/503) is allowed; back off a little.
                    Answer::Refused(..) => std::thread::sleep(Duration::from_millis(20)),
                    Answer::Accepted { .. } => {}
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.load(Ordering::SeqCst) < load.min_acked {
        assert!(
            Instant::now() < deadline,
            "round {round}: only {} reports acknowledged in 30 s:\n{}",
            acked.load(Ordering::SeqCst),
            collector.log_text()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Somewhere in the middle of a batch, or of its commit, or of answering.
    std::thread::sleep(Duration::from_millis(rand::rng().random_range(0..60)));
    collector.kill9();
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().expect("a sender thread panicked");
    }
    Arc::try_unwrap(sent).unwrap().into_inner().unwrap()
}

/// Per device: the report ids known to be stored.
type Ledger = Vec<Vec<String>>;

fn reports_stored(collector: &Collector, device: &Device) -> u64 {
    let detail = collector.admin_get(&format!("/api/v1/devices/{}", device.id));
    detail["reports_stored"]
        .as_u64()
        .unwrap_or_else(|| panic!("no reports_stored in {detail}"))
}

/// After the restart: every acknowledged report is stored and recognised
/// as a duplicate; the rest, sent again, are stored exactly once.
fn verify_after_restart(
    collector: &Collector,
    devices: &Arc<Vec<Device>>,
    ledger: &mut Ledger,
    sent: Vec<Sent>,
    round: usize,
) -> (usize, usize) {
    let mut acked_now: Vec<Vec<&Sent>> = vec![Vec::new(); devices.len()];
    let mut unknown: Vec<Vec<&Sent>> = vec![Vec::new(); devices.len()];
    for s in &sent {
        if s.acked {
            acked_now[s.device].push(s);
        } else {
            unknown[s.device].push(s);
        }
    }
    // Stored, as the API counts them, before anything is sent again.
    for (d, device) in devices.iter().enumerate() {
        let stored = reports_stored(collector, device) as usize;
        let at_least = ledger[d].len() + acked_now[d].len();
        let at_most = at_least + unknown[d].len();
        assert!(
            (at_least..=at_most).contains(&stored),
            "round {round}: device {} holds {stored} reports after the restart; \
             acknowledged so far: {at_least}, with the unanswered ones at most {at_most}",
            device.id
        );
    }
    // Every acknowledged report again: a duplicate, never stored twice;
    // the unanswered ones: stored now (or found, if the kill only cut
    // their answer).
    let client = collector.api_client();
    let url = collector.url();
    let mut duplicates_of_unanswered = 0;
    for s in &sent {
        let device = &devices[s.device];
        let answer = send(&client, &url, device, &s.report_id);
        match answer {
            Answer::Accepted { duplicate: true } => {
                duplicates_of_unanswered += usize::from(!s.acked);
            }
            Answer::Accepted { duplicate: false } => assert!(
                !s.acked,
                "round {round}: {} was acknowledged before the kill but is not stored \
                 (sent again, it is new)",
                s.report_id
            ),
            other => panic!(
                "round {round}: {} sent again after the restart: {other:?}\n{}",
                s.report_id,
                collector.log_text()
            ),
        }
        ledger[s.device].push(s.report_id.clone());
    }
    for (d, device) in devices.iter().enumerate() {
        assert_eq!(
            reports_stored(collector, device) as usize,
            ledger[d].len(),
            "round {round}: device {}: every report sent is stored exactly once",
            device.id
        );
    }
    let acked = sent.iter().filter(|s| s.acked).count();
    (acked, duplicates_of_unanswered)
}

fn config(dir: &Path) -> String {
    let path = dir.join("collector.toml");
    // Every report stays in history, so the count is exact; the devices
    // enroll once, from one address.
    std::fs::write(
        &path,
        "enroll_rate_per_minute = 0\nreport_history_per_device = 1000000\n",
    )
    .unwrap();
    path.display().to_string()
}

#[test]
fn every_acknowledged_report_survives_kill_9_under_load() {
    let rounds = setting("FLEETWATCH_KILL9_ROUNDS", 10);
    let load = Load {
        connections: setting("FLEETWATCH_KILL9_CONNECTIONS", 6),
        min_acked: setting("FLEETWATCH_KILL9_MIN_ACKED", 40),
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("collector");
    let config = config(tmp.path());
    let args = ["--config", config.as_str()];
    let mut collector = Collector::start(&data, &args);
    let devices: Vec<Device> = (0..DEVICES)
        .map(|n| {
            let (id, key) = collector.enroll(n);
            let template = serde_json::to_string(&full_report(&id, "kill9-id-slot")).unwrap();
            assert!(template.contains(ID_SLOT));
            Device { id, key, template }
        })
        .collect();
    let devices = Arc::new(devices);
    let mut ledger: Ledger = vec![Vec::new(); devices.len()];
    let started = Instant::now();
    let mut totals: HashMap<&str, usize> = HashMap::new();
    for round in 0..rounds {
        let (api_port, metrics_port) = (collector.api_port, collector.metrics_port);
        let sent = load_and_kill(collector, &devices, round, load);
        // The same address, as agents know it (and no new free-port race).
        collector = Collector::start_on(&data, api_port, metrics_port, &args);
        let (acked, cut) = verify_after_restart(&collector, &devices, &mut ledger, sent, round);
        *totals.entry("acked").or_default() += acked;
        *totals.entry("cut").or_default() += cut;
        println!(
            "kill9 round {}/{rounds}: {acked} acknowledged reports stored; \
             {cut} stored whose answer the kill cut",
            round + 1
        );
    }
    let stored: usize = ledger.iter().map(Vec::len).sum();
    println!(
        "kill9: {rounds} rounds passed in {:.1} s: {} acknowledged reports, all stored; \
         {stored} reports stored in total, none twice",
        started.elapsed().as_secs_f64(),
        totals.get("acked").copied().unwrap_or(0)
    );
    collector.stop();
}

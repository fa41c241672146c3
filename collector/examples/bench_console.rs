//! Benchmark: the web console at fleet scale. N devices (default 100,000)
//! with ~P packages each (default 1,000: 900 from a common pool of 3,000
//! titles in 3 versions, 100 from a long tail of 40,000 titles) go into the
//! live state and the console index; then it times the devices page (first
//! page, a search, a filter), "which devices have software X", the device
//! page (SQLite read + index), and prints the process RSS (VmRSS after the
//! live state and after the index, VmHWM) and the install lists' bytes.
//!
//! `cargo run --release -p fleetwatch-collector --example bench_console [-- N P]`

#[path = "support/synthetic.rs"]
mod synthetic;

use std::time::Instant;

use fleetwatch_collector::bootstrap::Bootstrapped;
use fleetwatch_collector::config::{Config, Overrides, RawConfig};
use fleetwatch_collector::console::Nav;
use fleetwatch_collector::console::index::ConsoleDoc;
use fleetwatch_collector::console::pages::{
    DevicesQuery, MAX_TITLE_DEVICES, MAX_TITLES, SoftwareQuery, device_page, devices_page,
    software_page,
};
use fleetwatch_collector::console::session::{Role, Sessions};
use fleetwatch_collector::http::App;
use fleetwatch_collector::store::{EnrollOp, IngestOp, WriteOp, WriteOutcome};
use fleetwatch_protocol::{HostIdentity, Package};

fn packages(n: usize, per_device: usize) -> Vec<(String, String)> {
    let common = per_device * 9 / 10;
    let mut out = Vec::with_capacity(per_device);
    // A stable mix: device n takes a window of the common pool, versions
    // differing by device group, and a tail of rarer titles.
    for k in 0..common {
        let title = (n * 7 + k * 3) % 3_000;
        out.push((
            format!("pkg-common-{title}"),
            format!("1.{}.0", (n / 97 + title) % 3),
        ));
    }
    for k in 0..per_device - common {
        let title = (n * 131 + k * 389) % 40_000;
        out.push((format!("pkg-tail-{title}"), format!("2.{}", k % 5)));
    }
    out
}

/// glibc's bytes in live blocks and free inside its heap: RSS beyond the
/// live blocks is fragmentation, not data.
#[allow(unsafe_code)]
fn allocator_bytes() -> (usize, usize) {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let info = unsafe { libc::mallinfo2() };
    (info.uordblks + info.hblkhd, info.fordblks)
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        best = best.min(ms(t));
    }
    (best, last.unwrap())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let per: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let dir = tempfile::tempdir().unwrap();
    let config = Config::build(
        RawConfig::default(),
        Overrides {
            data_dir: Some(dir.path().to_path_buf()),
            ..Overrides::default()
        },
    )
    .unwrap();
    let files = Bootstrapped {
        cert_path: "unused".into(),
        key_path: "unused".into(),
        fingerprint: "sha256:00".into(),
        enroll_secret_path: "unused".into(),
        enroll_secret: "bench-enroll-secret-0123456789".into(),
        admin_token_path: "unused".into(),
        admin_token: "bench-admin-token-0123456789".into(),
        metrics_token: None,
    };
    let app = App::open(&config, &files).unwrap();
    let (_, rss_start) = synthetic::rss_kib();

    // One device through the real writer: its page reads SQLite.
    let enrolled = app
        .writer
        .submit(WriteOp::Enroll(EnrollOp {
            identity: HostIdentity {
                machine_id: Some("bench-machine".into()),
                hostname: "bench-device".into(),
                ..HostIdentity::default()
            },
            node_key_hash: [7; 32],
            new_device_id: "dev-bench".into(),
            now: synthetic::NOW,
            max_devices: None,
        }))
        .await
        .unwrap();
    let WriteOutcome::Enrolled(e) = enrolled else {
        panic!("{enrolled:?}")
    };
    let mut report = synthetic::report(0);
    report.device_id = e.device.device_id.clone();
    let inv = report.inventory.data.as_mut().unwrap();
    inv.hostname = "bench-device".into();
    let p = inv.packages.as_mut().unwrap();
    p.items = Some(
        packages(1, per)
            .into_iter()
            .map(|(name, version)| Package {
                name,
                version,
                ..Package::default()
            })
            .collect(),
    );
    p.count = per as u32;
    let op = IngestOp::prepare(report, synthetic::NOW).unwrap();
    app.writer
        .submit(WriteOp::Ingest(Box::new(op)))
        .await
        .unwrap();

    // The live state first, as `App::open` loads it before the index.
    {
        let mut fleet = app.live.write();
        for k in 0..n {
            fleet.insert_stored(&synthetic::stored(k));
        }
    }
    let (_, rss_fleet) = synthetic::rss_kib();
    // Then the index, as the start-up load seeds it.
    let started = Instant::now();
    {
        let index = app.live.console();
        for k in 0..n {
            let host = format!("laptop-{k:06}");
            let doc = ConsoleDoc {
                tokens: vec![
                    host.clone(),
                    format!("{k:06}"),
                    format!("ser{k:08}"),
                    format!("10.{}.{}.{}", k >> 16, (k >> 8) & 255, k & 255),
                    format!(
                        "8c:8c:aa:{:02x}:{:02x}:{:02x}",
                        k >> 16,
                        (k >> 8) & 255,
                        k & 255
                    ),
                    format!("user{}", k % 5_000),
                ],
                hostname: host,
                os: "debian".into(),
                os_version: ["11", "12", "13"][k % 3].into(),
                packages: Some(packages(k, per)),
            };
            let id = synthetic::device_id(k);
            let fleet = app.live.read();
            index.apply_seed(&id, &doc, fleet.device(&id).map(|d| &**d));
        }
        index.mark_loaded();
        // As `console::load_index` does after the load.
        fleetwatch_collector::console::trim::release_free_heap();
    }
    let index_secs = started.elapsed().as_secs_f64();
    let (hwm, rss_all) = synthetic::rss_kib();
    let (in_use, free_in_heap) = allocator_bytes();
    let (forward_bytes, postings_bytes) = app.live.console().read().install_list_bytes();
    let sessions = Sessions::new(3_600);
    let (_, session) = sessions.create(Role::Admin, 0);
    let nav = || Nav::new("devices", &session, &app);

    let first = DevicesQuery::default();
    let (t_first, page) = best_of(5, || devices_page(&app, &first, nav()));
    let search = DevicesQuery {
        q: Some("user42".into()),
        ..DevicesQuery::default()
    };
    let (t_search, found) = best_of(5, || devices_page(&app, &search, nav()).matching);
    let filtered = DevicesQuery {
        os: Some("debian".into()),
        sort: Some("last_seen".into()),
        dir: Some("desc".into()),
        page: Some(3),
        ..DevicesQuery::default()
    };
    let (t_filter, _) = best_of(5, || devices_page(&app, &filtered, nav()));
    let (t_common, with_common) = best_of(5, || {
        app.live
            .console()
            .read()
            .devices_with("pkg-common-42", None, MAX_TITLE_DEVICES)
            .0
    });
    let (t_version, with_version) = best_of(5, || {
        app.live
            .console()
            .read()
            .devices_with("pkg-common-42", Some("1.1.0"), MAX_TITLE_DEVICES)
            .0
    });
    let (t_tail, with_tail) = best_of(5, || {
        app.live
            .console()
            .read()
            .devices_with("pkg-tail-77", None, MAX_TITLE_DEVICES)
            .0
    });
    let (t_titles, titles) = best_of(3, || app.live.console().read().titles().len());
    let (t_page_titles, _) = best_of(3, || {
        app.live.console().read().titles_matching("", MAX_TITLES).0
    });
    let software = SoftwareQuery {
        title: Some("pkg-common-42".into()),
        ..SoftwareQuery::default()
    };
    let (t_software, _) = best_of(5, || software_page(&app, &software, nav()).devices_matching);
    // A report changing an indexed device's packages (the writer's work
    // under the live-state lock): a few, then all of them.
    let middle = synthetic::device_id(n / 2);
    let changed_doc = |list: Vec<(String, String)>| ConsoleDoc {
        packages: Some(list),
        ..ConsoleDoc::enrolled("laptop-middle")
    };
    let mut few = packages(n / 2, per);
    for (i, p) in few.iter_mut().take(10).enumerate() {
        p.1 = format!("9.{i}");
    }
    let few = changed_doc(few);
    let t = Instant::now();
    app.live.console().apply(&middle, &few);
    let t_few = ms(t);
    let all = changed_doc(packages(n / 2 + 1_000_003, per));
    let t = Instant::now();
    app.live.console().apply(&middle, &all);
    let t_all = ms(t);
    let id = e.device.device_id.clone();
    let (t_device, device) = best_of(5, || device_page(&app, &id, "", nav(), true).unwrap());
    let device = device.expect("the bench device");

    println!("== collector example: bench_console ({n} devices x {per} packages)");
    println!(
        "index build: {index_secs:.1} s ({} devices indexed)",
        app.live.console().read().len()
    );
    println!(
        "devices page, first page (50 of {}): {t_first:.1} ms",
        page.matching
    );
    println!("devices page, search \"user42\" ({found} found): {t_search:.1} ms");
    println!("devices page, OS filter + sort by last report, page 3: {t_filter:.1} ms");
    println!("devices with pkg-common-42, any version ({with_common}): {t_common:.1} ms");
    println!("devices with pkg-common-42 1.1.0 ({with_version}): {t_version:.1} ms");
    println!("devices with pkg-tail-77 ({with_tail}): {t_tail:.1} ms");
    println!(
        "every title with its versions, as the API lists them ({titles} titles): {t_titles:.1} ms"
    );
    println!("software page's title list (first {MAX_TITLES} of {titles}): {t_page_titles:.1} ms");
    println!(
        "software page for pkg-common-42 (title list + versions + devices): {t_software:.1} ms"
    );
    println!(
        "index update, a report changing 10 of a device's packages: {t_few:.1} ms; changing all {per}: {t_all:.1} ms"
    );
    println!(
        "device page ({} packages, SQLite read + index): {t_device:.1} ms",
        device.software_total
    );
    println!(
        "RSS: {} MiB at start, {} MiB with the live state (+{} MiB), {} MiB with the console index too (+{} MiB; peak {} MiB)",
        rss_start / 1024,
        rss_fleet / 1024,
        (rss_fleet - rss_start) / 1024,
        rss_all / 1024,
        (rss_all - rss_fleet) / 1024,
        hwm / 1024
    );
    println!(
        "allocator: {} MiB in live blocks, {} MiB free inside its heap",
        in_use >> 20,
        free_in_heap >> 20
    );
    println!(
        "install lists: {} MiB per device (pair ids), {} MiB per pair (device slots)",
        forward_bytes >> 20,
        postings_bytes >> 20
    );
    app.writer.shutdown();
}

//! The password-policy check against small host trees, one defect of
//! issue 7 per test, and against the password-only fixture hosts
//! (`tests/hosts/{debian12-warnonly,centos7-tally2,tumbleweed-vendor}`).
//! Origins are read through JSON so each test states the wire shape.
// The Linux and macOS checks are compiled out of the Windows agent.
#![cfg(unix)]

use std::path::Path;
use std::time::Duration;

use fleetwatch_agent::checks::inventory::passwd::parse_passwd;
use fleetwatch_agent::checks::password_policy::PasswordPolicyCheck;
use fleetwatch_agent::checks::{CheckContext, run_check};
use fleetwatch_agent::host::{RecordedRunner, SysRoot};
use fleetwatch_protocol::CheckStatus;
use serde_json::Value;

/// "Now" for every case: 2026-11-22T08:00:00Z, as the fixture hosts.
const NOW: i64 = 1_795_334_400;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = dir.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// The password_policy data of a host root, as JSON.
fn policy_of(root: &Path) -> Value {
    let sys = SysRoot::new(root);
    let runner = RecordedRunner::new();
    let ctx = CheckContext {
        root: &sys,
        runner: &runner,
        now: NOW,
        command_timeout: Duration::from_secs(5),
    };
    let r = run_check(&PasswordPolicyCheck, &ctx);
    assert_eq!(r.status, CheckStatus::Ok, "{:?}", r.error);
    serde_json::to_value(r.data.unwrap()).unwrap()
}

fn policy(files: &[(&str, &str)]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), files);
    policy_of(dir.path())
}

fn host(name: &str) -> Value {
    policy_of(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/hosts")
            .join(name),
    )
}

const DEBIAN_PASSWORD: &str = "password requisite pam_pwquality.so retry=3\n\
     password [success=1 default=ignore] pam_unix.so obscure use_authtok yescrypt\n\
     password requisite pam_deny.so\n\
     password required pam_permit.so\n";
const PASSWD_SERVICE: (&str, &str) = ("/etc/pam.d/passwd", "@include common-password\n");

#[test]
fn the_main_pwquality_conf_wins_over_conf_d() {
    let p = policy(&[
        PASSWD_SERVICE,
        ("/etc/pam.d/common-password", DEBIAN_PASSWORD),
        ("/etc/security/pwquality.conf", "minlen = 12\n"),
        (
            "/etc/security/pwquality.conf.d/50-site.conf",
            "minlen = 14\nminclass = 3\n",
        ),
    ]);
    assert_eq!(p["settings"]["min_length"], 12);
    assert_eq!(p["settings"]["min_classes"], 3);
    assert_eq!(
        p["origins"]["min_length"]["path"],
        "/etc/security/pwquality.conf"
    );
}

#[test]
fn a_comment_may_follow_a_value() {
    let p = policy(&[
        PASSWD_SERVICE,
        ("/etc/pam.d/common-password", DEBIAN_PASSWORD),
        (
            "/etc/pam.d/common-auth",
            "auth required pam_faillock.so preauth\n",
        ),
        (
            "/etc/security/pwquality.conf",
            "minlen = 12  # corporate standard\n",
        ),
        ("/etc/security/faillock.conf", "deny = 4 # policy 2026\n"),
    ]);
    assert_eq!(p["settings"]["min_length"], 12);
    assert_eq!(p["settings"]["lockout_threshold"], 4);
}

#[test]
fn module_defaults_apply_when_nothing_sets_a_value() {
    let p = policy(&[
        PASSWD_SERVICE,
        (
            "/etc/pam.d/common-password",
            "password requisite pam_pwquality.so\npassword required pam_pwhistory.so use_authtok\n",
        ),
    ]);
    assert_eq!(p["settings"]["min_length"], 8);
    assert_eq!(p["settings"]["min_classes"], 0);
    assert_eq!(p["settings"]["history"], 10);
    assert_eq!(p["origins"]["min_length"]["source"], "module_default");
    assert_eq!(p["origins"]["history"]["source"], "module_default");
    assert_eq!(p["origins"]["history"]["module"], "pam_pwhistory");
    // A minlen below libpwquality's floor is raised to 6.
    let p = policy(&[
        PASSWD_SERVICE,
        (
            "/etc/pam.d/common-password",
            "password requisite pam_pwquality.so minlen=4\n",
        ),
    ]);
    assert_eq!(p["settings"]["min_length"], 6);
    assert_eq!(p["origins"]["min_length"]["source"], "pam_argument");
}

#[test]
fn warn_only_pwquality_is_not_enforced() {
    for (conf, args) in [
        ("enforcing = 0\nminlen = 14\n", ""),
        ("minlen = 14\n", " enforcing=0"),
    ] {
        let p = policy(&[
            PASSWD_SERVICE,
            (
                "/etc/pam.d/common-password",
                &format!("password requisite pam_pwquality.so retry=3{args}\n"),
            ),
            ("/etc/security/pwquality.conf", conf),
        ]);
        assert_eq!(p["settings"]["min_length"], 14);
        let o = &p["origins"]["min_length"];
        assert_eq!(o["enforced"], false, "{p:#}");
        assert!(
            o["not_enforced_reason"]
                .as_str()
                .unwrap()
                .contains("enforcing=0"),
            "{o}"
        );
    }
}

#[test]
fn optional_modules_and_skipped_modules_do_not_enforce() {
    let p = policy(&[
        PASSWD_SERVICE,
        (
            "/etc/pam.d/common-password",
            "password optional pam_pwquality.so minlen=14\n\
             password [success=1 default=ignore] pam_unix.so yescrypt\n\
             password required pam_pwhistory.so remember=24\n",
        ),
        (
            "/etc/pam.d/common-auth",
            "auth optional pam_faillock.so preauth deny=3\n",
        ),
    ]);
    for setting in ["min_length", "history", "lockout_threshold"] {
        assert_eq!(p["origins"][setting]["enforced"], false, "{setting}: {p:#}");
    }
}

#[test]
fn enforce_for_root_is_reported() {
    let p = policy(&[
        PASSWD_SERVICE,
        (
            "/etc/pam.d/common-password",
            "password requisite pam_pwquality.so enforce_for_root\n\
             password required pam_pwhistory.so remember=5\n",
        ),
    ]);
    assert_eq!(p["origins"]["min_length"]["enforce_for_root"], true);
    assert_eq!(p["origins"]["history"]["enforce_for_root"], false);
}

#[test]
fn includes_are_followed_to_any_depth() {
    let p = policy(&[
        ("/etc/pam.d/passwd", "@include common-password\n"),
        (
            "/etc/pam.d/common-password",
            "password include site-password\n",
        ),
        ("/etc/pam.d/site-password", "password substack quality\n"),
        (
            "/etc/pam.d/quality",
            "password requisite pam_pwquality.so minlen=15\n",
        ),
    ]);
    assert_eq!(p["settings"]["min_length"], 15);
}

#[test]
fn the_password_service_files_are_read() {
    // The rule sits in the passwd service file itself, not in a shared stack.
    let p = policy(&[
        (
            "/etc/pam.d/passwd",
            "password requisite pam_pwquality.so minlen=16\n@include common-password\n",
        ),
        (
            "/etc/pam.d/common-password",
            "password required pam_unix.so yescrypt\n",
        ),
    ]);
    assert_eq!(p["settings"]["min_length"], 16);
    // chpasswd is a password-changing service too: the weaker stack counts.
    let p = policy(&[
        (
            "/etc/pam.d/passwd",
            "password requisite pam_pwquality.so minlen=16\n",
        ),
        (
            "/etc/pam.d/chpasswd",
            "password requisite pam_pwquality.so minlen=10\n",
        ),
    ]);
    assert_eq!(p["settings"]["min_length"], 10);
}

#[test]
fn pwhistory_conf_first_line_wins() {
    let p = policy(&[
        PASSWD_SERVICE,
        (
            "/etc/pam.d/common-password",
            "password required pam_pwhistory.so\n",
        ),
        (
            "/etc/security/pwhistory.conf",
            "remember = 24\nremember = 5\n",
        ),
    ]);
    assert_eq!(p["settings"]["history"], 24);
}

#[test]
fn vendor_faillock_conf_is_read_when_etc_has_none() {
    let p = policy(&[
        (
            "/etc/pam.d/common-auth",
            "auth required pam_faillock.so preauth\n",
        ),
        ("/usr/etc/security/faillock.conf", "deny = 4\n"),
    ]);
    assert_eq!(p["settings"]["lockout_threshold"], 4);
    assert_eq!(
        p["origins"]["lockout_threshold"]["path"],
        "/usr/etc/security/faillock.conf"
    );
}

#[test]
fn tumbleweed_vendor_only_host() {
    let p = host("tumbleweed-vendor");
    assert_eq!(p["settings"]["max_days"], 99999);
    assert_eq!(p["settings"]["hash_algorithm"], "yescrypt");
    assert_eq!(
        p["settings"]["min_length"],
        Value::Null,
        "no pam_pwquality in the stack"
    );
    assert_eq!(p["settings"]["lockout_threshold"], Value::Null);
    assert_eq!(
        p["sources"],
        serde_json::json!(["/usr/etc/login.defs"]),
        "{p:#}"
    );
    insta::assert_json_snapshot!("tumbleweed-vendor", p);
}

#[test]
fn el7_pam_tally2_counts_for_lockout() {
    let p = host("centos7-tally2");
    assert_eq!(p["settings"]["lockout_threshold"], 5);
    assert_eq!(p["settings"]["lockout_unlock_seconds"], 900);
    assert_eq!(p["origins"]["lockout_threshold"]["module"], "pam_tally2");
    assert_eq!(p["settings"]["min_length"], 14);
    assert_eq!(p["settings"]["history"], 5);
    insta::assert_json_snapshot!("centos7-tally2", p);
}

#[test]
fn debian12_warn_only_host() {
    let p = host("debian12-warnonly");
    assert_eq!(p["settings"]["min_length"], 12);
    assert_eq!(p["origins"]["min_length"]["enforced"], false);
    assert_eq!(p["origins"]["history"]["enforced"], true);
    insta::assert_json_snapshot!("debian12-warnonly", p);
}

#[test]
fn shadow_inactive_and_expiry_are_reported_per_account() {
    let p = policy(&[
        ("/etc/login.defs", "PASS_MAX_DAYS 90\n"),
        (
            "/etc/passwd",
            "alice:x:1000:1000::/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/bash\n",
        ),
        (
            "/etc/shadow",
            "alice:$y$j9T$a$b:20000:0:90:7:30:20400:\nbob:$y$j9T$c$d:20000:0:90:7:::\n",
        ),
    ]);
    let accounts = p["accounts"].as_array().unwrap();
    assert_eq!(accounts[0]["inactive_days"], 30);
    assert_eq!(accounts[0]["account_expires_at"], 20_400 * 86_400);
    assert_eq!(accounts[0]["account_expired"], true);
    assert_eq!(accounts[1]["account_expires_at"], Value::Null);
    assert_eq!(accounts[1]["account_expired"], false);
}

#[test]
fn inventory_and_shadow_facts_agree_on_interactive() {
    let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                  old:x:1000:1000::/home/old:\n\
                  big:x:70000:70000::/home/big:/bin/zsh\n\
                  halt:x:7:0:halt:/sbin:/sbin/halt\n\
                  svc:x:1001:1001::/srv:/usr/local/bin/nologin\n\
                  nobody:x:65534:65534::/:/bin/sh\n";
    let shadow: String = passwd
        .lines()
        .map(|l| format!("{}:!:20000:0:99999:7:::\n", l.split(':').next().unwrap()))
        .collect();
    let p = policy(&[
        ("/etc/login.defs", "PASS_MAX_DAYS 90\n"),
        ("/etc/passwd", passwd),
        ("/etc/shadow", &shadow),
    ]);
    let from_shadow: Vec<(String, bool)> = p["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["interactive"].as_bool().unwrap(),
            )
        })
        .collect();
    let from_inventory: Vec<(String, bool)> = parse_passwd(passwd)
        .into_iter()
        .map(|u| (u.name, u.interactive))
        .collect();
    assert_eq!(from_shadow, from_inventory);
    assert_eq!(
        from_inventory,
        [
            ("root".to_string(), true),
            ("old".to_string(), true),
            ("big".to_string(), true),
            ("halt".to_string(), false),
            ("svc".to_string(), false),
            ("nobody".to_string(), false),
        ]
    );
}

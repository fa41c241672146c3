//! The agent's password-policy reading on a fuzzed host: shadow, passwd,
//! login.defs, pwquality (main file and a `.d` file), faillock.conf,
//! pwhistory.conf and the PAM stacks (includes, substacks, jumps), merged
//! as the check does. The input is the files' texts separated by NUL bytes,
//! in [`FILES`] order; an empty text means the file is absent.
//!
//! Beyond "no panic": the section survives the trip to the collector
//! (JSON and back, unchanged), and no password hash from shadow ever
//! appears in it.
#![no_main]

use std::collections::BTreeMap;

use fleetwatch_agent::checks::password_policy::policy_from_files;
use fleetwatch_fuzz::parts;
use fleetwatch_protocol::PasswordPolicy;
use libfuzzer_sys::fuzz_target;

/// Where each part of the input goes.
const FILES: [&str; 14] = [
    "/etc/shadow",
    "/etc/passwd",
    "/etc/login.defs",
    "/etc/security/pwquality.conf",
    "/usr/lib/security/pwquality.conf.d/50-vendor.conf",
    "/etc/security/faillock.conf",
    "/etc/security/pwhistory.conf",
    "/etc/pam.d/common-password",
    "/etc/pam.d/common-auth",
    "/etc/pam.d/passwd",
    "/etc/pam.d/system-auth",
    "/usr/lib/pam.d/password-auth",
    "/etc/pam.d/fuzz-included",
    "/etc/security/fuzz.conf",
];

fuzz_target!(|data: &[u8]| {
    let texts = parts(data, FILES.len());
    let files: BTreeMap<String, String> = FILES
        .iter()
        .zip(&texts)
        .filter(|(_, t)| !t.is_empty())
        .map(|(p, t)| (p.to_string(), t.clone()))
        .collect();
    let policy = policy_from_files(&files, 1_750_000_000);

    let json = serde_json::to_string(&policy).expect("the section serializes");
    let back: PasswordPolicy = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("the collector cannot read the section: {e}\n{json}"));
    assert_eq!(back, policy, "the section changes on the wire");

    // A hash is the second shadow field; one that is also written
    // anywhere else in the input may legitimately be echoed from there.
    let shadow = files.get("/etc/shadow").map_or("", String::as_str);
    for line in shadow.lines() {
        let Some(hash) = line.split(':').nth(1) else {
            continue;
        };
        if hash.len() < 8 || data_mentions_elsewhere(&texts, shadow, line, hash) {
            continue;
        }
        assert!(
            !json.contains(hash),
            "a password hash leaks: {hash:?}\n{json}"
        );
    }
});

/// Whether `hash` occurs in the input outside its own shadow field.
fn data_mentions_elsewhere(texts: &[String], shadow: &str, line: &str, hash: &str) -> bool {
    let own_fields = line
        .split(':')
        .enumerate()
        .any(|(i, f)| i != 1 && f.contains(hash));
    let other_lines = shadow
        .lines()
        .filter(|l| *l != line)
        .any(|l| l.contains(hash));
    let other_files = texts[1..].iter().any(|t| t.contains(hash));
    own_fields || other_lines || other_files
}

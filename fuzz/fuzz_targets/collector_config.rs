//! The collector config file (every table: what start-up and a reload
//! validate) and the `[policy]` table on its own. Beyond "no panic": an
//! accepted policy is accepted again, unchanged, when it comes back as a
//! parsed table (the untyped `policy` field) or as re-serialized text.
#![no_main]

use std::path::Path;

use fleetwatch_collector::config::{Config, Overrides};
use fleetwatch_collector::policy::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/etc/fleetwatch/collector.toml");
    let whole = Config::from_file_text(text, path, Overrides::default());
    let policy = Policy::from_collector_config_str(text, "fuzz");
    if let Ok(config) = &whole {
        let policy = policy.as_ref().expect("a valid config has a valid policy");
        assert_eq!(&config.policy, policy, "the config's policy is the policy");
        // A reload compares the old config with the new one.
        let _ = config.restart_needed_for(config);
    }
    let Ok(policy) = policy else {
        return;
    };
    let doc: toml::Table = toml::from_str(text).expect("accepted text is TOML");
    if let Some(toml::Value::Table(table)) = doc.get("policy") {
        let again = Policy::from_table(table, "fuzz")
            .unwrap_or_else(|e| panic!("the parsed [policy] table is refused: {e}"));
        assert_eq!(
            again, policy,
            "the parsed [policy] table means something else"
        );
    }
});

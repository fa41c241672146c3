//! Whether the kernel's nftables ruleset filters incoming traffic, from
//! `nft -j list ruleset` (the JSON schema of libnftables-json(5)).
//!
//! The ruleset is the ground truth under every Linux front-end: ufw (through
//! iptables-nft) and firewalld both program it. Incoming traffic is filtered
//! when some base chain on the `input` hook of an `ip`, `ip6` or `inet`
//! table drops by policy, or ends in an unconditional `drop`/`reject` in
//! itself or a chain it jumps to (firewalld's "policy accept" chains end in
//! `reject with icmpx admin-prohibited`). A packet must pass every base
//! chain on a hook, so one filtering chain is enough.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde_json::Value;

/// The top-level `{"nftables": [...]}` object.
#[derive(Deserialize)]
struct Ruleset {
    nftables: Vec<Value>,
}

/// A chain object; base chains have `hook` and `policy`.
#[derive(Deserialize)]
struct Chain {
    family: String,
    table: String,
    name: String,
    #[serde(default)]
    hook: Option<String>,
    #[serde(default)]
    policy: Option<String>,
}

/// A rule object: its statements.
#[derive(Deserialize)]
struct Rule {
    family: String,
    table: String,
    chain: String,
    #[serde(default)]
    expr: Vec<Value>,
}

/// Families whose `input` hook sees traffic to this host.
const HOST_FAMILIES: [&str; 3] = ["ip", "ip6", "inet"];

/// Statements that do not make a rule conditional.
const UNCONDITIONAL_STATEMENTS: [&str; 3] = ["counter", "log", "comment"];

/// Whether the ruleset filters incoming traffic; `Err` names what could not
/// be parsed.
pub fn filters_input(json: &str) -> Result<bool, String> {
    let ruleset: Ruleset = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let mut chains = Vec::new();
    let mut rules: HashMap<(String, String, String), Vec<Vec<Value>>> = HashMap::new();
    for object in ruleset.nftables {
        let Value::Object(map) = object else { continue };
        if let Some(chain) = map.get("chain") {
            chains.push(Chain::deserialize(chain).map_err(|e| format!("chain: {e}"))?);
        } else if let Some(rule) = map.get("rule") {
            let rule = Rule::deserialize(rule).map_err(|e| format!("rule: {e}"))?;
            rules
                .entry((rule.family, rule.table, rule.chain))
                .or_default()
                .push(rule.expr);
        }
    }
    Ok(chains
        .iter()
        .filter(|c| {
            c.hook.as_deref() == Some("input") && HOST_FAMILIES.contains(&c.family.as_str())
        })
        .any(|c| {
            c.policy.as_deref() == Some("drop")
                || ends_in_a_drop(&rules, &c.family, &c.table, &c.name)
        }))
}

/// Whether `chain`, or a chain it jumps or goes to, has an unconditional
/// `drop` or `reject` rule.
fn ends_in_a_drop(
    rules: &HashMap<(String, String, String), Vec<Vec<Value>>>,
    family: &str,
    table: &str,
    chain: &str,
) -> bool {
    let mut seen = HashSet::new();
    let mut todo = vec![chain.to_string()];
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let key = (family.to_string(), table.to_string(), name);
        for expr in rules.get(&key).into_iter().flatten() {
            let mut conditional = false;
            for statement in expr {
                let Value::Object(map) = statement else {
                    continue;
                };
                for (kind, value) in map {
                    match kind.as_str() {
                        "drop" | "reject" if !conditional => return true,
                        "jump" | "goto" => {
                            if let Some(target) = value.get("target").and_then(Value::as_str) {
                                todo.push(target.to_string());
                            }
                        }
                        k if UNCONDITIONAL_STATEMENTS.contains(&k) => {}
                        _ => conditional = true,
                    }
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording(name: &str) -> String {
        let path = format!(
            "{}/../tests/hosts/recordings/nft/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn an_empty_ruleset_filters_nothing() {
        assert_eq!(filters_input(&recording("empty.json")), Ok(false));
    }

    #[test]
    fn debians_default_nftables_conf_accepts_everything() {
        // /etc/nftables.conf as Debian ships it: hooks with no policy, no rule.
        assert_eq!(filters_input(&recording("debian-default.json")), Ok(false));
    }

    #[test]
    fn a_drop_policy_filters() {
        assert_eq!(filters_input(&recording("server-drop.json")), Ok(true));
    }

    #[test]
    fn ufw_through_iptables_nft_filters() {
        assert_eq!(filters_input(&recording("ufw-active.json")), Ok(true));
    }

    #[test]
    fn firewalld_filters_with_its_final_reject() {
        // firewalld's input chain has policy accept and ends in a reject.
        assert_eq!(
            filters_input(&recording("firewalld-running.json")),
            Ok(true)
        );
    }

    #[test]
    fn a_conditional_drop_alone_does_not_filter() {
        let json = r#"{"nftables": [
            {"chain": {"family": "inet", "table": "t", "name": "in", "hook": "input", "policy": "accept"}},
            {"rule": {"family": "inet", "table": "t", "chain": "in", "expr": [
                {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "invalid"}},
                {"drop": null}]}},
            {"rule": {"family": "inet", "table": "t", "chain": "in", "expr": [{"jump": {"target": "more"}}]}},
            {"rule": {"family": "inet", "table": "t", "chain": "more", "expr": [{"counter": null}, {"accept": null}]}},
            {"rule": {"family": "inet", "table": "t", "chain": "more", "expr": [{"jump": {"target": "in"}}]}}
        ]}"#;
        assert_eq!(filters_input(json), Ok(false));
    }

    #[test]
    fn a_counted_reject_in_a_jumped_to_chain_filters() {
        let json = r#"{"nftables": [
            {"chain": {"family": "ip", "table": "t", "name": "in", "hook": "input", "policy": "accept"}},
            {"rule": {"family": "ip", "table": "t", "chain": "in", "expr": [{"goto": {"target": "zone"}}]}},
            {"rule": {"family": "ip", "table": "t", "chain": "zone", "expr": [{"counter": {"packets": 0, "bytes": 0}}, {"reject": null}]}}
        ]}"#;
        assert_eq!(filters_input(json), Ok(true));
    }

    #[test]
    fn other_hooks_and_families_do_not_count() {
        let json = r#"{"nftables": [
            {"chain": {"family": "inet", "table": "t", "name": "out", "hook": "output", "policy": "drop"}},
            {"chain": {"family": "bridge", "table": "b", "name": "in", "hook": "input", "policy": "drop"}},
            {"chain": {"family": "netdev", "table": "n", "name": "ing", "hook": "ingress", "policy": "drop"}}
        ]}"#;
        assert_eq!(filters_input(json), Ok(false));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(filters_input("Error: syntax error").is_err());
        assert!(filters_input(r#"{"nftables": [{"chain": {"family": 3}}]}"#).is_err());
    }
}

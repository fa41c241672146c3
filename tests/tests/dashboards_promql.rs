//! The Grafana dashboards: valid JSON with stable uids and a datasource
//! variable, every PromQL expression parses (Grafana variables substituted),
//! and every metric it names is one the collector exports.

mod support;

use std::collections::BTreeSet;

use support::dashboards::{
    DASHBOARDS, all_panels, dashboard_exprs, dashboard_metric_names, exported_metric_names,
    load_dashboard, metric_names_in, read_repo_file, substitute_grafana_vars,
    template_query_promql,
};

#[test]
fn dashboards_have_stable_uids_and_a_datasource_variable() {
    let expected = [
        ("dashboards/fleet-overview.json", "fleetwatch-fleet"),
        ("dashboards/compliance.json", "fleetwatch-compliance"),
        ("dashboards/device-detail.json", "fleetwatch-device"),
    ];
    for (rel, uid) in expected {
        let d = load_dashboard(rel);
        assert_eq!(d["uid"], uid, "{rel}: uid");
        let schema = d["schemaVersion"].as_u64().unwrap_or(0);
        assert!((36..=41).contains(&schema), "{rel}: schemaVersion {schema}");
        assert!(
            d["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{rel}: title"
        );
        let vars = d["templating"]["list"].as_array().expect("templating.list");
        let ds = vars
            .iter()
            .find(|v| v["name"] == "datasource")
            .unwrap_or_else(|| panic!("{rel}: no datasource variable"));
        assert_eq!(ds["type"], "datasource", "{rel}");
        assert_eq!(ds["query"], "prometheus", "{rel}");
        // No hard-coded datasource anywhere: panels, targets and query variables.
        for panel in all_panels(&d) {
            let title = panel["title"].as_str().unwrap_or("?");
            if panel["type"] == "row" {
                continue;
            }
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{rel} / {title}"
            );
            assert!(
                panel["gridPos"]["w"].as_u64().is_some(),
                "{rel} / {title}: gridPos"
            );
            for t in panel["targets"].as_array().into_iter().flatten() {
                assert_eq!(t["datasource"]["uid"], "${datasource}", "{rel} / {title}");
            }
        }
        for v in vars.iter().filter(|v| v["type"] == "query") {
            assert_eq!(
                v["datasource"]["uid"], "${datasource}",
                "{rel} / {}",
                v["name"]
            );
        }
        // Panel ids are unique within a dashboard.
        let ids: Vec<_> = all_panels(&d).iter().map(|p| p["id"].as_u64()).collect();
        let unique: BTreeSet<_> = ids.iter().collect();
        assert_eq!(ids.len(), unique.len(), "{rel}: duplicate panel ids");
    }
}

#[test]
fn every_dashboard_expression_parses() {
    let mut failures = Vec::new();
    let mut count = 0;
    for rel in DASHBOARDS {
        for e in dashboard_exprs(rel) {
            let Some(q) = &e.promql else { continue };
            count += 1;
            if let Err(err) = metric_names_in(q) {
                failures.push(format!("{}: {err}\n  raw: {}", e.location, e.raw));
            }
        }
    }
    assert!(
        count > 50,
        "only {count} expressions found; extraction broken?"
    );
    assert!(
        failures.is_empty(),
        "unparseable PromQL:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_dashboard_metric_is_exported() {
    let exported = exported_metric_names();
    let used = dashboard_metric_names();
    let unknown: Vec<_> = used.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "dashboards query metrics the collector does not export \
         (not in docs/operations.md's metrics reference): {unknown:?}"
    );
    // The dashboards cover the families the issue asks about.
    for must in [
        "fleetwatch_devices",
        "fleetwatch_device_compliant",
        "fleetwatch_fleet_devices_by_os",
        "fleetwatch_fleet_agents_by_version",
        "fleetwatch_fleet_checks",
        "fleetwatch_check_passing",
        "fleetwatch_check_failing_since_timestamp_seconds",
        "fleetwatch_device_info",
        "fleetwatch_patches_pending",
        "fleetwatch_backup_last_success_timestamp_seconds",
        "fleetwatch_password_policy_setting",
        "fleetwatch_device_last_seen_timestamp_seconds",
        "fleetwatch_disk_encrypted",
        "fleetwatch_firewall_enabled",
        "fleetwatch_antivirus_signature_timestamp_seconds",
        "fleetwatch_check_not_applicable",
    ] {
        assert!(used.contains(must), "no dashboard shows {must}");
    }
}

#[test]
fn fleet_dashboards_filter_by_os_family() {
    for rel in [
        "dashboards/fleet-overview.json",
        "dashboards/compliance.json",
    ] {
        let d = load_dashboard(rel);
        let var = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "os_family")
            .unwrap_or_else(|| panic!("{rel}: no os_family variable"));
        assert_eq!(
            var["definition"], "label_values(fleetwatch_device_info, os_family)",
            "{rel}"
        );
        assert_eq!(
            (var["multi"].as_bool(), var["includeAll"].as_bool()),
            (Some(true), Some(true))
        );
        let filtered = dashboard_exprs(rel)
            .iter()
            .filter(|e| {
                e.raw
                    .contains(r#"fleetwatch_device_info{os_family=~"$os_family"}"#)
            })
            .count();
        assert!(
            filtered >= 5,
            "{rel}: only {filtered} expressions filter by $os_family"
        );
    }
}

#[test]
fn device_detail_is_driven_by_the_device_variable() {
    let exprs = dashboard_exprs("dashboards/device-detail.json");
    let panel_exprs: Vec<_> = exprs
        .iter()
        .filter(|e| !e.location.contains("/ variable "))
        .collect();
    assert!(!panel_exprs.is_empty());
    for e in panel_exprs {
        assert!(
            e.raw.contains("$device_id"),
            "{}: not filtered by $device_id: {}",
            e.location,
            e.raw
        );
    }
    let vars: Vec<_> = exprs
        .iter()
        .filter(|e| e.location.contains("/ variable "))
        .collect();
    assert!(
        vars.iter().any(|v| v.location.ends_with("device_id")
            && v.promql
                .as_deref()
                .is_some_and(|q| q.starts_with("fleetwatch_device_info"))),
        "device_id variable must come from fleetwatch_device_info: {vars:?}"
    );
}

#[test]
fn grafana_variables_are_substituted() {
    assert_eq!(
        substitute_grafana_vars(
            r#"rate(x{device_id="$device_id",a=~"${check:regex}"}[$__rate_interval])"#
        ),
        r#"rate(x{device_id="x",a=~"x"}[5m])"#
    );
    assert_eq!(
        substitute_grafana_vars("x[${__range}] > $threshold"),
        "x[1d] > 1"
    );
    assert_eq!(substitute_grafana_vars(r#"y{h="a\"$b"}"#), r#"y{h="a\"x"}"#);
    assert_eq!(substitute_grafana_vars("a > [[threshold]]"), "a > 1");
    assert_eq!(
        template_query_promql(
            r#"label_values(fleetwatch_device_info{hostname="$hostname"}, device_id)"#
        )
        .as_deref(),
        Some(r#"fleetwatch_device_info{hostname="$hostname"}"#)
    );
    assert_eq!(template_query_promql("label_values(device_id)"), None);
    assert_eq!(
        template_query_promql("query_result(up == 1)").as_deref(),
        Some("up == 1")
    );
}

#[test]
fn metric_names_are_found_everywhere_in_an_expression() {
    let names = metric_names_in(
        r#"histogram_quantile(0.9, sum by (le) (rate(a_bucket[5m]))) / on() group_left count({__name__="b"}) and max_over_time(c[1h:5m])"#,
    )
    .unwrap();
    assert_eq!(
        names,
        BTreeSet::from(["a_bucket".into(), "b".into(), "c".into()])
    );
    assert!(metric_names_in("sum(").is_err());
    assert!(metric_names_in(r#"{__name__=~"fleetwatch_.*"}"#).is_err());
}

#[test]
fn provisioning_points_at_the_dashboards() {
    let dashboards: serde_norway::Value =
        serde_norway::from_str(&read_repo_file("dashboards/provisioning/dashboards.yml")).unwrap();
    let provider = &dashboards["providers"][0];
    assert_eq!(provider["type"], "file");
    let path = provider["options"]["path"].as_str().expect("options.path");
    assert!(
        path.starts_with('/'),
        "provider path must be absolute: {path}"
    );

    let datasources: serde_norway::Value =
        serde_norway::from_str(&read_repo_file("dashboards/provisioning/datasources.yml")).unwrap();
    let ds = &datasources["datasources"][0];
    assert_eq!(ds["type"], "prometheus");
    assert!(ds["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(ds["url"].as_str().is_some_and(|u| !u.is_empty()));

    // The compose file mounts every dashboard into the provider's path.
    let compose = read_repo_file("deploy/compose/compose.yml");
    for rel in DASHBOARDS {
        let file = rel.trim_start_matches("dashboards/");
        assert!(
            compose.contains(&format!("../../{rel}:{path}/{file}")),
            "compose.yml does not mount {rel} into {path}"
        );
    }
}

//! Reading the shipped dashboards, rules and metrics reference, and the PromQL
//! checks on them.
//!
//! The exported metric list is parsed from the metrics reference table in
//! `docs/operations.md` until the tests compare against a real scrape;
//! [`dashboard_metric_names`] gives the other side of that comparison.

use std::collections::BTreeSet;
use std::process::Command;

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};
use serde_json::Value as Json;

use fleetwatch_e2e::workspace_root;

/// Reads a file under the workspace root, failing the test with its path.
pub fn read_repo_file(rel: &str) -> String {
    let path = workspace_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Runs a command and returns (success, stdout + stderr).
pub fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// One metric family from the reference table in `docs/operations.md`.
#[derive(Debug, Clone)]
pub struct MetricFamily {
    /// Family name, e.g. `fleetwatch_collector_ingest_duration_seconds`.
    pub name: String,
    /// Prometheus type as written in the table: gauge, counter, histogram.
    pub kind: String,
}

/// The metric families listed in the metrics reference of `docs/operations.md`.
pub fn exported_metric_families() -> Vec<MetricFamily> {
    let doc = read_repo_file("docs/operations.md");
    let section = doc
        .split("\n## Metrics reference")
        .nth(1)
        .expect("docs/operations.md has a `## Metrics reference` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut families = Vec::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `name` | type | labels | meaning |
        if cells.len() < 5 {
            continue;
        }
        let Some(name) = cells[1].strip_prefix('`').and_then(|c| c.strip_suffix('`')) else {
            continue;
        };
        families.push(MetricFamily {
            name: name.to_string(),
            kind: cells[2].to_string(),
        });
    }
    assert!(
        families.len() >= 30,
        "metrics reference table in docs/operations.md looks truncated: {families:?}"
    );
    families
}

/// Every series name the collector exports: the families, with `_bucket`,
/// `_sum` and `_count` for histograms (and summaries).
pub fn exported_metric_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for family in exported_metric_families() {
        if family.kind == "histogram" || family.kind == "summary" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{}{suffix}", family.name));
            }
            if family.kind == "summary" {
                names.insert(family.name.clone());
            }
        } else {
            names.insert(family.name.clone());
        }
    }
    names
}

/// Stand-in values for Grafana's built-in variables in PromQL.
const GRAFANA_BUILTINS: &[(&str, &str)] = &[
    ("__rate_interval", "5m"),
    ("__interval", "1m"),
    ("__interval_ms", "60000"),
    ("__range", "1d"),
    ("__range_s", "86400"),
    ("__range_ms", "86400000"),
];

/// Replaces Grafana variables (`$var`, `${var}`, `${var:format}`, `[[var]]`)
/// so the text becomes plain PromQL: built-ins get representative durations
/// or numbers, user variables become `x` inside string literals (label
/// values, regexes) and `1` elsewhere.
pub fn substitute_grafana_vars(expr: &str) -> String {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len());
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == '\\' && i + 1 < chars.len() {
                out.push(c);
                out.push(chars[i + 1]);
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
        } else if c == '"' || c == '\'' || c == '`' {
            quote = Some(c);
            out.push(c);
            i += 1;
            continue;
        }
        let var = if c == '$' && chars.get(i + 1) == Some(&'{') {
            chars[i + 2..].iter().position(|&ch| ch == '}').map(|end| {
                let inner: String = chars[i + 2..i + 2 + end].iter().collect();
                let name = inner.split(':').next().unwrap_or("").to_string();
                (name, end + 3)
            })
        } else if c == '$' {
            let len = chars[i + 1..]
                .iter()
                .take_while(|ch| ch.is_ascii_alphanumeric() || **ch == '_')
                .count();
            (len > 0).then(|| (chars[i + 1..i + 1 + len].iter().collect(), len + 1))
        } else if c == '[' && chars.get(i + 1) == Some(&'[') {
            chars[i + 2..]
                .windows(2)
                .position(|w| w == [']', ']'])
                .map(|end| (chars[i + 2..i + 2 + end].iter().collect(), end + 4))
        } else {
            None
        };
        match var {
            Some((name, len)) => {
                let builtin = GRAFANA_BUILTINS.iter().find(|(n, _)| *n == name);
                let value = match (builtin, quote) {
                    (Some((_, v)), _) => v,
                    (None, Some(_)) => "x",
                    (None, None) => "1",
                };
                out.push_str(value);
                i += len;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Parses PromQL and returns the metric names its selectors reference.
pub fn metric_names_in(expr: &str) -> Result<BTreeSet<String>, String> {
    let ast = parser::parse(expr).map_err(|e| format!("{e} in `{expr}`"))?;
    let mut names = BTreeSet::new();
    collect_names(&ast, &mut names)?;
    Ok(names)
}

fn selector_name(vs: &parser::VectorSelector) -> Result<String, String> {
    if let Some(name) = &vs.name {
        return Ok(name.clone());
    }
    vs.matchers
        .matchers
        .iter()
        .find(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
        .map(|m| m.value.clone())
        .ok_or_else(|| format!("selector `{vs}` has no fixed metric name"))
}

fn collect_names(expr: &Expr, names: &mut BTreeSet<String>) -> Result<(), String> {
    match expr {
        Expr::Aggregate(a) => {
            collect_names(&a.expr, names)?;
            if let Some(p) = &a.param {
                collect_names(p, names)?;
            }
        }
        Expr::Unary(u) => collect_names(&u.expr, names)?,
        Expr::Binary(b) => {
            collect_names(&b.lhs, names)?;
            collect_names(&b.rhs, names)?;
        }
        Expr::Paren(p) => collect_names(&p.expr, names)?,
        Expr::Subquery(s) => collect_names(&s.expr, names)?,
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        Expr::VectorSelector(vs) => {
            names.insert(selector_name(vs)?);
        }
        Expr::MatrixSelector(ms) => {
            names.insert(selector_name(&ms.vs)?);
        }
        Expr::Call(call) => {
            for arg in &call.args.args {
                collect_names(arg, names)?;
            }
        }
        Expr::Extension(_) => return Err("unexpected extension node".into()),
    }
    Ok(())
}

/// The shipped dashboards (path relative to the workspace root).
pub const DASHBOARDS: &[&str] = &[
    "dashboards/fleet-overview.json",
    "dashboards/compliance.json",
    "dashboards/device-detail.json",
];

/// A dashboard, parsed.
pub fn load_dashboard(rel: &str) -> Json {
    serde_json::from_str(&read_repo_file(rel))
        .unwrap_or_else(|e| panic!("{rel}: invalid JSON: {e}"))
}

/// Every panel, including panels nested in collapsed rows.
pub fn all_panels(dashboard: &Json) -> Vec<&Json> {
    fn walk<'a>(panels: &'a Json, out: &mut Vec<&'a Json>) {
        for p in panels.as_array().into_iter().flatten() {
            out.push(p);
            if let Some(nested) = p.get("panels") {
                walk(nested, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Some(panels) = dashboard.get("panels") {
        walk(panels, &mut out);
    }
    out
}

/// One PromQL expression found in a dashboard.
#[derive(Debug, Clone)]
pub struct DashboardExpr {
    /// Where it was found: `file / panel title / refId` or `file / variable name`.
    pub location: String,
    /// The expression as written, Grafana variables included.
    pub raw: String,
    /// PromQL after variable substitution; `None` for a template query that
    /// names no metric (e.g. `label_values(job)`).
    pub promql: Option<String>,
}

/// Turns a Grafana Prometheus variable query into the PromQL it evaluates:
/// `label_values(expr, label)` -> `expr`, `query_result(expr)` -> `expr`,
/// `label_values(label)` / `label_names()` / `metrics(re)` -> none.
pub fn template_query_promql(query: &str) -> Option<String> {
    let q = query.trim();
    let inner = |prefix: &str| {
        q.strip_prefix(prefix)
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix('('))
            .and_then(|rest| rest.strip_suffix(')'))
            .map(str::trim)
    };
    if let Some(args) = inner("label_values") {
        // The label is the last top-level argument.
        let (mut depth, mut split) = (0i32, None);
        for (idx, ch) in args.char_indices() {
            match ch {
                '(' | '{' | '[' => depth += 1,
                ')' | '}' | ']' => depth -= 1,
                ',' if depth == 0 => split = Some(idx),
                _ => {}
            }
        }
        return split.map(|idx| args[..idx].trim().to_string());
    }
    if let Some(expr) = inner("query_result") {
        return Some(expr.to_string());
    }
    if q.starts_with("label_names") || q.starts_with("metrics") {
        return None;
    }
    Some(q.to_string())
}

/// Every PromQL expression of one dashboard: panel targets and Prometheus
/// query variables, with Grafana variables substituted.
pub fn dashboard_exprs(rel: &str) -> Vec<DashboardExpr> {
    let dashboard = load_dashboard(rel);
    let mut exprs = Vec::new();
    for panel in all_panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let Some(raw) = target["expr"].as_str() else {
                continue;
            };
            exprs.push(DashboardExpr {
                location: format!(
                    "{rel} / {title} / {}",
                    target["refId"].as_str().unwrap_or("?")
                ),
                raw: raw.to_string(),
                promql: Some(substitute_grafana_vars(raw)),
            });
        }
    }
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if var["type"] != "query" {
            continue;
        }
        // Newer Grafana stores {query: "..."}; older a plain string.
        let raw = match &var["query"] {
            Json::String(s) => s.clone(),
            Json::Object(o) => o
                .get("query")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => continue,
        };
        exprs.push(DashboardExpr {
            location: format!("{rel} / variable {}", var["name"].as_str().unwrap_or("?")),
            promql: template_query_promql(&raw).map(|q| substitute_grafana_vars(&q)),
            raw,
        });
    }
    exprs
}

/// Every metric name the shipped dashboards query. Compare it with the
/// families of a real `/metrics` scrape: each name must be exported.
/// Panics if an expression does not parse.
pub fn dashboard_metric_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for rel in DASHBOARDS {
        for e in dashboard_exprs(rel) {
            if let Some(q) = &e.promql {
                let found =
                    metric_names_in(q).unwrap_or_else(|err| panic!("{}: {err}", e.location));
                names.extend(found);
            }
        }
    }
    names
}

/// A rule from a Prometheus rule file.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `alert` or `record` name.
    pub name: String,
    /// True for alerting rules.
    pub is_alert: bool,
    /// The PromQL expression.
    pub expr: String,
    /// The rule's full YAML mapping.
    pub yaml: serde_norway::Value,
}

/// Every rule of a rule file (path relative to the workspace root).
pub fn load_rules(rel: &str) -> Vec<Rule> {
    let doc: serde_norway::Value = serde_norway::from_str(&read_repo_file(rel))
        .unwrap_or_else(|e| panic!("{rel}: invalid YAML: {e}"));
    let mut rules = Vec::new();
    for group in doc["groups"].as_sequence().expect("groups list") {
        for rule in group["rules"].as_sequence().expect("rules list") {
            let (name, is_alert) = match (rule["alert"].as_str(), rule["record"].as_str()) {
                (Some(a), _) => (a.to_string(), true),
                (None, Some(r)) => (r.to_string(), false),
                _ => panic!("{rel}: rule without alert or record: {rule:?}"),
            };
            rules.push(Rule {
                name,
                is_alert,
                expr: rule["expr"].as_str().expect("expr string").to_string(),
                yaml: rule.clone(),
            });
        }
    }
    rules
}

/// GitHub-style anchors of the Markdown headings in a document.
pub fn markdown_anchors(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

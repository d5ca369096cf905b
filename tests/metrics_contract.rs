//! The metrics contract (`docs/metrics.md`) against what the processes really serve.
//!
//! - `run_serves_exactly_the_documented_metrics`: a small `wirewatch run` (feeds and webhook on
//!   127.0.0.1), scraped after the stories went through: every metric marked `always` is
//!   there, every metric served is documented with its type and exact label names, and each
//!   stage's own metrics carry their `stage` label value.
//! - `each_service_over_kafka_serves_its_documented_metrics`: the same check per service,
//!   each `wirewatch serve <stage>` on a real broker (`WIREWATCH_TEST_KAFKA`), including the
//!   Kafka client series (consumer lag per partition, produce in-flight).
//! - `dashboard_and_rules_name_only_documented_metrics`: the Grafana dashboard is valid JSON
//!   with a schema version, and every metric named in it or in the Prometheus rules is
//!   documented.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;
use std::time::Duration;

use support::*;

/// One row of a table in docs/metrics.md.
#[derive(Debug)]
struct Documented {
    kind: String,
    labels: BTreeSet<String>,
    presence: String,
}

fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

/// The metric tables of docs/metrics.md: rows with six cells whose first is a backticked name.
fn documented() -> BTreeMap<String, Documented> {
    let text = std::fs::read_to_string(root().join("docs/metrics.md")).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if cells.len() != 6 || !cells[0].starts_with('`') {
            continue;
        }
        let name = backticked(cells[0]).remove(0);
        let kind = cells[1].to_string();
        assert!(
            ["counter", "gauge", "histogram"].contains(&kind.as_str()),
            "docs/metrics.md: {name} has type {kind}"
        );
        let presence = cells[4].to_string();
        assert!(
            ["always", "on-use", "kafka"].contains(&presence.as_str()),
            "docs/metrics.md: {name} has presence {presence}"
        );
        let labels = backticked(cells[3]).into_iter().collect();
        let prev = out.insert(
            name.clone(),
            Documented {
                kind,
                labels,
                presence,
            },
        );
        assert!(prev.is_none(), "docs/metrics.md lists {name} twice");
    }
    assert!(
        out.len() > 30,
        "docs/metrics.md: only {} metrics parsed",
        out.len()
    );
    out
}

/// Recording rule names from the table under "## Recording rules".
fn documented_recording_rules() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("docs/metrics.md")).unwrap();
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            (cells.len() == 2 && cells[0].starts_with("`wirewatch:"))
                .then(|| backticked(cells[0]).remove(0))
        })
        .collect()
}

/// One sample of the exposition: metric name and labels.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
}

/// Parse the Prometheus text format: `# TYPE` lines give families and types; samples give
/// label sets. Label values are parsed with their escapes.
fn parse_exposition(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let (n, t) = (it.next().unwrap(), it.next().unwrap());
            types.insert(n.to_string(), t.to_string());
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => (&line[..i], &line[i..]),
            None => panic!("bad exposition line: {line}"),
        };
        let mut labels = BTreeMap::new();
        if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.chars().peekable();
            loop {
                let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                assert_eq!(chars.next(), Some('"'), "bad labels in {line}");
                let mut val = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => val.push(chars.next().unwrap()),
                        '"' => break,
                        c => val.push(c),
                    }
                }
                labels.insert(key.trim_start_matches(',').to_string(), val);
                match chars.next() {
                    Some(',') if chars.peek() == Some(&'}') => break,
                    Some(',') => continue,
                    Some('}') => break,
                    other => panic!("bad labels in {line}: {other:?}"),
                }
            }
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
        });
    }
    (types, samples)
}

/// The family a sample belongs to (histogram samples carry a suffix).
fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    if types.contains_key(name) {
        return name;
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types.get(base).map(String::as_str) == Some("histogram") {
                return base;
            }
        }
    }
    name
}

/// Check one scrape against the contract. `must` says which presences must be there.
/// Returns the families served.
fn check_scrape(
    who: &str,
    text: &str,
    docs: &BTreeMap<String, Documented>,
    must: &[&str],
) -> BTreeSet<String> {
    let (types, samples) = parse_exposition(text);
    let mut problems = Vec::new();
    let mut served = BTreeSet::new();
    for s in &samples {
        let fam = family_of(&s.name, &types);
        served.insert(fam.to_string());
        let Some(d) = docs.get(fam) else {
            problems.push(format!("undocumented metric {fam}"));
            continue;
        };
        if types.get(fam) != Some(&d.kind) {
            problems.push(format!(
                "{fam}: served as {:?}, documented as {}",
                types.get(fam),
                d.kind
            ));
        }
        let mut names: BTreeSet<String> = s.labels.keys().cloned().collect();
        if s.name.ends_with("_bucket") && d.kind == "histogram" {
            names.remove("le");
        }
        if names != d.labels {
            problems.push(format!(
                "{}: labels {names:?}, documented {:?}",
                s.name, d.labels
            ));
        }
        // A stage's own metrics carry that stage's name.
        for stage in ["fetcher", "dedup", "classifier", "alerter", "store"] {
            if fam.starts_with(&format!("wirewatch_{stage}_"))
                && s.labels.get("stage").map(String::as_str) != Some(stage)
            {
                problems.push(format!(
                    "{}: stage label {:?}",
                    s.name,
                    s.labels.get("stage")
                ));
            }
        }
    }
    for (name, d) in docs {
        if must.contains(&d.presence.as_str()) && !served.contains(name) {
            problems.push(format!(
                "documented {} metric {name} is not served",
                d.presence
            ));
        }
    }
    problems.sort();
    problems.dedup();
    assert!(
        problems.is_empty(),
        "{who}: /metrics breaks docs/metrics.md:\n  {}",
        problems.join("\n  ")
    );
    served
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_exactly_the_documented_metrics() {
    let docs = documented();
    let feeds = FeedServer::start(scenario_feeds()).await;
    let hook = Webhook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let paths = ["/seed.xml", "/syndicated.xml", "/heise.atom"];
    let feed_list: Vec<(&str, String)> = paths
        .iter()
        .map(|p| {
            (
                p.trim_start_matches('/').split('.').next().unwrap(),
                feeds.url(p),
            )
        })
        .collect();
    let port = free_port();
    let config = write_config(
        dir.path(),
        &feed_list,
        &hook.url(),
        &format!("[http]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    let mut n = 0;
    for p in paths {
        n += inspect_ids(&feeds.url(p), &config).len() as u64;
    }
    let api = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("run.log");
    let mut child = spawn(&["run"], &config, &[], &log);
    let guard = KillOnDrop(Some(&mut child));
    wait_for(
        "every story stored or linked",
        Duration::from_secs(90),
        || {
            let api = api.clone();
            async move { stored_or_linked(&api, n).await.map(|_| ()) }
        },
    )
    .await;
    // The seed story matches the test subscription: wait for its alert.
    wait_for("the seed story's alert", Duration::from_secs(30), || {
        let url = format!("{api}/metrics");
        async move {
            let m = get_text(&url).await?;
            (metric_sum(
                &m,
                "wirewatch_pipeline_latency_seconds_count",
                &["milestone=\"alerted\""],
            ) >= 1.0)
                .then_some(())
        }
    })
    .await;
    let text = get_text(&format!("{api}/metrics")).await.unwrap();
    let served = check_scrape("wirewatch run", &text, &docs, &["always"]);
    // After a run, the on-use series exist too.
    for name in [
        "wirewatch_bus_messages_produced_total",
        "wirewatch_bus_messages_consumed_total",
        "wirewatch_pipeline_latency_seconds",
    ] {
        assert!(served.contains(name), "{name} not served after a run");
    }
    // In-process mode serves no Kafka client series.
    assert!(!served.contains("wirewatch_bus_consumer_lag_messages"));
    // Values that follow from the input.
    assert_eq!(
        metric_sum(&text, "wirewatch_fetcher_stories_published_total", &[]),
        n as f64
    );
    assert_eq!(metric_sum(&text, "wirewatch_build_info", &[]), 1.0);
    assert!(metric_sum(&text, "process_start_time_seconds", &[]) > 1.0e9);
    drop(guard);
    let status = interrupt(&mut child, Duration::from_secs(30));
    assert!(status.success(), "wirewatch run exited with {status}");
}

/// Kills the child if the test panics before its orderly stop.
struct KillOnDrop<'a>(Option<&'a mut Child>);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(c) = self.0.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_over_kafka_serves_its_documented_metrics() {
    let Some(bootstrap) = kafka_broker("per-service metrics contract over Kafka") else {
        return;
    };
    let docs = documented();
    let prefix = unique_name("m");
    let feeds = FeedServer::start(scenario_feeds()).await;
    let hook = Webhook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let feed_list = vec![
        ("seed", feeds.url("/seed.xml")),
        ("syndicated", feeds.url("/syndicated.xml")),
    ];
    let config = write_config(
        dir.path(),
        &feed_list,
        &hook.url(),
        &format!(
            "[bus]\ntopic_prefix = \"{prefix}\"\nretry_initial_ms = 100\nretry_max_ms = 2000\n\n[bus.kafka]\nbootstrap_servers = \"{bootstrap}\"\ngroup_prefix = \"{}\"\nsession_timeout_ms = 6000\ncommit_interval_ms = 200\npartitions = 2\nstatistics_interval_ms = 500\n",
            unique_name("g")
        ),
    );
    let out = wirewatch_tool(&["topics", "create"], &config);
    assert!(out.status.success(), "topics create: {out:?}");
    let stages = ["store", "alerter", "classifier", "dedup", "fetcher"];
    let mut children = Children(Vec::new());
    let mut ports = Vec::new();
    for stage in stages {
        let port = free_port();
        children.0.push(spawn(
            &["serve", stage],
            &config,
            &[("WIREWATCH__HTTP__LISTEN", format!("127.0.0.1:{port}"))],
            &dir.path().join(format!("{stage}.log")),
        ));
        ports.push(port);
    }
    let store_api = format!("http://127.0.0.1:{}", ports[0]);
    wait_for(
        "both stories stored or linked",
        Duration::from_secs(120),
        || {
            let api = store_api.clone();
            let n = 2_u64;
            async move { stored_or_linked(&api, n).await.map(|_| ()) }
        },
    )
    .await;
    for (stage, port) in stages.iter().zip(&ports) {
        let url = format!("http://127.0.0.1:{port}/metrics");
        // Consumers report lag once librdkafka's statistics came in (every 500 ms here).
        let wanted = |t: &str| {
            t.contains("wirewatch_bus_produce_in_flight_messages{")
                && (*stage == "fetcher" || t.contains("wirewatch_bus_consumer_lag_messages{"))
        };
        let mut text = String::new();
        for _ in 0..150 {
            text = get_text(&url).await.unwrap_or_default();
            if wanted(&text) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let bus_lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("wirewatch_bus_"))
            .collect();
        assert!(
            wanted(&text),
            "serve {stage}: no Kafka client series after 30 s; bus series:\n{}",
            bus_lines.join("\n")
        );
        let served = check_scrape(&format!("serve {stage}"), &text, &docs, &[]);
        // Each service serves its own always-present series and the shared process ones.
        for (name, d) in &docs {
            let own = name.starts_with(&format!("wirewatch_{stage}_"))
                || name.starts_with("process_")
                || name == "wirewatch_build_info";
            if own && d.presence == "always" {
                assert!(served.contains(name), "serve {stage}: {name} missing");
            }
        }
        if *stage != "fetcher" {
            assert!(text.contains(&format!("stage=\"{stage}\"")));
            // Both stories are consumed and acknowledged: lag is 0 on every partition.
            let lag = metric_sum(
                &text,
                "wirewatch_bus_consumer_lag_messages",
                &[&format!("stage=\"{stage}\"")],
            );
            assert!(lag >= 0.0, "serve {stage}: lag {lag}");
        }
    }
}

/// Metric names (`wirewatch_…`, `process_…`) and recording rules (`wirewatch:…`) in a text.
fn names_in(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut metrics = BTreeSet::new();
    let mut rules = BTreeSet::new();
    let bytes = text.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let mut i = 0;
    while i < bytes.len() {
        if (i == 0 || !is_ident(bytes[i - 1])) && is_ident(bytes[i]) {
            let start = i;
            while i < bytes.len() && is_ident(bytes[i]) {
                i += 1;
            }
            let tok = &text[start..i];
            if tok.starts_with("wirewatch:") {
                rules.insert(tok.to_string());
            } else if tok.starts_with("wirewatch_") || tok.starts_with("process_") {
                metrics.insert(tok.to_string());
            }
        } else {
            i += 1;
        }
    }
    (metrics, rules)
}

fn undocumented(
    file: &str,
    text: &str,
    docs: &BTreeMap<String, Documented>,
    rules: &BTreeSet<String>,
) -> Vec<String> {
    let (metrics, used_rules) = names_in(text);
    let mut bad = Vec::new();
    for m in metrics {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                m.strip_suffix(s)
                    .filter(|b| docs.get(*b).is_some_and(|d| d.kind == "histogram"))
            })
            .unwrap_or(&m);
        if !docs.contains_key(base) {
            bad.push(format!("{file}: metric {m}"));
        }
    }
    for r in used_rules {
        if !rules.contains(&r) {
            bad.push(format!("{file}: recording rule {r}"));
        }
    }
    bad
}

#[test]
fn dashboard_and_rules_name_only_documented_metrics() {
    let docs = documented();
    let rules = documented_recording_rules();
    assert!(rules.len() >= 5, "recording rules table not parsed");
    let mut bad = Vec::new();

    let dash_path = root().join("deploy/grafana/wirewatch.json");
    let dash_text = std::fs::read_to_string(&dash_path).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&dash_text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", dash_path.display()));
    let schema = dash["schemaVersion"].as_u64().expect("schemaVersion");
    assert!(schema >= 36, "schemaVersion {schema} predates Grafana 9");
    assert!(dash["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(dash["uid"].as_str().is_some_and(|t| !t.is_empty()));
    let panels = dash["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut exprs = String::new();
    let mut titles = Vec::new();
    for p in panels {
        let id = p["id"].as_u64().expect("panel id");
        assert!(ids.insert(id), "panel id {id} twice");
        let title = p["title"].as_str().expect("panel title");
        titles.push(title.to_lowercase());
        for k in ["h", "w", "x", "y"] {
            assert!(p["gridPos"][k].is_u64(), "panel {title}: gridPos.{k}");
        }
        if p["type"] == "row" {
            continue;
        }
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("panel {title}: targets"));
        assert!(!targets.is_empty(), "panel {title} has no query");
        for t in targets {
            let e = t["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("panel {title}: expr"));
            assert!(!e.trim().is_empty());
            exprs.push_str(e);
            exprs.push('\n');
        }
    }
    for topic in [
        "intake", "dedup", "topic", "alert", "latency", "lag", "feed",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(topic)),
            "no dashboard panel about {topic}: {titles:?}"
        );
    }
    bad.extend(undocumented(
        "deploy/grafana/wirewatch.json",
        &exprs,
        &docs,
        &rules,
    ));

    let rules_dir = root().join("deploy/prometheus/rules");
    let mut defined = BTreeSet::new();
    for entry in std::fs::read_dir(&rules_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".yml") || name.ends_with("_test.yml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            if let Some(r) = line.trim().strip_prefix("- record:") {
                defined.insert(r.trim().to_string());
            }
        }
        bad.extend(undocumented(&name, &text, &docs, &rules));
    }
    // Every alert has a promtool unit test and a section in the operator docs.
    let alerts_text = std::fs::read_to_string(rules_dir.join("wirewatch.alerts.yml")).unwrap();
    let tests_text =
        std::fs::read_to_string(root().join("deploy/prometheus/tests/alerts_test.yml")).unwrap();
    let ops = std::fs::read_to_string(root().join("docs/operations.md")).unwrap();
    let alerts: Vec<&str> = alerts_text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:").map(str::trim))
        .collect();
    assert!(alerts.len() >= 10, "alerting rules not parsed");
    for a in &alerts {
        if !tests_text.contains(&format!("alertname: {a}\n")) {
            bad.push(format!(
                "alert {a} has no test in deploy/prometheus/tests/alerts_test.yml"
            ));
        }
        if !ops.contains(&format!("### {a}\n")) {
            bad.push(format!(
                "alert {a} has no section \"### {a}\" in docs/operations.md"
            ));
        }
    }
    assert_eq!(
        defined, rules,
        "recording rules defined in deploy/prometheus/rules differ from docs/metrics.md"
    );
    assert!(
        bad.is_empty(),
        "names not in docs/metrics.md:\n  {}",
        bad.join("\n  ")
    );
}

/// Every file under `dir`, recursively, with its text.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            out.push((path, text));
        }
    }
    out
}

/// `${VAR:-default}` → `default` (compose interpolation), everywhere in `s`.
fn interpolate_defaults(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let Some(end) = rest[i..].find('}') else {
            break;
        };
        let inner = &rest[i + 2..i + end];
        out.push_str(inner.split_once(":-").map(|(_, d)| d).unwrap_or(""));
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    out
}

/// `WIREWATCH__…` variables set in the deployment files, with a value where the file gives
/// one (`NAME: value`, `NAME=value`; k8s `valueFrom` gives none).
fn deploy_env_vars(files: &[(std::path::PathBuf, String)]) -> BTreeMap<String, Option<String>> {
    let mut vars = BTreeMap::new();
    for (_, text) in files {
        for line in text.lines() {
            let Some(i) = line.find("WIREWATCH__") else {
                continue;
            };
            let tail = &line[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..end];
            let after = tail[end..].trim_start_matches(['"', '\'']).trim_start();
            let value = after
                .strip_prefix(':')
                .or_else(|| after.strip_prefix('='))
                .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
                .filter(|v| !v.is_empty() && !v.starts_with('#'))
                .map(|v| interpolate_defaults(v.split(" #").next().unwrap_or("").trim()));
            let slot = vars.entry(name.to_string()).or_insert(None);
            if slot.is_none() {
                *slot = value;
            }
        }
    }
    vars
}

/// The block scalar under `  <key>: |` in a YAML file (ConfigMap/Secret data), dedented.
fn yaml_block(text: &str, key: &str) -> String {
    let mut lines = text.lines().skip_while(|l| l.trim() != format!("{key}: |"));
    let head = lines.next().unwrap_or_else(|| panic!("no block {key}"));
    let indent = head.len() - head.trim_start().len() + 2;
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent)
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn check_config(config: Option<&std::path::Path>, env: &[(String, String)]) -> (bool, String) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_wirewatch"));
    c.arg("check-config")
        .current_dir(root())
        .env_remove("WIREWATCH_CONFIG");
    if let Some(p) = config {
        c.arg("--config").arg(p);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn deploy_files_use_only_real_commands_and_config_keys() {
    let files = files_under(&root().join("deploy"));
    // Every WIREWATCH__ variable is a real config key and its value parses.
    let vars = deploy_env_vars(&files);
    for must in [
        "WIREWATCH__HTTP__LISTEN",
        "WIREWATCH__BUS__KAFKA__BOOTSTRAP_SERVERS",
        "WIREWATCH__DATA_DIR",
    ] {
        assert!(vars.contains_key(must), "deploy/ never sets {must}");
    }
    for (name, value) in &vars {
        let value = value.clone().unwrap_or_else(|| match name.as_str() {
            // Secrets come from valueFrom in k8s: any URL-shaped string parses.
            "WIREWATCH__STORE__URL" => "postgres://u:p@db:5432/wirewatch".to_string(),
            _ => panic!("deploy/: {name} has no value to check"),
        });
        let (ok, out) = check_config(None, &[(name.clone(), value.clone())]);
        assert!(
            ok,
            "deploy/: {name}={value} is rejected by the binary:\n{out}"
        );
    }
    // Every `serve <stage>` names a stage the binary has.
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_wirewatch"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    let mut served = BTreeSet::new();
    for (path, text) in &files {
        let flat = text.replace(['"', '[', ']', ','], " ");
        let words: Vec<&str> = flat.split_whitespace().collect();
        for w in words.windows(2) {
            if w[0] == "serve" && w[1].chars().all(|c| c.is_ascii_lowercase()) && w[1].len() > 2 {
                assert!(
                    help.contains(w[1]),
                    "{}: `serve {}` is not a stage of the binary",
                    path.display(),
                    w[1]
                );
                served.insert(w[1].to_string());
            }
        }
    }
    for stage in ["fetcher", "dedup", "classifier", "alerter", "store"] {
        assert!(served.contains(stage), "no deployment file serves {stage}");
    }
    // The Kubernetes site config is a valid config with its feeds and subscriptions.
    let k8s = root().join("deploy/k8s");
    let cm = std::fs::read_to_string(k8s.join("configmap.yaml")).unwrap();
    let secret = std::fs::read_to_string(k8s.join("secret.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().display().to_string();
    let toml = yaml_block(&cm, "wirewatch.toml")
        .replace("/etc/wirewatch/site", &site)
        .replace("/etc/wirewatch/secret", &site)
        .replace("/var/lib/wirewatch", &format!("{site}/data"));
    std::fs::write(dir.path().join("wirewatch.toml"), toml).unwrap();
    std::fs::write(dir.path().join("feeds.toml"), yaml_block(&cm, "feeds.toml")).unwrap();
    std::fs::write(
        dir.path().join("subscriptions.toml"),
        yaml_block(&secret, "subscriptions.toml"),
    )
    .unwrap();
    let (ok, out) = check_config(Some(&dir.path().join("wirewatch.toml")), &[]);
    assert!(
        ok,
        "deploy/k8s/configmap.yaml wirewatch.toml is rejected:\n{out}"
    );
}

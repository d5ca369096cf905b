//! The command-line tools, run as a user would: the real binary, real files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use support::*;

fn wirewatch(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wirewatch"));
    c.args(args)
        .current_dir(root())
        .env_remove("WIREWATCH_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        pipe.write_all(s.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn shipped_config_checks_clean() {
    let o = wirewatch(&["check-config"], &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("ok"));
}

#[test]
fn check_config_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, "[fetcher]\ninterval = 5\n").unwrap();
    let o = wirewatch(
        &["--config", p.to_str().unwrap(), "check-config"],
        &[],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("fetcher"), "{}", stderr(&o));
    assert!(stderr(&o).contains("interval"), "{}", stderr(&o));
}

#[test]
fn environment_overrides_the_file() {
    let o = wirewatch(
        &["topics", "list"],
        &[("WIREWATCH__BUS__TOPIC_PREFIX", "envprefix")],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("envprefix.stories.raw.v1"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("envprefix.deadletter.v1"));
}

#[test]
fn classify_minimal_lines_and_reports_bad_ones() {
    let (title, body) = seed_article();
    let good = serde_json::json!({"id": "seed", "title": title, "summary": body}).to_string();
    let input = format!(
        "{good}\nnot json\n{}\n",
        serde_json::json!({"id": "2", "title": "Kremlin says talks in Istanbul failed"})
    );
    let o = wirewatch(&["classify"], &[], Some(&input));
    assert_eq!(
        o.status.code(),
        Some(1),
        "a bad line makes the exit code non-zero"
    );
    assert!(stderr(&o).contains("line 2"), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "the good lines are still classified");
    let seed = &lines[0];
    assert_eq!(seed["id"], "seed");
    for c in ["UA", "RU", "TR", "US"] {
        assert!(
            seed["countries"].as_array().unwrap().iter().any(|x| x == c),
            "{c}: {seed}"
        );
    }
    let topics = seed["topics"].as_array().unwrap();
    for t in ["diplomacy", "conflict"] {
        let m = topics
            .iter()
            .find(|x| x["id"] == t)
            .unwrap_or_else(|| panic!("topic {t}: {topics:?}"));
        assert!(m["iptc"].as_str().unwrap().starts_with("medtop:"));
        assert!(m["iptc_top"].as_str().unwrap().starts_with("medtop:"));
        assert!(m["score"].as_f64().unwrap() > 0.0);
    }
    assert!(lines[1]["countries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x == "RU"));
}

#[test]
fn dedup_gives_one_verdict_per_line() {
    let input = [
        r#"{"id":"a","title":"Peace talks in Istanbul collapse without a deal","link":"https://news.example/a"}"#,
        r#"{"id":"b","title":"Syndicated copy","link":"http://www.news.example/a?utm_source=x"}"#,
        r#"{"id":"c","title":"Something else entirely happened today in sport","link":"https://news.example/c"}"#,
    ]
    .join("\n");
    let o = wirewatch(&["dedup"], &[], Some(&input));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v.len(), 3);
    assert_eq!(v[0]["verdict"], "unique");
    assert_eq!(v[1]["verdict"], "duplicate");
    assert_eq!(v[1]["duplicate_of"], "a");
    assert_eq!(v[1]["rule"], "canonical_url");
    assert_eq!(v[1]["score"], 1.0);
    assert_eq!(v[2]["verdict"], "unique");
    for x in &v {
        for k in [
            "id",
            "verdict",
            "duplicate_of",
            "cluster_id",
            "rule",
            "score",
        ] {
            assert!(x.get(k).is_some(), "verdict lacks {k}: {x}");
        }
    }
}

#[test]
fn inspect_a_corpus_file_as_json() {
    let path = corpus("feeds/rss-parser/test/input/guardian.rss");
    let o = wirewatch(
        &["inspect", path.to_str().unwrap(), "--format", "json"],
        &[],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(
        v["feed"]["title"].as_str().unwrap().contains("Guardian"),
        "{}",
        v["feed"]
    );
    let stories = v["stories"].as_array().unwrap();
    assert_eq!(stories.len(), 55);
    for s in stories {
        for k in ["id", "title", "link"] {
            assert!(
                s[k].as_str().is_some_and(|x| !x.is_empty()),
                "story lacks {k}: {s}"
            );
        }
        assert!(
            !s["title"].as_str().unwrap().contains('<'),
            "markup in title: {s}"
        );
    }
}

#[test]
fn inspect_fails_clearly() {
    let o = wirewatch(&["inspect", "/nonexistent/feed.xml"], &[], None);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("/nonexistent/feed.xml"),
        "{}",
        stderr(&o)
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notafeed.xml");
    std::fs::write(&p, "<html><body>hello</body></html>").unwrap();
    let o = wirewatch(&["inspect", p.to_str().unwrap()], &[], None);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("notafeed.xml"), "{}", stderr(&o));
}

#[test]
fn help_everywhere() {
    for args in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["serve", "--help"],
        vec!["inspect", "--help"],
        vec!["topics", "create", "--help"],
        vec!["classify", "--help"],
        vec!["dedup", "--help"],
        vec!["check-config", "--help"],
    ] {
        let o = wirewatch(&args, &[], None);
        assert!(o.status.success(), "{args:?}");
        assert!(stdout(&o).contains("Usage"), "{args:?}");
    }
}

/// `wirewatch feeds add` discovers the feed a web page announces, `list` shows it, `export`
/// writes OPML with categories, `import` adds an OPML file's feeds (reporting the bad ones),
/// `remove` takes a feed out — file feeds are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_add_list_export_import_remove() {
    use axum::routing::get;
    let rss = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Loopback News</title><link>http://x/</link><description>d</description><item><guid>1</guid><title>One</title></item></channel></rss>";
    let app = axum::Router::new()
        .route(
            "/page",
            get(|| async {
                axum::response::Html(
                    "<html><head><link rel=\"alternate\" type=\"application/rss+xml\" href=\"/news.rss\"></head><body>hi</body></html>",
                )
            }),
        )
        .route(
            "/news.rss",
            get(move || async move { ([("content-type", "application/rss+xml")], rss) }),
        )
        .route("/plain", get(|| async { "not a feed" }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });

    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &[("filed", format!("{base}/news.rss"))],
        "http://127.0.0.1:9/hook",
        "",
    );
    let cfg_s = cfg.to_str().unwrap().to_string();
    let run = |args: Vec<String>| {
        let cfg_s = cfg_s.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let mut a = vec!["--config".to_string(), cfg_s];
                a.extend(args);
                let refs: Vec<&str> = a.iter().map(String::as_str).collect();
                wirewatch(&refs, &[], None)
            })
            .await
            .unwrap()
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    let o = run(s(&[
        "feeds",
        "add",
        &format!("{base}/page"),
        "--category",
        "World",
    ]))
    .await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("/news.rss") && stdout(&o).contains("found link"),
        "{}",
        stdout(&o)
    );
    // The same feed again: its id is taken.
    let o = run(s(&["feeds", "add", &format!("{base}/news.rss")])).await;
    assert!(!o.status.success());
    assert!(stdout(&o).contains("taken"), "{}", stdout(&o));
    // No feed at all: a clear error naming what was tried.
    let o = run(s(&["feeds", "add", &format!("{base}/plain")])).await;
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no feed found") && stderr(&o).contains("/rss.xml"),
        "{}",
        stderr(&o)
    );

    let o = run(s(&["feeds", "list"])).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("filed") && stdout(&o).contains("registry"),
        "{}",
        stdout(&o)
    );

    let o = run(s(&["feeds", "export"])).await;
    let opml = stdout(&o);
    assert!(
        opml.contains("<opml version=\"2.0\">")
            && opml.contains("text=\"World\"")
            && opml.contains("Loopback News"),
        "{opml}"
    );

    let imp = dir.path().join("in.opml");
    std::fs::write(
        &imp,
        "<opml version=\"2.0\"><body><outline text=\"Tech\"><outline xmlUrl=\"https://tech.example/feed\" text=\"T\"/><outline xmlUrl=\"ftp://bad.example/x\" text=\"B\"/></outline></body></opml>",
    )
    .unwrap();
    let o = run(s(&["feeds", "import", imp.to_str().unwrap()])).await;
    assert!(
        stdout(&o).contains("1 feed(s) added") && stdout(&o).contains("1 invalid"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("ftp://bad.example/x"), "{}", stdout(&o));

    let o = run(s(&["feeds", "list", "--json"])).await;
    let ids: Vec<String> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    let o = run(s(&["feeds", "remove", "tech-example-feed"])).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(s(&["feeds", "remove", "tech-example-feed"])).await;
    assert!(!o.status.success());
    let o = run(s(&["feeds", "remove", "filed"])).await;
    assert!(
        !o.status.success() && stderr(&o).contains("feeds file"),
        "{}",
        stderr(&o)
    );
}

/// With `[fetcher] state_url`, the registry lives in PostgreSQL: `wirewatch feeds …` run with
/// another data directory (another machine) sees and changes the same feeds.
#[tokio::test]
async fn feeds_registry_in_postgres_is_shared_between_machines() {
    let Some(state_url) = fresh_postgres_url("feeds registry in PostgreSQL").await else {
        return;
    };
    use axum::routing::get;
    let rss = "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Shared News</title><item><guid>1</guid><title>One</title></item></channel></rss>";
    let app = axum::Router::new().route(
        "/shared.rss",
        get(move || async move { ([("content-type", "application/rss+xml")], rss) }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });

    let machine = |dir: &std::path::Path| {
        write_config(dir, &[], "http://127.0.0.1:9/hook", "")
            .to_str()
            .unwrap()
            .to_string()
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (cfg_a, cfg_b) = (machine(a.path()), machine(b.path()));
    let run = |cfg: &str, args: &[&str]| {
        let mut v = vec!["--config".to_string(), cfg.to_string()];
        v.extend(args.iter().map(|x| x.to_string()));
        let url = state_url.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = v.iter().map(String::as_str).collect();
                wirewatch(&refs, &[("WIREWATCH__FETCHER__STATE_URL", &url)], None)
            })
            .await
            .unwrap()
        }
    };
    let feed = format!("{base}/shared.rss");
    let o = run(&cfg_a, &["feeds", "add", &feed, "--id", "shared"]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let o = run(&cfg_b, &["feeds", "list"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("shared") && stdout(&o).contains(&feed),
        "{}",
        stdout(&o)
    );
    let o = run(&cfg_b, &["feeds", "remove", "shared"]).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let o = run(&cfg_a, &["feeds", "list"]).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains(&feed), "{}", stdout(&o));
    // Nothing was written to either machine's data directory.
    for d in [&a, &b] {
        assert!(!d.path().join("data").join("fetcher.db").exists());
    }
}

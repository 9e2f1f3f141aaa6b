//! A bounded-parallelism web crawler: `limit = 8`, a deadline for the whole crawl, and an error
//! group for the pages that fail.
//!
//! The example serves a small generated site on loopback with axum (a task of an outer scope)
//! and crawls it with hyper-util's client. The site has three sections; page `n` of a section
//! links to pages `2n + 1` and `2n + 2` of the same section (a binary tree):
//!
//! | section    | pages | each answers after | special pages                         |
//! |------------|-------|--------------------|---------------------------------------|
//! | `/docs/`   | 15    | 5 ms               | none                                  |
//! | `/blog/`   | 12    | 5 ms               | 5 and 6 answer `500`                  |
//! | `/archive/`| 40    | 40 ms              | 9 never answers (its subtree is lost) |
//!
//! Every page fetch is a task of one scope with `limit = 8` (at most 8 requests in flight, the
//! rest queue) and a deadline for the whole crawl. The body spawns the start page, then one task
//! per new link that the finished fetches report, until none is left. A page that fails (an
//! HTTP error status or a transport error) returns `Err` from its task: like Go's `errgroup`, the
//! first failure cancels the crawl, and the `GroupError` holds every failure that happened. The
//! three crawls show the three outcomes:
//!
//! 1. `/docs/0`: every page fetched, `Ok(Completed(()))`;
//! 2. `/blog/0`: the first 500 fails the crawl, `Err(GroupError)` with the failed pages (one,
//!    or both 500s when the second one completes before the cancel reaches its task);
//! 3. `/archive/0`: page 9 hangs, so the crawl cannot finish: at the deadline, the fetches in
//!    flight are cancelled and the crawl ends with `Ok(Cancelled(Deadline))`, keeping the pages
//!    fetched so far.
//!
//! Run with `cargo run -p cancel-scope --example crawler` (`-- --deadline SECONDS` to change
//! the deadline).

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use cancel_scope::{BoxError, ScopeResult, cancel_scope};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// At most this many fetches run at once.
const PARALLEL: usize = 8;

/// One section of the generated site.
#[derive(Debug)]
struct Section {
    name: &'static str,
    pages: usize,
    delay: Duration,
    /// Pages that answer `500 Internal Server Error`.
    broken: &'static [usize],
    /// Pages that never answer.
    stuck: &'static [usize],
}

const SITE: [Section; 3] = [
    Section {
        name: "docs",
        pages: 15,
        delay: Duration::from_millis(5),
        broken: &[],
        stuck: &[],
    },
    Section {
        name: "blog",
        pages: 12,
        delay: Duration::from_millis(5),
        broken: &[5, 6],
        stuck: &[],
    },
    Section {
        name: "archive",
        pages: 40,
        delay: Duration::from_millis(40),
        broken: &[],
        stuck: &[9],
    },
];

/// The site: `/` lists the sections, `/{section}/{n}` is a page.
fn site() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/{section}/{n}", get(page))
}

async fn index() -> Html<String> {
    let links: String = SITE
        .iter()
        .map(|s| format!("<li><a href=\"/{}/0\">{}</a></li>", s.name, s.name))
        .collect();
    Html(format!(
        "<html><body><h1>The site</h1><ul>{links}</ul></body></html>"
    ))
}

async fn page(Path((section, n)): Path<(String, usize)>) -> Response {
    let Some(s) = SITE
        .iter()
        .find(|s| s.name == section)
        .filter(|s| n < s.pages)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if s.stuck.contains(&n) {
        // Never answers (the client gives up, or the crawl is cancelled).
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(s.delay).await;
    if s.broken.contains(&n) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "database on fire").into_response();
    }
    let links: String = [2 * n + 1, 2 * n + 2]
        .into_iter()
        .filter(|&c| c < s.pages)
        .map(|c| format!("<li><a href=\"/{section}/{c}\">{section} {c}</a></li>"))
        .collect();
    Html(format!(
        "<html><body><h1>{section} {n}</h1><ul>{links}<li><a href=\"/{section}/0\">up</a></li></ul>\
         </body></html>"
    ))
    .into_response()
}

/// Why a page failed.
#[derive(Debug)]
struct PageError {
    path: String,
    reason: String,
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GET {}: {}", self.path, self.reason)
    }
}

impl std::error::Error for PageError {}

/// What the tasks of one crawl share.
#[derive(Debug)]
struct Crawl {
    client: Client<HttpConnector, Empty<Bytes>>,
    base: String,
    start: Instant,
    /// The pages fetched, in order.
    fetched: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

/// What a crawl did.
#[derive(Debug)]
struct CrawlReport {
    /// The pages fetched, in order.
    fetched: Vec<String>,
    /// The crawl's result.
    result: ScopeResult<(), PageError>,
    /// The most fetches in flight at once.
    peak: usize,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut deadline = Duration::from_millis(1500);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--deadline", Some(v)) => deadline = Duration::try_from_secs_f64(v.parse()?)?,
            _ => return Err("usage: crawler [--deadline SECONDS]".into()),
        }
    }
    let reports = demo(deadline).await?;
    println!("\nsummary:");
    for r in &reports {
        let result = match &r.result {
            Ok(outcome) => format!("Ok({outcome:?})"),
            Err(errors) => format!("Err({errors})"),
        };
        let first = r.fetched.first().map_or("-", String::as_str);
        println!(
            "  from {first:<11} {:>2} pages, at most {} at once: {result}",
            r.fetched.len(),
            r.peak
        );
    }
    Ok(())
}

/// Serves the site, runs the three crawls, stops the server.
async fn demo(deadline: Duration) -> Result<Vec<CrawlReport>, BoxError> {
    let mut reports = Vec::new();
    let out: ScopeResult<()> = cancel_scope! {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        println!("serving the site on http://{addr}/");
        spawn async move { axum::serve(listener, site()).await.map_err(BoxError::from) };

        let client = Client::builder(TokioExecutor::new()).build_http();
        for start in ["/docs/0", "/blog/0", "/archive/0"] {
            println!("\ncrawl from {start} (limit {PARALLEL}, deadline {deadline:?})");
            let report = crawl(client.clone(), format!("http://{addr}"), start, deadline).await;
            reports.push(report);
        }
        // Stop the server.
        cancel;
    };
    println!("\nserver scope: {out:?}");
    Ok(reports)
}

/// Crawls from `start`, at most `PARALLEL` fetches at once, for at most `deadline`.
async fn crawl(
    client: Client<HttpConnector, Empty<Bytes>>,
    base: String,
    start: &str,
    deadline: Duration,
) -> CrawlReport {
    let crawl = Arc::new(Crawl {
        client,
        base,
        start: Instant::now(),
        fetched: Mutex::new(Vec::new()),
        in_flight: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let result: ScopeResult<(), PageError> = cancel_scope! {
        limit = PARALLEL;
        timeout = deadline;
        error = PageError;
        // Every fetch that succeeds sends the links of its page; a failed one fails the group,
        // which cancels the crawl and drops this body.
        let (links_tx, mut links_rx) = mpsc::unbounded_channel::<Vec<String>>();
        let mut seen = HashSet::from([start.to_owned()]);
        spawn fetch(crawl.clone(), start.to_owned(), links_tx.clone());
        let mut pending = 1;
        while pending > 0 {
            let links = links_rx.recv().await.unwrap_or_default();
            pending -= 1;
            for link in links {
                if seen.insert(link.clone()) {
                    spawn fetch(crawl.clone(), link, links_tx.clone());
                    pending += 1;
                }
            }
        }
    };
    let elapsed = crawl.start.elapsed();
    let fetched = crawl.fetched.lock().unwrap().clone();
    let peak = crawl.peak.load(Ordering::SeqCst);
    println!(
        "  pages fetched: {} in {} ms, at most {peak} fetches at once",
        fetched.len(),
        elapsed.as_millis()
    );
    match &result {
        Ok(outcome) => println!("  outcome: Ok({outcome:?})"),
        Err(errors) => {
            println!("  outcome: Err(GroupError) with {} error(s):", errors.len());
            for e in errors.errors() {
                println!("    {e}");
            }
        }
    }
    CrawlReport {
        fetched,
        result,
        peak,
    }
}

/// Fetches one page; sends its links.
async fn fetch(
    crawl: Arc<Crawl>,
    path: String,
    links: mpsc::UnboundedSender<Vec<String>>,
) -> Result<(), PageError> {
    let now = crawl.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    crawl.peak.fetch_max(now, Ordering::SeqCst);
    let _in_flight = InFlight(&crawl.in_flight);

    let fail = |reason: String| PageError {
        path: path.clone(),
        reason,
    };
    let uri: Uri = format!("{}{path}", crawl.base)
        .parse()
        .map_err(|e| fail(format!("bad link: {e}")))?;
    let response = crawl
        .client
        .get(uri)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        println!(
            "  {:>5} ms  {status}  {path}",
            crawl.start.elapsed().as_millis()
        );
        return Err(fail(status.to_string()));
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| fail(e.to_string()))?
        .to_bytes();
    let found = extract_links(&String::from_utf8_lossy(&body));
    let at = crawl.start.elapsed();
    println!(
        "  {:>5} ms  {status}  {path}  ({} links)",
        at.as_millis(),
        found.len()
    );
    crawl.fetched.lock().unwrap().push(path.clone());
    let _ = links.send(found);
    Ok(())
}

/// Decrements the in-flight count when a fetch ends, however it ends.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The site-local links (`href="/..."`) of a page.
fn extract_links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|link| link.starts_with('/'))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cancel_scope::{CancelReason, Outcome};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn crawls_complete_fail_and_hit_the_deadline() {
        let reports = demo(Duration::from_secs(2)).await.unwrap();
        assert_eq!(reports.len(), 3);

        // 1. docs: every page, in a completed scope.
        let docs = &reports[0];
        assert!(
            matches!(docs.result, Ok(Outcome::Completed(()))),
            "{:?}",
            docs.result
        );
        let mut pages = docs.fetched.clone();
        pages.sort();
        let mut expected: Vec<String> = (0..15).map(|n| format!("/docs/{n}")).collect();
        expected.sort();
        assert_eq!(pages, expected);
        assert!(docs.peak <= PARALLEL);

        // 2. blog: the 500s are in the GroupError; nothing else is.
        let blog = &reports[1];
        let errors = blog.result.as_ref().unwrap_err();
        assert!(errors.len() >= 1);
        for e in errors.errors() {
            assert!(e.path == "/blog/5" || e.path == "/blog/6", "{e}");
            assert!(e.reason.starts_with("500"), "{e}");
        }
        assert!(
            !blog
                .fetched
                .iter()
                .any(|p| p == "/blog/5" || p == "/blog/6")
        );
        assert!(blog.fetched.iter().any(|p| p == "/blog/0"));

        // 3. archive: page 9 never answers; the deadline ends the crawl without an error, with
        // every page fetched but 9's subtree (9, 19, 20, 39), 8 at a time.
        let archive = &reports[2];
        assert!(
            matches!(
                archive.result,
                Ok(Outcome::Cancelled(CancelReason::Deadline))
            ),
            "{:?}",
            archive.result
        );
        assert_eq!(archive.fetched.len(), 36, "{:?}", archive.fetched);
        for lost in ["/archive/9", "/archive/19", "/archive/20", "/archive/39"] {
            assert!(!archive.fetched.iter().any(|p| p == lost), "{lost}");
        }
        assert_eq!(archive.peak, PARALLEL);
    }
}

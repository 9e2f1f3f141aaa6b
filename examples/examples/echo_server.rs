//! A TCP echo server with graceful shutdown: every connection is a task of one scope.
//!
//! The server listens on `127.0.0.1:0`. Its scope has a `timeout` (`--for SECONDS`) and
//! listens to Ctrl-C with `cancel_on`, whichever comes first; and a `grace` period (`--grace
//! SECONDS`): on cancel the accept loop (the scope's body) stops at once, while every open
//! connection sees `tg.cancelled()` resolve, finishes the exchange in progress, tells its client
//! `BYE` and keeps echoing until the client hangs up. Whatever is still open when the grace
//! period ends is aborted.
//!
//! The protocol, one line each way: the server greets a new connection with `HELLO`; the client
//! sends a line and waits for its echo; `BYE` from the server means "finish what you sent, then
//! close". A connection counts as accepted once the client has read `HELLO`; a connect that the
//! server never took (refused, or reset before `HELLO` because the listener went away) is not a
//! lost connection but a refusal.
//!
//! `--load N` runs N clients in the same process, as tasks of a second scope: each connects,
//! sends 5 messages 20 ms apart, checks every echo, hangs up and connects again, until the server
//! says `BYE` or refuses. At the end both sides print their counts; `lost` (a connection cut in
//! the middle of an exchange, or a wrong echo) is 0.
//!
//! Run with `cargo run -p cancel-scope-examples --example echo_server -- --for 2 --load 8`
//! (`--load 0` serves other clients, e.g. `nc 127.0.0.1 PORT`, until `--for` ends or Ctrl-C).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cancel_scope::{BoxError, CancelScope, Outcome, ScopeResult, TaskGroup, cancel_scope};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// What to run.
#[derive(Debug, Clone)]
struct Config {
    /// Shut down after this long (or on Ctrl-C).
    run_for: Duration,
    /// How long open connections get to finish after the shutdown starts.
    grace: Duration,
    /// Number of load clients.
    load: usize,
    /// Messages per client connection.
    messages: usize,
    /// Pause between two messages of a client.
    pause: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            run_for: Duration::from_secs(2),
            grace: Duration::from_secs(2),
            load: 8,
            messages: 5,
            pause: Duration::from_millis(20),
        }
    }
}

/// Counters, shared by the tasks.
#[derive(Debug, Default)]
struct Counters {
    // server side
    accepted: AtomicUsize,
    completed: AtomicUsize,
    failed: AtomicUsize,
    aborted: AtomicUsize,
    echoed: AtomicUsize,
    open_at_shutdown: AtomicUsize,
    // client side
    client_connections: AtomicUsize,
    client_completed: AtomicUsize,
    client_said_bye: AtomicUsize,
    client_lost: AtomicUsize,
    client_refused: AtomicUsize,
    client_messages: AtomicUsize,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Report {
    server_outcome: String,
    accepted: usize,
    completed: usize,
    failed: usize,
    aborted: usize,
    echoed: usize,
    open_at_shutdown: usize,
    client_connections: usize,
    client_completed: usize,
    client_said_bye: usize,
    client_lost: usize,
    client_refused: usize,
    client_messages: usize,
}

fn count(c: &AtomicUsize) -> usize {
    c.load(Ordering::SeqCst)
}

fn bump(c: &AtomicUsize) {
    c.fetch_add(1, Ordering::SeqCst);
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let cfg = parse_args()?;
    let report = run(cfg).await?;
    if report.client_lost > 0 || report.aborted > 0 || report.failed > 0 {
        return Err("connections were lost".into());
    }
    Ok(())
}

fn parse_args() -> Result<Config, BoxError> {
    let mut cfg = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--for" => cfg.run_for = Duration::try_from_secs_f64(value()?.parse()?)?,
            "--grace" => cfg.grace = Duration::try_from_secs_f64(value()?.parse()?)?,
            "--load" => cfg.load = value()?.parse()?,
            "--messages" => cfg.messages = value()?.parse()?,
            _ => {
                return Err(format!(
                    "unknown argument {flag:?}; usage: echo_server [--for SECONDS] \
                     [--grace SECONDS] [--load N] [--messages N]"
                )
                .into());
            }
        }
    }
    Ok(cfg)
}

/// Runs the server and the load clients side by side; prints and returns the counts.
async fn run(cfg: Config) -> Result<Report, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!(
        "echo server on {addr}: shutting down after {:?} or on Ctrl-C, grace {:?}; {} load clients",
        cfg.run_for, cfg.grace, cfg.load
    );
    let counters = Arc::new(Counters::default());
    let start = Instant::now();
    let (server_out, load_out) = tokio::join!(
        server(listener, &cfg, counters.clone(), start),
        load(addr, &cfg, counters.clone()),
    );
    println!(
        "{:>6} ms  server scope: {server_out:?}",
        start.elapsed().as_millis()
    );
    println!(
        "{:>6} ms  load scope:   {load_out:?}",
        start.elapsed().as_millis()
    );
    load_out?;
    let server_outcome = match server_out? {
        Outcome::Completed(()) => "Completed".to_owned(),
        Outcome::Cancelled(reason) => format!("Cancelled({reason:?})"),
    };

    let c = &*counters;
    let report = Report {
        server_outcome,
        accepted: count(&c.accepted),
        completed: count(&c.completed),
        failed: count(&c.failed),
        aborted: count(&c.aborted),
        echoed: count(&c.echoed),
        open_at_shutdown: count(&c.open_at_shutdown),
        client_connections: count(&c.client_connections),
        client_completed: count(&c.client_completed),
        client_said_bye: count(&c.client_said_bye),
        client_lost: count(&c.client_lost),
        client_refused: count(&c.client_refused),
        client_messages: count(&c.client_messages),
    };
    println!(
        "server:  connections accepted {}, completed {}, failed {}, cut by the grace deadline {}; \
         messages echoed {}",
        report.accepted, report.completed, report.failed, report.aborted, report.echoed
    );
    println!(
        "clients: connections accepted {}, completed {} ({} closed after BYE), lost {}; \
         refused after shutdown {}; echoes checked {}",
        report.client_connections,
        report.client_completed,
        report.client_said_bye,
        report.client_lost,
        report.client_refused,
        report.client_messages
    );
    Ok(report)
}

/// The server: the body accepts, every connection is a task; the scope ends at `run_for`
/// (reason `Deadline`) or on Ctrl-C (`cancel_on`, reason `Signal`), after the grace period at
/// the latest.
async fn server(
    listener: TcpListener,
    cfg: &Config,
    counters: Arc<Counters>,
    start: Instant,
) -> ScopeResult<(), std::io::Error> {
    // Ctrl-C is a signal of the scope: no task needed to watch it. (Where signals are not
    // supported, `ctrl_c()` fails at once: then it never fires.)
    let ctrl_c = async move {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        println!("{:>6} ms  Ctrl-C", start.elapsed().as_millis());
    };
    let scope = CancelScope::<std::io::Error>::with_error()
        .timeout(cfg.run_for)
        .cancel_on(ctrl_c)
        .grace(cfg.grace);
    let tg = scope.group();
    // Reports the shutdown, whatever its cause (it ends at the cancel, within the grace).
    let watcher = tg.clone();
    let c = counters.clone();
    tg.spawn(async move {
        watcher.cancelled().await;
        let open = count(&c.accepted) - count(&c.completed) - count(&c.failed);
        c.open_at_shutdown.store(open, Ordering::SeqCst);
        println!(
            "{:>6} ms  shutdown ({}): accept loop stopped, {open} connections open, \
             finishing their current exchange",
            start.elapsed().as_millis(),
            watcher
                .cancel_reason()
                .map_or("?".to_owned(), |r| format!("{r:?}")),
        );
    });
    scope
        .run(async {
            loop {
                let (socket, _peer) = listener.accept().await?;
                tg.spawn(connection(socket, tg.clone(), counters.clone()));
            }
        })
        .await
}

/// Counts a connection task that was aborted (at the end of the grace period).
struct AbortGuard(Option<Arc<Counters>>);

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            bump(&c.aborted);
        }
    }
}

/// One connection, as a task: counts how it ended.
async fn connection(socket: TcpStream, tg: TaskGroup<std::io::Error>, counters: Arc<Counters>) {
    bump(&counters.accepted);
    let mut guard = AbortGuard(Some(counters.clone()));
    // An I/O error ends this connection only: it is counted, not a failure of the server.
    match echo(socket, &tg, &counters).await {
        Ok(()) => bump(&counters.completed),
        Err(_) => bump(&counters.failed),
    }
    guard.0 = None;
}

/// The echo protocol of one connection, with the graceful shutdown.
async fn echo(
    socket: TcpStream,
    tg: &TaskGroup<std::io::Error>,
    counters: &Counters,
) -> std::io::Result<()> {
    let (reader, mut writer) = socket.into_split();
    let mut lines = BufReader::new(reader).lines();
    writer.write_all(b"HELLO\n").await?;
    let cancelled = tg.cancelled();
    tokio::pin!(cancelled);
    let mut bye_sent = false;
    loop {
        tokio::select! {
            biased;
            // `next_line` is cancel-safe: a line half read when the cancel arrives is kept.
            line = lines.next_line() => match line? {
                Some(line) => {
                    writer.write_all(format!("{line}\n").as_bytes()).await?;
                    bump(&counters.echoed);
                }
                None => break, // the client hung up: this connection is done
            },
            () = &mut cancelled, if !bye_sent => {
                writer.write_all(b"BYE\n").await?;
                bye_sent = true;
            }
        }
    }
    writer.shutdown().await
}

/// The load: `cfg.load` clients, tasks of one scope, bounded in time.
async fn load(addr: SocketAddr, cfg: &Config, counters: Arc<Counters>) -> ScopeResult<()> {
    cancel_scope! {
        // A safety net: the clients stop by themselves once the server is gone.
        timeout = cfg.run_for + cfg.grace + Duration::from_secs(10);
        for id in 0..cfg.load {
            spawn client(id, addr, cfg.clone(), counters.clone());
        }
    }
}

/// How a client connection ended.
enum End {
    /// Sent all its messages and hung up.
    Finished,
    /// The server said `BYE`: every message sent was echoed, and the client hung up.
    Bye,
    /// The server never took the connection.
    NotAccepted,
}

/// One load client: connects again and again until the server shuts down.
async fn client(id: usize, addr: SocketAddr, cfg: Config, counters: Arc<Counters>) {
    for conn in 0.. {
        match client_connection(id, conn, addr, &cfg, &counters).await {
            Ok(End::Finished) => bump(&counters.client_completed),
            Ok(End::Bye) => {
                bump(&counters.client_completed);
                bump(&counters.client_said_bye);
                break;
            }
            Ok(End::NotAccepted) => {
                bump(&counters.client_refused);
                break;
            }
            Err(e) => {
                println!("client {id} connection {conn}: LOST: {e}");
                bump(&counters.client_lost);
                break;
            }
        }
    }
}

/// One client connection: `HELLO`, then messages and their echoes, then hang up.
async fn client_connection(
    id: usize,
    conn: usize,
    addr: SocketAddr,
    cfg: &Config,
    counters: &Counters,
) -> std::io::Result<End> {
    use std::io::{Error, ErrorKind};
    let Ok(socket) = TcpStream::connect(addr).await else {
        return Ok(End::NotAccepted);
    };
    let (reader, mut writer) = socket.into_split();
    let mut lines = BufReader::new(reader).lines();
    match lines.next_line().await {
        Ok(Some(line)) if line == "HELLO" => {}
        // Reset or closed before the greeting: the server never took this connection.
        _ => return Ok(End::NotAccepted),
    }
    bump(&counters.client_connections);
    let mut bye = false;
    for n in 0..cfg.messages {
        let msg = format!("client {id} connection {conn} message {n}");
        writer.write_all(format!("{msg}\n").as_bytes()).await?;
        loop {
            let line = lines.next_line().await?.ok_or_else(|| {
                Error::new(ErrorKind::UnexpectedEof, "closed before the echo arrived")
            })?;
            if line == "BYE" {
                bye = true;
            } else if line == msg {
                break;
            } else {
                return Err(Error::new(
                    ErrorKind::InvalidData,
                    format!("bad echo {line:?}"),
                ));
            }
        }
        bump(&counters.client_messages);
        if bye {
            break;
        }
        tokio::time::sleep(cfg.pause).await;
    }
    writer.shutdown().await?;
    // The server closes its side after ours; a `BYE` may still be on its way.
    while let Some(line) = lines.next_line().await? {
        if line != "BYE" {
            return Err(Error::new(
                ErrorKind::InvalidData,
                format!("unexpected {line:?}"),
            ));
        }
        bye = true;
    }
    Ok(if bye { End::Bye } else { End::Finished })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn graceful_shutdown_loses_no_connection() {
        let cfg = Config {
            run_for: Duration::from_millis(700),
            grace: Duration::from_secs(3),
            load: 8,
            ..Config::default()
        };
        let r = run(cfg).await.unwrap();
        assert_eq!(r.server_outcome, "Cancelled(Deadline)");
        // Nothing lost, on either side.
        assert_eq!(r.client_lost, 0, "{r:?}");
        assert_eq!(r.failed, 0, "{r:?}");
        assert_eq!(r.aborted, 0, "{r:?}");
        // Every connection the server accepted completed, and the clients saw the same.
        assert!(r.accepted > r.client_said_bye, "{r:?}");
        assert_eq!(r.accepted, r.completed, "{r:?}");
        assert_eq!(r.client_connections, r.accepted, "{r:?}");
        assert_eq!(r.client_completed, r.client_connections, "{r:?}");
        assert_eq!(r.client_messages, r.echoed, "{r:?}");
        // The shutdown hit open connections, which finished gracefully; every client stopped.
        assert!(r.open_at_shutdown > 0, "{r:?}");
        assert!(r.client_said_bye > 0, "{r:?}");
        assert_eq!(r.client_said_bye + r.client_refused, 8, "{r:?}");
    }
}

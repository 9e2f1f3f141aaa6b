//! Happy Eyeballs (RFC 8305 style connection racing) with `CancelScope::race`.
//!
//! The example starts its own loopback listeners, one per "address" of a made-up host:
//!
//! | name      | behaviour                                                      |
//! |-----------|----------------------------------------------------------------|
//! | `refused` | a port with no listener: the connect fails at once             |
//! | `slow`    | accepts, then greets after 800 ms                              |
//! | `fast`    | accepts, then greets after 50 ms                               |
//! | `silent`  | accepts and never greets (a black hole)                        |
//!
//! On loopback the kernel completes a TCP handshake at once whatever the server does, so an
//! attempt here is "connect, then read the server's greeting line": a listener's delay stands for
//! a slow network path.
//!
//! The race follows RFC 8305 section 5 and is one call, `CancelScope::race`: every address is a
//! contender, the first connection to succeed wins, the group is cancelled (reason `RaceWon`) and
//! the attempts still running are aborted; the race returns `Outcome::Completed(connection)`.
//! Attempts start in order, one every 250 ms (the "Connection Attempt Delay"), and the next one
//! starts early when the previous one fails: each contender waits for its turn, which its
//! predecessor gives after the delay or when it ends. `limit` bounds the attempts in flight and
//! `timeout` the whole race. A failed attempt does not cancel the others; if every attempt
//! fails, the race returns a `GroupError` with every failure.
//!
//! The listeners themselves are tasks of an outer scope, which the example cancels at the end.
//!
//! Run with `cargo run -p cancel-scope-examples --example happy_eyeballs`.

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::{Arc, Mutex};

use cancel_scope::{BoxError, CancelScope, Outcome, ScopeResult, TaskGroup, cancel_scope};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// RFC 8305's recommended Connection Attempt Delay.
const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Attempts in flight at most.
const IN_FLIGHT: usize = 3;

/// What a listener does with a connection.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// No listener at all: connecting is refused.
    Refuse,
    /// Greets after this delay.
    Greet(Duration),
    /// Accepts and never says anything.
    Silent,
}

/// The made-up host's addresses, in the order the resolver "returned" them.
const PLAN: [(&str, Behaviour); 4] = [
    ("refused", Behaviour::Refuse),
    ("slow", Behaviour::Greet(Duration::from_millis(800))),
    ("fast", Behaviour::Greet(Duration::from_millis(50))),
    ("silent", Behaviour::Silent),
];

/// One address to try.
#[derive(Debug, Clone)]
struct Target {
    name: &'static str,
    addr: SocketAddr,
    behaviour: Behaviour,
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    /// The race ended before this address's turn.
    NotStarted,
    /// Started and still running when the race ended: aborted.
    Cancelled,
    /// Failed, with the error.
    Failed(String),
    /// Won the race.
    Won,
    /// Connected, but after another attempt had won: dropped.
    Late,
}

/// One attempt of a race.
#[derive(Debug, Clone)]
struct Attempt {
    name: &'static str,
    started: Option<Duration>,
    ended: Option<Duration>,
    status: Status,
}

/// What a race did.
#[derive(Debug)]
struct RaceReport {
    attempts: Vec<Attempt>,
    /// The winner's name, when it connected and its greeting.
    winner: Option<(&'static str, Duration, String)>,
    /// The scope's result, rendered.
    outcome: String,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let reports = demo(ATTEMPT_DELAY).await?;
    println!("\nsummary:");
    for (n, report) in reports.iter().enumerate() {
        let started = report
            .attempts
            .iter()
            .filter(|a| a.started.is_some())
            .count();
        match &report.winner {
            Some((name, at, _)) => println!(
                "  race {}: {started} of {} attempts started, {name} connected after {} ms",
                n + 1,
                report.attempts.len(),
                at.as_millis()
            ),
            None => println!("  race {}: no connection: {}", n + 1, report.outcome),
        }
    }
    Ok(())
}

/// Starts the listeners (tasks of an outer scope), runs two races against them, prints what
/// happens and stops the listeners.
async fn demo(delay: Duration) -> Result<Vec<RaceReport>, BoxError> {
    let mut reports = Vec::new();
    let servers: ScopeResult<()> = cancel_scope! {
        as servers;
        let mut targets = Vec::new();
        for (name, behaviour) in PLAN {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            match behaviour {
                // Dropping the listener frees the port: connecting to it is refused.
                Behaviour::Refuse => drop(listener),
                _ => {
                    spawn serve(listener, name, behaviour, servers.clone());
                }
            }
            targets.push(Target { name, addr, behaviour });
        }
        println!("listeners:");
        for t in &targets {
            println!("  {:<8} {}  {:?}", t.name, t.addr, t.behaviour);
        }

        println!("\nrace 1: every address, attempts {} ms apart", delay.as_millis());
        reports.push(race(&targets, delay, Duration::from_secs(5)).await);

        let refused: Vec<Target> = targets
            .iter()
            .filter(|t| matches!(t.behaviour, Behaviour::Refuse))
            .cloned()
            .collect();
        println!("\nrace 2: only the refusing address");
        reports.push(race(&refused, delay, Duration::from_secs(5)).await);

        // The races are over: stop the listeners and their connections.
        cancel;
    };
    println!("\nlisteners' scope: {servers:?}");
    Ok(reports)
}

/// Accepts connections, each handled by a task of `tg`.
async fn serve(listener: TcpListener, name: &'static str, behaviour: Behaviour, tg: TaskGroup) {
    while let Ok((mut socket, _)) = listener.accept().await {
        tg.spawn(async move {
            if let Behaviour::Greet(after) = behaviour {
                tokio::time::sleep(after).await;
                let _ = socket
                    .write_all(format!("hello from {name}\n").as_bytes())
                    .await;
            }
            // Hold the connection until the client goes away (or the scope is cancelled).
            let mut buf = [0u8; 64];
            while let Ok(n) = socket.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        });
    }
}

/// One connection attempt: connect, then read the greeting.
async fn attempt(addr: SocketAddr) -> std::io::Result<(TcpStream, String)> {
    let mut reader = BufReader::new(TcpStream::connect(addr).await?);
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok((reader.into_inner(), line.trim_end().to_owned()))
}

/// One contender: waits for its turn, then attempts; gives the next contender its turn after
/// the attempt delay, or as soon as this attempt ends (a failure starts the next one early).
async fn contender(
    i: usize,
    target: Target,
    turn: oneshot::Receiver<()>,
    next: oneshot::Sender<()>,
    delay: Duration,
    log: Arc<Mutex<Vec<Attempt>>>,
    start: Instant,
) -> std::io::Result<(usize, TcpStream, String)> {
    // Sent by the predecessor, or dropped when it ended: either way, our turn.
    let _ = turn.await;
    let ms = |d: Duration| format!("{:>4} ms", d.as_millis());
    log.lock().unwrap()[i].started = Some(start.elapsed());
    println!(
        "  {}  start   {:<8} {}",
        ms(start.elapsed()),
        target.name,
        target.addr
    );
    let mut next = Some(next);
    let mut connecting = std::pin::pin!(attempt(target.addr));
    let mut stagger = std::pin::pin!(tokio::time::sleep(delay));
    let result = loop {
        tokio::select! {
            result = &mut connecting => break result,
            () = &mut stagger, if next.is_some() => {
                if let Some(next) = next.take() {
                    let _ = next.send(());
                }
            }
        }
    };
    let now = start.elapsed();
    let mut log = log.lock().unwrap();
    log[i].ended = Some(now);
    match result {
        Ok((stream, greeting)) => {
            println!("  {}  done    {:<8} {greeting:?}", ms(now), target.name);
            log[i].status = Status::Late; // `Won` once the race says so
            Ok((i, stream, greeting))
        }
        Err(e) => {
            println!("  {}  failed  {:<8} {e}", ms(now), target.name);
            log[i].status = Status::Failed(e.to_string());
            Err(e)
        }
    }
    // `next` dropped here, if not sent yet: the next contender starts now.
}

/// Races connection attempts to `targets`, RFC 8305 style; returns what happened.
async fn race(targets: &[Target], delay: Duration, limit: Duration) -> RaceReport {
    let start = Instant::now();
    let ms = |d: Duration| format!("{:>4} ms", d.as_millis());
    let log = Arc::new(Mutex::new(
        targets
            .iter()
            .map(|t| Attempt {
                name: t.name,
                started: None,
                ended: None,
                status: Status::NotStarted,
            })
            .collect::<Vec<_>>(),
    ));

    // The turns: contender 0 goes at once; contender i + 1 waits for contender i.
    let (first_turn, mut turn) = oneshot::channel();
    let _ = first_turn.send(());
    let contenders = targets.iter().cloned().enumerate().map(|(i, target)| {
        let (next, next_turn) = oneshot::channel();
        let my_turn = std::mem::replace(&mut turn, next_turn);
        contender(i, target, my_turn, next, delay, log.clone(), start)
    });
    let out: ScopeResult<(usize, TcpStream, String), std::io::Error> =
        CancelScope::<std::io::Error>::with_error()
            .timeout(limit)
            .limit(IN_FLIGHT)
            .race(contenders.collect::<Vec<_>>())
            .await;

    let mut attempts = Arc::try_unwrap(log)
        .expect("every contender ended with the race")
        .into_inner()
        .unwrap();
    let mut winner = None;
    let out = out.map(|o| {
        o.map(|(i, stream, greeting)| {
            attempts[i].status = Status::Won;
            winner = Some((i, stream, greeting));
        })
    });
    let elapsed = start.elapsed();
    for a in &mut attempts {
        if a.started.is_some() && a.status == Status::NotStarted {
            a.status = Status::Cancelled;
        }
    }
    let outcome = match &out {
        Ok(Outcome::Completed(())) => "completed".to_owned(),
        Ok(Outcome::Cancelled(reason)) => format!("cancelled ({reason:?})"),
        Err(e) => format!("error: {e}"),
    };
    println!("  {}  scope ended: {outcome}", ms(elapsed));
    for a in &attempts {
        let when = match (a.started, a.ended) {
            (Some(s), Some(e)) => format!("{} .. {}", ms(s), ms(e)),
            (Some(s), None) => format!("{} ..   (aborted)", ms(s)),
            _ => "-".to_owned(),
        };
        println!("    {:<8} {:<26} {:?}", a.name, when, a.status);
    }
    let winner = winner.map(|(i, _stream, greeting): (usize, TcpStream, String)| {
        let at = attempts[i].ended.unwrap_or(elapsed);
        println!("  winner: {} after {} ms", targets[i].name, at.as_millis());
        (targets[i].name, at, greeting)
    });
    RaceReport {
        attempts,
        winner,
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fast_listener_wins_and_the_rest_are_cancelled() {
        let reports = demo(ATTEMPT_DELAY).await.unwrap();
        assert_eq!(reports.len(), 2);

        let race = &reports[0];
        let (name, at, greeting) = race.winner.clone().expect("a winner");
        assert_eq!(name, "fast");
        assert_eq!(greeting, "hello from fast");
        // fast is the third address: it starts one attempt delay in (refused failed at once and
        // let slow start early), then greets 50 ms later; slow would need 800 ms.
        assert!(at >= ATTEMPT_DELAY, "won at {at:?}");
        assert!(at < Duration::from_millis(800), "won at {at:?}");
        assert_eq!(race.outcome, "completed");

        let status = |n: &str| race.attempts.iter().find(|a| a.name == n).unwrap();
        assert!(matches!(status("refused").status, Status::Failed(_)));
        // slow started early, as soon as refused failed, not after the delay.
        assert!(status("slow").started.unwrap() < ATTEMPT_DELAY);
        assert_eq!(status("slow").status, Status::Cancelled);
        assert_eq!(status("fast").status, Status::Won);
        // silent's turn comes when fast's turn-passing sender is dropped, as fast returns its
        // winning value; on a multi-thread runtime silent may begin in that instant, just before
        // the win cancels the race. Either way it never gets to connect.
        assert!(
            matches!(
                status("silent").status,
                Status::NotStarted | Status::Cancelled
            ),
            "{:?}",
            status("silent").status
        );

        let all_refused = &reports[1];
        assert!(all_refused.winner.is_none());
        assert!(
            all_refused
                .outcome
                .starts_with("error: 1 error in task group"),
            "{}",
            all_refused.outcome
        );
    }
}

use cancel_scope::cancel_scope;

async fn handle(conn: u32) {
    let _ = conn;
}

async fn run(mut listener: tokio::sync::mpsc::Receiver<u32>) {
    let _ = cancel_scope! {
        let serve = async {
            loop {
                tokio::select! {
                    Some(conn) = listener.recv() => {
                        spawn handle(conn);
                    }
                    else => break,
                }
            }
        };
        serve.await;
    };
}

fn main() {
    drop(run(tokio::sync::mpsc::channel(1).1));
}

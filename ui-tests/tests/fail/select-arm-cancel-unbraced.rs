use cancel_scope::cancel_scope;

async fn run(mut shutdown: tokio::sync::oneshot::Receiver<()>) {
    let _ = cancel_scope! {
        loop {
            tokio::select! {
                _ = &mut shutdown => cancel,
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    };
}

fn main() {
    drop(run(tokio::sync::oneshot::channel().1));
}

use cancel_scope::cancel_scope;

async fn run() {
    let _ = cancel_scope! {
        let stop = async {
            cancel;
        };
        stop.await;
    };
}

fn main() {
    drop(run());
}

use cancel_scope::cancel_scope;

async fn run() {
    let _ = cancel_scope! {
        let start = || {
            spawn_local async {};
        };
        start();
    };
}

fn main() {
    drop(run());
}

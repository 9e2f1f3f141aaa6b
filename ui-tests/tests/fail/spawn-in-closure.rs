use cancel_scope::cancel_scope;

async fn run() {
    let _ = cancel_scope! {
        let start = || {
            spawn async {};
        };
        start();
    };
}

fn main() {
    drop(run());
}

use cancel_scope::cancel_scope;

async fn run() {
    let _ = cancel_scope! {
        spawn 5;
    };
}

fn main() {
    drop(run());
}

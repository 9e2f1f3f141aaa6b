use cancel_scope::cancel_scope;

async fn run() {
    let _ = cancel_scope! {
        spawn;
        1
    };
}

fn main() {
    drop(run());
}

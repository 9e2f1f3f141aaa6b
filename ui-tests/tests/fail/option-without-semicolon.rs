use cancel_scope::cancel_scope;

async fn run() {
    let _ = cancel_scope! {
        limit = 3
        1
    };
}

fn main() {
    drop(run());
}

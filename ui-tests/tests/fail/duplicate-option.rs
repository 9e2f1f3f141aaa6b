use cancel_scope::cancel_scope;

async fn run() {
    let _ = cancel_scope! {
        limit = 4;
        limit = 8;
        1
    };
}

fn main() {
    drop(run());
}

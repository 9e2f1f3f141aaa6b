use cancel_scope::cancel_scope;

async fn run() {
    let _ = cancel_scope! {
        supervise;
        limit = 4;
        supervise;
        1
    };
}

fn main() {
    drop(run());
}

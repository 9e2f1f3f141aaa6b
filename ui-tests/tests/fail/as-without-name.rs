use cancel_scope::cancel_scope;

async fn run() {
    let _ = cancel_scope! {
        as;
        1
    };
}

fn main() {
    drop(run());
}

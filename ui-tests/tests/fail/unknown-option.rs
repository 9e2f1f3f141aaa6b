use cancel_scope::cancel_scope;

async fn run() {
    let _ = cancel_scope! {
        as tg;
        parents = tg;
        1
    };
}

fn main() {
    drop(run());
}

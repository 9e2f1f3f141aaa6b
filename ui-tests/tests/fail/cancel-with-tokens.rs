use cancel_scope::cancel_scope;

async fn run() {
    let _ = cancel_scope! {
        as tg;
        cancel tg;
    };
}

fn main() {
    drop(run());
}

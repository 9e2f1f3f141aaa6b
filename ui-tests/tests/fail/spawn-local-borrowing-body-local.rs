use cancel_scope::{BoxError, cancel_scope};

async fn run() {
    let _ = cancel_scope! {
        let name = String::from("dies with the body");
        spawn_local async { Ok::<usize, BoxError>(name.len()) };
    };
}

fn main() {
    drop(run());
}

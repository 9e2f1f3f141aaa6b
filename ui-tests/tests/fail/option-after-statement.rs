use std::time::Duration;

use cancel_scope::cancel_scope;

async fn run() {
    let _ = cancel_scope! {
        let x = 1;
        timeout = Duration::from_secs(1);
        x
    };
}

fn main() {
    drop(run());
}

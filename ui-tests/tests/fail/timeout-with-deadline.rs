use std::time::Duration;

use cancel_scope::cancel_scope;

async fn run() {
    let at = tokio::time::Instant::now() + Duration::from_secs(2);
    let _ = cancel_scope! {
        timeout = Duration::from_secs(1);
        deadline = at;
        1
    };
}

fn main() {
    drop(run());
}

use std::rc::Rc;

use cancel_scope::cancel_scope;

async fn run() {
    let _ = cancel_scope! {
        spawn async {
            let shared = Rc::new(1);
            tokio::task::yield_now().await;
            drop(shared);
        };
    };
}

fn main() {
    drop(run());
}

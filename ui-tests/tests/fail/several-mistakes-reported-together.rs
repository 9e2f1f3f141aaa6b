use cancel_scope::cancel_scope;

async fn run() {
    let _ = cancel_scope! {
        limits = 2;
        grace = std::time::Duration::ZERO;
        grace = std::time::Duration::ZERO;
        let f = || {
            cancel;
        };
        f();
        spawn;
    };
}

fn main() {
    drop(run());
}

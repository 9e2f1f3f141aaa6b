use cancel_scope::cancel_scope;

async fn fetch() {}

async fn run() {
    let _ = cancel_scope! {
        let start = || spawn fetch();
        start();
    };
}

fn main() {
    drop(run());
}

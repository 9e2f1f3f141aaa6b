use cancel_scope::cancel_scope;

async fn run() {
    loop {
        let _ = cancel_scope! {
            break;
        };
    }
}

fn main() {
    drop(run());
}

use cancel_scope::cancel_scope;

#[derive(Debug)]
struct MyError;

async fn run() {
    let _ = cancel_scope! {
        error = MyError;
        spawn async { "12".parse::<u32>() };
    };
}

fn main() {
    drop(run());
}

use cancel_scope::cancel_scope;

#[derive(Debug)]
struct MyError;

async fn run() {
    let _ = cancel_scope! {
        error = MyError;
        let n: u32 = "12".parse()?;
        n
    };
}

fn main() {
    drop(run());
}

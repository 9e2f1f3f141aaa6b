use cancel_scope::cancel_scope;

async fn run() {
    let name = String::from("task");
    let _ = cancel_scope! {
        spawn async {
            println!("{name}");
        };
    };
}

fn main() {
    drop(run());
}

use cancel_scope::cancel_scope;

async fn run() {
    let _ = cancel_scope! {
        let name = String::from("task");
        spawn async {
            println!("{name}");
        };
    };
}

fn main() {
    drop(run());
}

use cancel_scope::cancel_scoped;

#[cancel_scoped]
async fn run() {
    spawn(async {});
}

fn main() {
    drop(run());
}

use cancel_scope::{cancel_scoped, ScopeResult};

#[cancel_scoped(error = std::io::Error)]
async fn run() -> ScopeResult<u32> {
    1
}

fn main() {
    drop(run());
}

use cancel_scope::{cancel_scoped, ScopeResult};

#[cancel_scoped(timout = std::time::Duration::from_secs(1))]
async fn run() -> ScopeResult<u32> {
    1
}

fn main() {
    drop(run());
}

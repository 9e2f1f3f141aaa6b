use cancel_scope::{cancel_scoped, ScopeResult};

#[cancel_scoped(supervise = true)]
async fn run() -> ScopeResult<u32> {
    1
}

fn main() {
    drop(run());
}

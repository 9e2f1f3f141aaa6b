use cancel_scope::{cancel_scoped, ScopeResult};

#[cancel_scoped(limit = 1, limit = 2)]
async fn run() -> ScopeResult<u32> {
    1
}

fn main() {
    drop(run());
}

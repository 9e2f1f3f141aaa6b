use cancel_scope::{cancel_scoped, ScopeResult};

#[cancel_scoped]
fn run() -> ScopeResult<u32> {
    1
}

fn main() {
    drop(run());
}

use cancel_scope::{cancel_scoped, ScopeResult};

#[cancel_scoped]
async fn count() -> ScopeResult<u32> {
    let v = 1;
    Ok(v)
}

fn main() {
    drop(count());
}

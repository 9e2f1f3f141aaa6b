use cancel_scope::{cancel_scoped, ScopeResult};

trait Service {
    #[cancel_scoped]
    async fn run(&self) -> ScopeResult<u32>;
}

fn main() {}

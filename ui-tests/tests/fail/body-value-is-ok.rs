use cancel_scope::{cancel_scope, ScopeResult};

async fn run() {
    let out: ScopeResult<u32> = cancel_scope! {
        let v = 1;
        Ok(v)
    };
    drop(out);
}

fn main() {
    drop(run());
}

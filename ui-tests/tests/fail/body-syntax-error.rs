use cancel_scope::{cancel_scope, ScopeResult};

async fn run() {
    let count = 3;
    let out: ScopeResult<u32> = cancel_scope! {
        spawn async {};
        let x = ;
        count
    };
    assert!(out.is_ok());
}

fn main() {
    drop(run());
}

use cancel_scope::{cancel_scoped, ScopeResult};

async fn fetch(n: u32) {
    let _ = n;
}

#[cancel_scoped]
async fn crawl() -> ScopeResult<()> {
    let mut handles = Vec::new();
    for n in 0..3 {
        handles.push(spawn(fetch(n)));
    }
    drop(handles);
}

fn main() {
    drop(crawl());
}

use cancel_scope::{cancel_scoped, ScopeResult};

async fn fetch() {}

#[cancel_scoped]
async fn crawl() -> ScopeResult<()> {
    spawn fetch();
}

fn main() {
    drop(crawl());
}

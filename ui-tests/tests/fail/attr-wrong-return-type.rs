use cancel_scope::cancel_scoped;

#[cancel_scoped]
async fn run() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {
    drop(run());
}

use cancel_scope::cancel_scoped;

#[cancel_scoped]
struct Service {
    name: String,
}

fn main() {
    let _ = Service { name: String::new() }.name;
}

use cancel_scope::cancel_scope;

fn main() {
    let _ = cancel_scope! {
        1
    };
}

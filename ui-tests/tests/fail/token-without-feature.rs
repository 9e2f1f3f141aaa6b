use cancel_scope::CancelScope;

fn main() {
    let scope = CancelScope::new();
    let tg = scope.group();
    let _token = tg.token();
}

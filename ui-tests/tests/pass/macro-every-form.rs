use cancel_scope::{cancel_scope, BoxError, Outcome};

async fn job(n: u32) -> Result<u32, BoxError> {
    Ok(n)
}

struct Config {
    spawn: u32,
    cancel: u32,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let out = cancel_scope! {
        spawn job(1);
        spawn (job(2));
        let h = spawn job(3);
        let h2 = spawn(job(4));
        for i in 0..3 {
            spawn job(i);
        }
        let maybe: Option<u32> = Some(5);
        match maybe {
            Some(n) => spawn job(n),
            None => {
                cancel;
            }
        };
        if maybe.is_none() {
            cancel;
        }
        // Ordinary Rust that looks like the forms.
        let spawn = 1;
        let cancel = 2;
        let c = Config { spawn, cancel };
        let n: u32 = "7".parse()?;
        assert_eq!(c.spawn + c.cancel + n, 10);
        let a = h.await.unwrap_or(0);
        let b = h2.await.unwrap_or(0);
        a + b
    };
    assert_eq!(out.unwrap(), Outcome::Completed(7));
}

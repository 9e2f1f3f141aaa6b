//! What a group tells the code running in it about the world around it:
//! [`TaskGroup::deadline`] (the effective deadline, to pass on as an RPC timeout) and
//! [`TaskGroup::token`] (a `CancellationToken` for library code that takes one; cargo feature
//! `tokio-util`).

use tokio::time::Instant;

use crate::TaskGroup;

impl<E> TaskGroup<E> {
    /// The effective deadline of the group: the earliest of its scope's own deadline, of the
    /// deadlines of the scopes it runs in (the enclosing scopes, innermost first, found when
    /// `run` was first polled) and of the scopes it is linked to with
    /// [`parent`](crate::CancelScope::parent), transitively. `None` when no deadline applies.
    ///
    /// What a task passes on as a gRPC or HTTP timeout. Before `run` starts, a
    /// [`timeout`](crate::CancelScope::timeout) is not yet a deadline (it counts from the first
    /// poll of `run`); [`deadline(at)`](crate::CancelScope::deadline) and the linked parents'
    /// deadlines already are. Scopes that finished no longer count.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cancel_scope::CancelScope;
    /// use tokio::time::Instant;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = Instant::now();
    /// let outer = CancelScope::new().timeout(Duration::from_secs(5));
    /// let outer_tg = outer.group();
    /// assert_eq!(outer_tg.deadline(), None); // a timeout counts from `run`
    /// outer
    ///     .run(async {
    ///         let inner = CancelScope::new().timeout(Duration::from_secs(60));
    ///         let inner_tg = inner.group();
    ///         inner
    ///             .run(async move {
    ///                 // The enclosing scope's deadline is the earlier one.
    ///                 assert_eq!(inner_tg.deadline(), Some(start + Duration::from_secs(5)));
    ///                 Ok(())
    ///             })
    ///             .await?;
    ///         Ok(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// # }
    /// ```
    #[must_use]
    pub fn deadline(&self) -> Option<Instant> {
        self.core.effective_deadline()
    }

    /// A [`CancellationToken`](tokio_util::sync::CancellationToken) that is cancelled when the
    /// group is cancelled (for any reason), for library code that takes a token. It is not
    /// cancelled when the group finishes without being cancelled (like
    /// [`cancelled`](Self::cancelled)). Each call returns a child token of the group's own:
    /// cancelling it affects neither the group (use [`cancel`](Self::cancel)) nor the other
    /// tokens handed out.
    ///
    /// Needs the cargo feature `tokio-util`.
    ///
    /// ```
    /// use cancel_scope::CancelScope;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let scope = CancelScope::new();
    /// let tg = scope.group();
    /// let token = tg.token();
    /// tg.spawn(async move { token.cancelled().await }); // library code that takes a token
    /// tg.cancel();
    /// assert!(tg.token().is_cancelled());
    /// scope.run(async { Ok(()) }).await.unwrap();
    /// # }
    /// ```
    #[cfg(feature = "tokio-util")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio-util")))]
    #[must_use]
    pub fn token(&self) -> tokio_util::sync::CancellationToken {
        let root = self.core.members.token.get_or_init(Default::default);
        // A cancel marked before the root token existed has already fired its notifications.
        if self.core.is_cancelled() {
            root.cancel();
        }
        root.child_token()
    }
}

/// Without the cargo feature `tokio-util`, `TaskGroup::token()` is a compile error that names
/// the feature: the method exists, bound by a trait no type implements.
#[cfg(not(feature = "tokio-util"))]
mod without_token {
    /// Implemented by no type: the bound of `TaskGroup::token` without the feature.
    #[diagnostic::on_unimplemented(
        message = "`TaskGroup::token()` needs the cargo feature `tokio-util` of `cancel-scope`",
        label = "`token()` is only available with the `tokio-util` feature",
        note = "enable it: `cancel-scope = {{ version = \"...\", features = [\"tokio-util\"] }}`"
    )]
    pub trait TokioUtilFeatureRequired {}

    /// Never constructed: what `token()` returns without the feature.
    #[derive(Debug)]
    pub enum NoToken {}

    impl<E> crate::TaskGroup<E> {
        /// Needs the cargo feature `tokio-util` (without it, calling this is a compile error
        /// that says so).
        #[doc(hidden)]
        #[must_use]
        pub fn token(&self) -> NoToken
        where
            E: TokioUtilFeatureRequired,
        {
            unreachable!("no type implements `TokioUtilFeatureRequired`")
        }
    }
}

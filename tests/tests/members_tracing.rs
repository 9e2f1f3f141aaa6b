//! With the `tracing` feature: a named task's span carries its name, and the end of a grace
//! period that aborts tasks says how many (a warn event in the group's span and the
//! `aborted_after_grace` field on the scope's span).
//! Run with `cargo test -p cancel-scope-tests --features tracing --test members_tracing`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cancel_scope::{CancelScope, Locals};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::with_default;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::{LookupSpan, Registry};

#[derive(Debug, Default, Clone)]
struct SpanInfo {
    name: &'static str,
    fields: HashMap<String, String>,
}

/// A warn event: its parent span's id and its fields.
type Warning = (Option<u64>, HashMap<String, String>);

#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<HashMap<u64, SpanInfo>>>,
    /// Warn events: (parent span id, fields).
    warnings: Arc<Mutex<Vec<Warning>>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut info = SpanInfo {
            name: attrs.metadata().name(),
            ..Default::default()
        };
        attrs.record(&mut Fields(&mut info.fields));
        self.spans.lock().unwrap().insert(id.into_u64(), info);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(info) = self.spans.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut info.fields));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::WARN {
            let mut fields = HashMap::new();
            event.record(&mut Fields(&mut fields));
            let parent = event
                .parent()
                .cloned()
                .or_else(|| ctx.current_span().id().cloned())
                .map(|id| id.into_u64());
            self.warnings.lock().unwrap().push((parent, fields));
        }
    }
}

#[test]
fn grace_end_reports_how_many_members_it_aborted_and_names_show_in_spans() {
    let recorder = Recorder::default();
    let subscriber = Registry::default().with(recorder.clone());
    with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let locals = Locals::new();
            let scope = CancelScope::new().grace(Duration::from_secs(1));
            let tg = scope.group();
            let out = scope
                .run_with_locals(&locals, async {
                    // Two tasks and a local task ignore the cancel; one task finishes in time.
                    tg.named("stubborn").spawn(std::future::pending::<()>());
                    tg.spawn(std::future::pending::<()>());
                    locals.spawn_as("local stubborn", std::future::pending::<()>());
                    let w = tg.clone();
                    tg.named("polite").spawn(async move { w.cancelled().await });
                    tokio::task::yield_now().await;
                    tg.cancel();
                    Ok(())
                })
                .await;
            assert!(out.unwrap().is_cancelled());
        });
    });
    let spans = recorder.spans.lock().unwrap().clone();
    let (scope_id, scope) = spans
        .iter()
        .find(|(_, s)| s.name == "cancel_scope")
        .expect("a scope span");
    assert_eq!(
        scope.fields.get("aborted_after_grace").map(String::as_str),
        Some("3"),
        "{spans:#?}"
    );
    let warnings = recorder.warnings.lock().unwrap().clone();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        warnings[0].0,
        Some(*scope_id),
        "the warning is in the group's span"
    );
    assert_eq!(warnings[0].1.get("aborted").map(String::as_str), Some("3"));
    let names: Vec<_> = spans
        .values()
        .filter(|s| s.name == "task")
        .filter_map(|s| s.fields.get("name").cloned())
        .collect();
    for expected in ["stubborn", "polite", "local stubborn"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not in {names:?}"
        );
    }
}

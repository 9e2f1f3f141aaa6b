//! With the `tracing` feature, each scope and each task is in a span: tasks' spans are children
//! of their scope's span, and the scope's span records the reason, the tasks spawned and the
//! errors. Run with `cargo test -p cancel-scope --features tracing --test tracing_spans`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cancel_scope::{BoxError, CancelScope, Outcome};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::with_default;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::{LookupSpan, Registry};

#[derive(Debug, Default, Clone)]
struct SpanInfo {
    name: &'static str,
    parent: Option<u64>,
    fields: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<HashMap<u64, SpanInfo>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let parent = ctx
            .span(id)
            .and_then(|s| s.parent())
            .map(|p| p.id().into_u64());
        let mut info = SpanInfo {
            name: attrs.metadata().name(),
            parent,
            ..Default::default()
        };
        attrs.record(&mut Fields(&mut info.fields));
        self.0.lock().unwrap().insert(id.into_u64(), info);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(info) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut info.fields));
        }
    }
}

/// The spans created while `test` runs on a current-thread runtime, by id.
fn spans_of(test: impl std::future::Future<Output = ()>) -> HashMap<u64, SpanInfo> {
    let recorder = Recorder::default();
    let subscriber = Registry::default().with(recorder.clone());
    with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(test);
    });
    recorder.0.lock().unwrap().clone()
}

#[test]
fn scopes_and_tasks_have_parented_spans() {
    let spans = spans_of(async {
        let outer = CancelScope::new();
        let outer_tg = outer.group();
        let result = outer
            .run(async {
                outer_tg.spawn(async { Ok::<_, BoxError>(1) });
                let inner = CancelScope::new();
                let inner_tg = inner.group();
                inner_tg.spawn(async { Err::<(), BoxError>("inner failure".into()) });
                let inner_out = inner.run(async { Ok(()) }).await;
                assert!(inner_out.is_err());
                outer_tg.cancel();
                Ok(())
            })
            .await;
        assert!(result.unwrap().is_cancelled());
    });
    let scopes: Vec<_> = spans
        .iter()
        .filter(|(_, s)| s.name == "cancel_scope")
        .collect();
    let tasks: Vec<_> = spans.iter().filter(|(_, s)| s.name == "task").collect();
    assert_eq!(scopes.len(), 2, "one span per scope: {spans:#?}");
    assert_eq!(tasks.len(), 2, "one span per task: {spans:#?}");

    let outer = scopes
        .iter()
        .find(|(_, s)| s.parent.is_none())
        .expect("a root scope span");
    let inner = scopes
        .iter()
        .find(|(_, s)| s.parent.is_some())
        .expect("a nested scope span");
    assert_eq!(
        inner.1.parent,
        Some(*outer.0),
        "the inner scope's span is inside the outer's"
    );
    for (_, task) in &tasks {
        assert!(
            task.parent == Some(*outer.0) || task.parent == Some(*inner.0),
            "a task span is a child of its scope's span: {task:?}"
        );
    }
    assert!(tasks.iter().any(|(_, t)| t.parent == Some(*inner.0)));
    assert!(tasks.iter().any(|(_, t)| t.parent == Some(*outer.0)));

    assert_eq!(
        outer.1.fields.get("reason").map(String::as_str),
        Some("cancel requested")
    );
    assert_eq!(
        outer.1.fields.get("tasks_spawned").map(String::as_str),
        Some("1")
    );
    assert_eq!(outer.1.fields.get("errors").map(String::as_str), Some("0"));
    assert_eq!(
        inner.1.fields.get("reason").map(String::as_str),
        Some("a task or the body failed")
    );
    assert_eq!(inner.1.fields.get("errors").map(String::as_str), Some("1"));
}

/// A scope without a group of its own (one that never needs one, and one whose group a
/// nested scope creates) is a scope like any other: it has its span, a child of the span of
/// the scope it runs in, and the scopes nested in it have their spans inside its own.
#[test]
fn ungrouped_scopes_have_spans_like_any_scope() {
    let spans = spans_of(async {
        let outer = CancelScope::new();
        let _tg = outer.group();
        let out = outer
            .run(async {
                // Never needs a group.
                let a = CancelScope::new().run(async { Ok(1) }).await;
                assert_eq!(a.unwrap(), Outcome::Completed(1));
                // Its group is created by the nested scope.
                let b = CancelScope::new()
                    .run(async {
                        let inner = CancelScope::new();
                        let tg = inner.group();
                        tg.spawn(async { Ok::<_, BoxError>(()) });
                        inner.run(async { Ok(2) }).await.map_err(Into::into)
                    })
                    .await;
                assert!(b.is_ok());
                Ok(())
            })
            .await;
        assert_eq!(out.unwrap(), Outcome::Completed(()));
    });
    let scopes: Vec<(u64, Option<u64>)> = spans
        .iter()
        .filter(|(_, info)| info.name == "cancel_scope")
        .map(|(id, info)| (*id, info.parent))
        .collect();
    assert_eq!(
        scopes.len(),
        4,
        "one span per scope (outer, a, b, inner): {scopes:?}"
    );
    let outer = scopes
        .iter()
        .find(|(_, p)| p.is_none())
        .expect("the outer scope's span")
        .0;
    let children: Vec<u64> = scopes
        .iter()
        .filter(|(_, p)| *p == Some(outer))
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(children.len(), 2, "a and b in outer: {scopes:?}");
    let grandchildren: Vec<u64> = scopes
        .iter()
        .filter(|(_, p)| p.is_some_and(|p| children.contains(&p)))
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(grandchildren.len(), 1, "inner in b: {scopes:?}");
}

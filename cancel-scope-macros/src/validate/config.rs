//! The options' rules: each at most once, `timeout` and `deadline` exclusive, `error` not in
//! the attribute. A [`ConfigBuilder`] whose `set_*` reject what breaks a rule (in the manner of
//! tokio-macros' `Configuration`), then `build()`.

use crate::diagnostics::Diagnostics;
use crate::options::{OptKind, OptValue, RawOpt, RawOptions, Site, Sites};
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens as _, quote};
use syn::{Ident, Type};

/// Options that exclude each other.
const EXCLUSIVE: &[(OptKind, OptKind)] = &[(OptKind::Timeout, OptKind::Deadline)];

/// The validated options of one scope.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// `as NAME`.
    pub(crate) name: Option<Ident>,
    /// The options that become builder calls, in the order written, each at most once.
    pub(crate) builder: Vec<(OptKind, OptValue)>,
    /// `error = Type`.
    pub(crate) error_ty: Option<Type>,
    /// Path of the runtime crate: `::cancel_scope` unless `crate = ...`.
    pub(crate) krate: TokenStream,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: None,
            builder: Vec::new(),
            error_ty: None,
            krate: quote!(::cancel_scope),
        }
    }
}

/// Collects options, rejecting each one that breaks a rule.
#[derive(Debug)]
pub(crate) struct ConfigBuilder {
    site: Site,
    name: Option<Ident>,
    set: Vec<(OptKind, Span, OptValue)>,
}

impl ConfigBuilder {
    pub(crate) fn new(site: Site) -> Self {
        ConfigBuilder {
            site,
            name: None,
            set: Vec::new(),
        }
    }

    /// `as NAME`: at most once.
    pub(crate) fn set_name(&mut self, name: Ident) -> syn::Result<()> {
        if self.name.is_some() {
            return Err(syn::Error::new(
                name.span(),
                "the task group is named more than once (`as NAME` may appear once)",
            ));
        }
        self.name = Some(name);
        Ok(())
    }

    /// One option: at most once, not with an option it excludes, only where it may be written.
    pub(crate) fn set(&mut self, opt: RawOpt) -> syn::Result<()> {
        let kind = opt.kind;
        if self.set.iter().any(|(k, _, _)| *k == kind) {
            return Err(syn::Error::new(
                opt.name_span,
                format_args!("`{}` is set multiple times; set it once", kind.name()),
            ));
        }
        let excluded = EXCLUSIVE.iter().find_map(|&(a, b)| {
            let other = if kind == a {
                b
            } else if kind == b {
                a
            } else {
                return None;
            };
            self.set
                .iter()
                .any(|(k, _, _)| *k == other)
                .then_some(other)
        });
        if let Some(other) = excluded {
            return Err(syn::Error::new(
                opt.name_span,
                format_args!(
                    "`{}` cannot be combined with `{}`: a scope has one deadline; set either \
                     `timeout = DURATION` (counted from the start of the scope) or `deadline = INSTANT`",
                    kind.name(),
                    other.name()
                ),
            ));
        }
        if let (Site::Attr, Sites::MacroOnly(message)) = (self.site, kind.spec().sites) {
            return Err(syn::Error::new(opt.name_span, message));
        }
        self.set.push((kind, opt.name_span, opt.value));
        Ok(())
    }

    pub(crate) fn build(self) -> Config {
        let mut config = Config {
            name: self.name,
            ..Config::default()
        };
        for (kind, _, value) in self.set {
            match (kind, value) {
                (OptKind::Error, OptValue::Type(t)) => config.error_ty = Some(t),
                (OptKind::Crate, OptValue::Path(p)) => config.krate = p.to_token_stream(),
                (kind, value) => config.builder.push((kind, value)),
            }
        }
        config
    }
}

/// Validates options; returns the config (always), the errors go to `diag`.
pub(crate) fn validate_options(raw: RawOptions, site: Site, diag: &mut Diagnostics) -> Config {
    let mut builder = ConfigBuilder::new(site);
    for name in raw.names {
        if let Err(e) = builder.set_name(name) {
            diag.push(e);
        }
    }
    for opt in raw.opts {
        if let Err(e) = builder.set(opt) {
            diag.push(e);
        }
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args;
    use syn::parse::{ParseStream, Parser as _};

    fn config(site: Site, ts: TokenStream) -> (Config, Vec<String>) {
        let mut diag = Diagnostics::default();
        let raw = (|s: ParseStream<'_>| {
            Ok(match site {
                Site::Macro => args::parse_macro_options(s, &mut diag).options,
                Site::Attr => args::parse_attr_args(s, &mut diag),
            })
        })
        .parse2(ts)
        .unwrap();
        assert!(!diag.has_errors(), "{:?}", diag.messages());
        let config = validate_options(raw, site, &mut diag);
        (config, diag.messages())
    }

    fn kinds(config: &Config) -> Vec<OptKind> {
        config.builder.iter().map(|(k, _)| *k).collect()
    }

    #[test]
    fn duplicates_and_exclusive_options_are_all_reported() {
        let (config, errs) = config(
            Site::Macro,
            quote! {
                as a; as b; timeout = x; limit = 1; limit = 2; deadline = y; parent = p; parent = q; 0
            },
        );
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(errs[0].contains("named more than once"));
        assert!(errs[1].contains("`limit` is set multiple times"));
        assert!(errs[2].contains("`deadline` cannot be combined with `timeout`"));
        assert!(errs[3].contains("`parent` is set multiple times"));
        assert_eq!(config.name.as_ref().unwrap().to_string(), "a");
        assert_eq!(
            kinds(&config),
            [OptKind::Timeout, OptKind::Limit, OptKind::Parent]
        );
    }

    #[test]
    fn error_and_crate_are_not_builder_calls() {
        let (config, errs) = config(
            Site::Macro,
            quote! { crate = ::re::export; error = E; grace = g; 1 },
        );
        assert!(errs.is_empty());
        assert_eq!(config.krate.to_string(), quote!(::re::export).to_string());
        assert!(config.error_ty.is_some());
        assert_eq!(kinds(&config), [OptKind::Grace]);
    }

    #[test]
    fn error_in_attribute() {
        let (config, errs) = config(Site::Attr, quote!(error = io::Error, limit = 2));
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].contains("the error type comes from the return type"),
            "{errs:?}"
        );
        assert!(config.error_ty.is_none());
        assert_eq!(kinds(&config), [OptKind::Limit]);
    }
}

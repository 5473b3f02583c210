//! `#[derive(Resource)]` for the `informer` crate: implements `informer::meta::Object`
//! and `informer::meta::Resource` for a struct with a `metadata: ObjectMeta` field, from
//! a `#[resource(...)]` attribute; with `schema` (and `informer`'s `schema` feature), also
//! `informer::meta::CustomResource`, which builds the CustomResourceDefinition.
//!
//! Use it through `informer` (`informer::meta::Resource` is the trait and the derive):
//!
//! ```ignore
//! #[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, informer::meta::Resource)]
//! #[resource(group = "example.com", version = "v1", kind = "Widget", plural = "widgets", namespaced)]
//! struct Widget {
//!     metadata: informer::meta::ObjectMeta,
//!     spec: WidgetSpec,
//! }
//! ```
//!
//! Attribute keys: `group` (empty for the core group), `version` (required), `kind`
//! (default: the struct's name), `plural` (default: the kind in lower case with an `s`),
//! `singular` (default: the kind in lower case), `namespaced` (default: cluster-scoped),
//! `shortname = "..."` (repeatable), `status` (the definition declares a `status`
//! subresource), `scale_spec`, `scale_status` and `scale_selector` (the paths of a
//! `scale` subresource, as `".spec.replicas"`) and `schema` (implement `CustomResource`;
//! the struct must implement `schemars::JsonSchema`).

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;
use syn::{parse_macro_input, Data, DeriveInput, Fields, LitStr};

/// Derives `Object` and `Resource` (and, with `schema`, `CustomResource`); see the crate
/// docs for the attribute.
#[proc_macro_derive(Resource, attributes(resource))]
pub fn derive_resource(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// What the attribute says.
#[derive(Default)]
struct Attrs {
    group: Option<String>,
    version: Option<String>,
    kind: Option<String>,
    plural: Option<String>,
    singular: Option<String>,
    namespaced: bool,
    status: bool,
    schema: bool,
    short_names: Vec<String>,
    scale_spec: Option<String>,
    scale_status: Option<String>,
    scale_selector: Option<String>,
}

fn parse_attrs(input: &DeriveInput) -> syn::Result<Attrs> {
    let mut attrs = Attrs::default();
    let mut seen = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("resource")) {
        seen = true;
        attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let text = || -> syn::Result<String> { Ok(meta.value()?.parse::<LitStr>()?.value()) };
            match key.as_str() {
                "group" => attrs.group = Some(text()?),
                "version" => attrs.version = Some(text()?),
                "kind" => attrs.kind = Some(text()?),
                "plural" => attrs.plural = Some(text()?),
                "singular" => attrs.singular = Some(text()?),
                "shortname" => attrs.short_names.push(text()?),
                "scale_spec" => attrs.scale_spec = Some(text()?),
                "scale_status" => attrs.scale_status = Some(text()?),
                "scale_selector" => attrs.scale_selector = Some(text()?),
                "namespaced" => attrs.namespaced = true,
                "status" => attrs.status = true,
                "schema" => attrs.schema = true,
                _ => {
                    return Err(meta.error(
                        "unknown key: expected group, version, kind, plural, singular, \
                         shortname, namespaced, status, schema, scale_spec, scale_status \
                         or scale_selector",
                    ))
                }
            }
            Ok(())
        })?;
    }
    if !seen {
        return Err(syn::Error::new(
            Span::call_site(),
            "#[derive(Resource)] needs #[resource(group = \"...\", version = \"...\")]",
        ));
    }
    Ok(attrs)
}

fn expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let attrs = parse_attrs(input)?;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Resource)] works on structs",
        ));
    };
    let has_metadata = matches!(&data.fields, Fields::Named(named)
        if named.named.iter().any(|f| f.ident.as_ref().is_some_and(|i| i == "metadata")));
    if !has_metadata {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Resource)] needs a field `metadata: informer::meta::ObjectMeta`",
        ));
    }
    let Some(version) = attrs.version.clone() else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[resource(...)] needs `version = \"...\"`",
        ));
    };
    for (what, value) in [
        ("version", Some(&version)),
        ("kind", attrs.kind.as_ref()),
        ("plural", attrs.plural.as_ref()),
    ] {
        if value.is_some_and(|v| v.is_empty()) {
            return Err(syn::Error::new_spanned(
                &input.ident,
                format!("`{what}` must not be empty"),
            ));
        }
    }
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let group = attrs.group.clone().unwrap_or_default();
    let kind = attrs.kind.clone().unwrap_or_else(|| ident.to_string());
    let singular = attrs
        .singular
        .clone()
        .unwrap_or_else(|| kind.to_lowercase());
    let plural = attrs
        .plural
        .clone()
        .unwrap_or_else(|| format!("{}s", kind.to_lowercase()));
    let namespaced = attrs.namespaced;

    let mut out = quote! {
        impl #impl_generics ::informer::meta::Object for #ident #ty_generics #where_clause {
            type Meta = ::informer::meta::ObjectMeta;
            fn meta(&self) -> &::informer::meta::ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ::informer::meta::ObjectMeta {
                &mut self.metadata
            }
        }

        impl #impl_generics ::informer::meta::Resource for #ident #ty_generics #where_clause {
            fn api_resource() -> ::informer::meta::ApiResource {
                ::informer::meta::ApiResource::new(#group, #version, #kind, #plural, #namespaced)
            }
        }
    };
    if attrs.schema {
        if group.is_empty() {
            return Err(syn::Error::new_spanned(
                ident,
                "`schema` needs a `group`: a custom resource is never in the core group",
            ));
        }
        let status = attrs.status;
        let short_names = &attrs.short_names;
        let scale = match (&attrs.scale_spec, &attrs.scale_status) {
            (Some(spec), Some(status_path)) => {
                let selector = match &attrs.scale_selector {
                    Some(s) => quote! { ::core::option::Option::Some(#s) },
                    None => quote! { ::core::option::Option::None },
                };
                quote! { ::core::option::Option::Some((#spec, #status_path, #selector)) }
            }
            (None, None) if attrs.scale_selector.is_none() => {
                quote! { ::core::option::Option::None }
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    ident,
                    "a scale subresource needs both `scale_spec` and `scale_status`",
                ))
            }
        };
        out.extend(quote! {
            impl #impl_generics ::informer::meta::CustomResource for #ident #ty_generics #where_clause {
                fn crd() -> ::informer::meta::CustomResourceDefinition {
                    ::informer::meta::CustomResourceDefinition::build(
                        ::informer::meta::CrdNames {
                            group: #group,
                            version: #version,
                            kind: #kind,
                            plural: #plural,
                            singular: #singular,
                            short_names: &[#(#short_names),*],
                            namespaced: #namespaced,
                            status: #status,
                            scale: #scale,
                        },
                        ::informer::meta::__schema_of::<Self>(),
                    )
                }
            }
        });
    }
    Ok(out)
}

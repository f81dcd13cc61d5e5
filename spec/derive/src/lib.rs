//! `#[derive(Block)]` for `app-spec`: one struct per configuration block.
//!
//! ```ignore
//! /// How the runner decides a new generation is healthy.     ← the block's description
//! #[derive(Block, Serialize, Deserialize)]
//! #[serde(deny_unknown_fields)]                               ← required: a field cannot exist on one side only
//! #[block(validate = health_rules)]                           ← optional: fn(&Json) -> Vec<FieldError> for cross-field rules
//! pub struct HealthCheck {
//!     /// HTTP path that must answer 2xx/3xx.                 ← the attribute's description
//!     pub http_path: Option<String>,                          ← Option = optional, otherwise required
//!     #[block(validate = validate::duration)]                 ← field validators, any number
//!     pub interval: Option<String>,
//!     #[block(default = 256)] pub memory: Option<i64>,        ← optional + computed, planned as 256 when unset
//!     #[block(computed)] pub id: Option<String>,              ← reported by the platform only
//!     #[block(required, write_only)] pub password: Option<String>, ← also: sensitive, forces_new, optional_computed
//!                                                         (required on an Option: set in the configuration, absent in state)
//!     pub resources: Option<Resources>,                       ← a struct deriving Block: a nested block
//!     pub rules: Vec<Rule>,                                   ← a list of them: a repeatable block
//! }
//! ```
//!
//! The value types (`String`, `bool`, integers, `f64`, `Vec<_>`, `BTreeMap<String, _>`) map to
//! Terraform types through `app_spec::Field`; integers are validated to fit their Rust type, so the
//! runner's deserialisation of a validated block cannot fail. Serde attributes that would make the
//! JSON differ from the schema (`rename`, `alias`, `flatten`, `skip`, `skip_deserializing`, `with`,
//! `deserialize_with`) are refused.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{parse_macro_input, Attribute, Data, DeriveInput, Expr, Fields, GenericArgument, LitStr, PathArguments, Type};

#[proc_macro_derive(Block, attributes(block))]
pub fn derive_block(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// The doc comment of an item as Markdown: lines joined with spaces, blank lines kept as paragraph breaks.
fn doc_text(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        if let syn::Meta::NameValue(nv) = &attr.meta {
            if let Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) = &nv.value {
                let line = s.value();
                lines.push(line.strip_prefix(' ').unwrap_or(&line).trim_end().to_string());
            }
        }
    }
    let mut text = String::new();
    for line in lines {
        if line.is_empty() {
            if !text.is_empty() && !text.ends_with("\n\n") {
                text.push_str("\n\n");
            }
        } else {
            if !text.is_empty() && !text.ends_with("\n\n") {
                text.push(' ');
            }
            text.push_str(&line);
        }
    }
    text.trim_end().to_string()
}

/// The serde attribute words of an item, e.g. `["deny_unknown_fields"]`, `["default", "skip_serializing"]`.
fn serde_words(attrs: &[Attribute]) -> Vec<(String, proc_macro2::Span)> {
    let mut words = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            let name = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            words.push((name, meta.path.span()));
            if meta.input.peek(syn::Token![=]) {
                let _ = meta.value()?.parse::<Expr>()?;
            } else if meta.input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in meta.input);
                let _ = content.parse::<Tokens>()?;
            }
            Ok(())
        });
    }
    words
}

#[derive(Default)]
struct FieldOptions {
    required: bool,
    computed: bool,
    optional_computed: bool,
    sensitive: bool,
    write_only: bool,
    forces_new: bool,
    default: Option<Expr>,
    validators: Vec<Expr>,
}

fn field_options(attrs: &[Attribute]) -> syn::Result<FieldOptions> {
    let mut options = FieldOptions::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("block")) {
        attr.parse_nested_meta(|meta| {
            let flag = |set: &mut bool| {
                *set = true;
                Ok(())
            };
            if meta.path.is_ident("required") {
                flag(&mut options.required)
            } else if meta.path.is_ident("computed") {
                flag(&mut options.computed)
            } else if meta.path.is_ident("optional_computed") {
                flag(&mut options.optional_computed)
            } else if meta.path.is_ident("sensitive") {
                flag(&mut options.sensitive)
            } else if meta.path.is_ident("write_only") {
                flag(&mut options.write_only)
            } else if meta.path.is_ident("forces_new") {
                flag(&mut options.forces_new)
            } else if meta.path.is_ident("default") {
                options.default = Some(meta.value()?.parse()?);
                Ok(())
            } else if meta.path.is_ident("validate") {
                options.validators.push(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error(
                    "unknown block attribute: use required, computed, optional_computed, sensitive, write_only, forces_new, default = …, validate = …",
                ))
            }
        })?;
    }
    Ok(options)
}

/// `Option<T>` → `Some(T)`.
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    match args.args.first() {
        Some(GenericArgument::Type(inner)) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let ident = &input.ident;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(input.generics.span(), "#[derive(Block)] does not take generic structs"));
    }
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(input.span(), "#[derive(Block)] is for structs with named fields"));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new(input.span(), "#[derive(Block)] is for structs with named fields"));
    };
    if !serde_words(&input.attrs).iter().any(|(w, _)| w == "deny_unknown_fields") {
        return Err(syn::Error::new(
            input.ident.span(),
            "a block struct needs #[serde(deny_unknown_fields)]: the runner must refuse fields the schema does not have",
        ));
    }
    let mut block_validators = Vec::new();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("block")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("validate") {
                block_validators.push(meta.value()?.parse::<Expr>()?);
                Ok(())
            } else {
                Err(meta.error("on a struct, #[block] takes only validate = <fn(&Json) -> Vec<FieldError>>"))
            }
        })?;
    }
    let description = LitStr::new(&doc_text(&input.attrs), ident.span());

    let mut adds = Vec::new();
    let mut checks = Vec::new();
    let mut names = Vec::new();
    for field in &fields.named {
        let Some(field_ident) = &field.ident else { continue };
        let name_text = field_ident.to_string().trim_start_matches("r#").to_string();
        let name = LitStr::new(&name_text, field_ident.span());
        for (word, span) in serde_words(&field.attrs) {
            if ["rename", "alias", "flatten", "skip", "skip_deserializing", "with", "deserialize_with"].contains(&word.as_str()) {
                return Err(syn::Error::new(
                    span,
                    format!("#[serde({word})] would make the runner's JSON differ from the schema; name the field as the schema does"),
                ));
            }
        }
        let options = field_options(&field.attrs)?;
        let inner = option_inner(&field.ty);
        let needs_option =
            |what: &str| syn::Error::new(field.ty.span(), format!("a {what} field must be an Option<…>: it is unset in the configuration"));
        let presence = if options.required {
            // An Option that Terraform requires: a write-only value, absent outside the apply.
            quote!(Required)
        } else if options.computed {
            inner.ok_or_else(|| needs_option("computed"))?;
            quote!(Computed)
        } else if options.default.is_some() || options.optional_computed {
            inner.ok_or_else(|| needs_option("defaulted or optional+computed"))?;
            quote!(OptionalComputed)
        } else if inner.is_some() {
            quote!(Optional)
        } else {
            quote!(Required)
        };
        let value_type = inner.unwrap_or(&field.ty);
        let doc = LitStr::new(&doc_text(&field.attrs), field_ident.span());
        let (sensitive, write_only, forces_new) = (options.sensitive, options.write_only, options.forces_new);
        let default = match &options.default {
            Some(expr) => quote!(::core::option::Option::Some(::app_spec::field::default_json(&(#expr)))),
            None => quote!(::core::option::Option::None),
        };
        adds.push(quote_spanned! {field.span()=>
            spec.add(#name, #doc, <#value_type as ::app_spec::Field>::shape(), ::app_spec::Presence::#presence,
                #sensitive, #write_only, #forces_new, #default);
        });
        let validators = options.validators.iter().map(|v| quote_spanned!(v.span()=> &(#v) as &::app_spec::field::Validator));
        checks.push(quote_spanned! {field.span()=>
            if let ::core::option::Option::Some(value) = object.get(#name).filter(|v| !v.is_null()) {
                ::app_spec::field::check_field::<#value_type>(value, #name, &[#(#validators),*], &mut errors);
            }
        });
        names.push(name);
    }

    Ok(quote! {
        impl ::app_spec::Block for #ident {
            fn spec() -> ::app_spec::BlockSpec {
                let mut spec = ::app_spec::BlockSpec::new(#description);
                #(#adds)*
                spec
            }

            fn validate(json: &::app_spec::Json) -> ::std::vec::Vec<::app_spec::FieldError> {
                let mut errors = ::std::vec::Vec::new();
                let ::core::option::Option::Some(object) = json.as_object() else { return errors };
                const FIELDS: &[&str] = &[#(#names),*];
                for key in object.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
                    errors.push(::app_spec::FieldError::new(
                        &[key.as_str()],
                        "Unsupported field",
                        ::std::format!("{key:?} is not a field of this block; it has: {}.", FIELDS.join(", ")),
                    ));
                }
                #(#checks)*
                #( errors.extend((#block_validators)(json)); )*
                errors
            }
        }

        impl ::app_spec::Field for #ident {
            fn shape() -> ::app_spec::Shape {
                ::app_spec::Shape::Block(::app_spec::Nesting::Single, <Self as ::app_spec::Block>::spec)
            }
            fn check(value: &::app_spec::Json, at: &[::std::string::String], errors: &mut ::std::vec::Vec<::app_spec::FieldError>) {
                ::app_spec::field::check_block::<Self>(value, at, errors)
            }
        }
    })
}

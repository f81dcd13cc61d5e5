//! The Terraform Registry docs (`docs/index.md`, `docs/resources/<type>.md`), generated from the
//! schemas — which come from the block declarations in `app-spec` — and the runnable examples in
//! `examples/terraform/`. `tests/docs.rs` fails when the committed docs differ from what this writes
//! (`UPDATE_DOCS=1` rewrites them).

use crate::framework::schema::{AttrType, Attribute, Block, Nesting};
use crate::framework::Resource;
use app_cty::{Type, Value};
use app_spec::catalog::{self, Role};
use std::fmt::Write as _;
use std::path::Path;

/// One generated file, relative to `docs/`.
pub struct Page {
    pub path: String,
    pub text: String,
}

/// Example files, in the order their blocks are shown.
const EXAMPLES: [&str; 5] = ["docker/main.tf", "aws-lambda/main.tf", "exec/main.tf", "two-apps/main.tf", "modules/web-service/main.tf"];

/// Every page, from the schemas and the examples under `examples_dir` (`examples/terraform`).
pub fn pages(examples_dir: &Path) -> Result<Vec<Page>, String> {
    let mut sources = Vec::new();
    for file in EXAMPLES {
        let path = examples_dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        sources.push((format!("examples/terraform/{file}"), text));
    }
    let mut pages = vec![Page { path: "index.md".into(), text: index(&sources) }];
    for resource in crate::resources::all() {
        pages.push(Page { path: format!("resources/{}.md", resource.type_name()), text: resource_page(resource.as_ref(), &sources) });
    }
    Ok(pages)
}

fn front_matter(title: &str, description: &str) -> String {
    let first = description.split("\n\n").next().unwrap_or_default().replace('\n', " ");
    format!("---\npage_title: \"{title}\"\nsubcategory: \"\"\ndescription: |-\n  {first}\n---\n\n")
}

fn index(sources: &[(String, String)]) -> String {
    let schema = crate::config::schema();
    let mut out = front_matter("Provider: app", &schema.block.description);
    out.push_str("# app Provider\n\n");
    out.push_str(&schema.block.description);
    out.push_str(
        "\n\nThree resources share one lifecycle: [`app_build`](resources/app_build.md) builds or resolves an image, \
[`app_deployment`](resources/app_deployment.md) runs it as generations on a platform, and \
[`app_release`](resources/app_release.md) moves traffic to a healthy generation. Every operation is a job for `app-runner`, \
which the provider starts on demand next to itself.\n\n",
    );
    out.push_str("## Example Usage\n\n");
    for (file, text) in sources.iter().filter(|(_, t)| t.contains("provider \"app\"")) {
        for example in blocks_of(text, "provider \"app\"") {
            let _ = write!(out, "From `{file}`:\n\n```terraform\n{example}\n```\n\n");
        }
    }
    out.push_str("## Schema\n\n");
    schema_section(&mut out, &schema.block, "");
    out
}

fn role_title(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::Builder => ("Builders", "builder"),
        Role::Platform => ("Platforms", "platform"),
        Role::Releaser => ("Releasers", "releaser"),
    }
}

fn role_of(type_name: &str) -> Option<Role> {
    match type_name {
        crate::resources::build::TYPE => Some(Role::Builder),
        crate::resources::deployment::TYPE => Some(Role::Platform),
        crate::resources::release::TYPE => Some(Role::Releaser),
        _ => None,
    }
}

fn resource_page(resource: &dyn Resource, sources: &[(String, String)]) -> String {
    let type_name = resource.type_name();
    let schema = resource.schema();
    let mut out = front_matter(&format!("{type_name} Resource - terraform-provider-app"), &schema.block.description);
    let _ = write!(out, "# {type_name} (Resource)\n\n{}\n\n", schema.block.description);
    let role = role_of(type_name);
    let ready = role.map(catalog::ready).unwrap_or_default();
    if let Some(role) = role {
        let (title, noun) = role_title(role);
        let names: Vec<String> = ready.iter().map(|p| format!("`{}`", p.name)).collect();
        let _ = write!(out, "Exactly one {noun} block: {}. ", names.join(", "));
        let planned = catalog::planned_names(role);
        if !planned.is_empty() {
            let _ =
                write!(out, "Planned, not in this version: {}. ", planned.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "));
        }
        let _ = write!(out, "See [{title}](#{}) below.\n\n", title.to_ascii_lowercase());
    }
    out.push_str("## Example Usage\n\n");
    let mut shown = 0;
    for (file, text) in sources {
        for example in blocks_of(text, &format!("resource \"{type_name}\"")) {
            let _ = write!(out, "From `{file}`:\n\n```terraform\n{example}\n```\n\n");
            shown += 1;
        }
        if shown >= 1 {
            break;
        }
    }
    out.push_str("## Schema\n\n");
    let platform_names: Vec<&str> = ready.iter().map(|p| p.name).collect();
    let mut top = schema.block.clone();
    top.blocks.retain(|b| !platform_names.contains(&b.name.as_str()));
    schema_section(&mut out, &top, "");
    if let Some(role) = role {
        let (title, noun) = role_title(role);
        let _ = write!(out, "## {title}\n\n");
        for p in &ready {
            let Some(nested) = schema.block.nested_block(p.name) else { continue };
            let _ = write!(out, "### `{}` {noun}\n\n{}\n\n", p.name, nested.block.description);
            let extra = match (p.context.is_some(), p.pushes, p.image_rule.is_some(), p.detects_secret_changes) {
                (true, true, _, _) => "Builds from `source` (packed where Terraform runs, `.dockerignore` honoured); the result can be pushed with `registry`.",
                (true, false, _, _) => "Builds from `source` (packed where Terraform runs).",
                (false, _, true, true) => {
                    "Runs `image`. A changed `secret_env` value is found at plan time by comparing with the running app; no `secret_env_version` needed."
                }
                (false, _, true, false) => "Runs `image`.",
                _ => "",
            };
            if !extra.is_empty() {
                let _ = write!(out, "{extra}\n\n");
            }
            for (file, text) in sources {
                let example = blocks_of(text, &format!("resource \"{type_name}\"")).into_iter().find(|b| {
                    b.lines().any(|l| l.trim_start().starts_with(&format!("{} {{", p.name)) && l.starts_with("  ") && !l.starts_with("   "))
                });
                if let Some(example) = example {
                    let _ = write!(out, "Example (`{file}`):\n\n```terraform\n{example}\n```\n\n");
                    break;
                }
            }
            schema_section(&mut out, &nested.block, &format!("{}.", p.name));
        }
    }
    let import = resource.import_syntax();
    if !import.is_empty() {
        let _ = write!(out, "## Import\n\n{import}\n");
    }
    out
}

/// `(String)`, `(List of Number)`, `(Map of String)` … as the registry shows types.
fn type_text(ty: &Type) -> String {
    match ty {
        Type::String => "String".into(),
        Type::Number => "Number".into(),
        Type::Bool => "Boolean".into(),
        Type::List(inner) => format!("List of {}", type_text(inner)),
        Type::Set(inner) => format!("Set of {}", type_text(inner)),
        Type::Map(inner) => format!("Map of {}", type_text(inner)),
        Type::Dynamic => "Dynamic".into(),
        _ => "Object".into(),
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => crate::resources::to_json(other).to_string(),
    }
}

fn attribute_line(out: &mut String, a: &Attribute) {
    let mut notes = vec![match &a.ty {
        AttrType::Plain(t) => type_text(t),
        AttrType::Nested(..) => "Object".into(),
    }];
    if a.sensitive {
        notes.push("Sensitive".into());
    }
    if a.write_only {
        notes.push("Write-only".into());
    }
    let mut text = a.description.replace('\n', " ");
    if let Some(default) = &a.default {
        let _ = write!(text, " Default: `{}`.", value_text(default));
    }
    if a.has(crate::framework::PlanModifier::RequiresReplace) {
        text.push_str(" Changing it replaces the resource.");
    }
    let _ = writeln!(out, "- `{}` ({}) {}", a.name, notes.join(", "), text.trim());
}

/// `#### Required` / `Optional` / `Read-Only` lists of a block's attributes and nested blocks,
/// then one `Nested Schema` section per nested block. `prefix` names the block (`docker.`).
fn schema_section(out: &mut String, block: &Block, prefix: &str) {
    type Belongs = fn(&Attribute) -> bool;
    let groups: [(&str, Belongs); 3] =
        [("Required", |a| a.required), ("Optional", |a| a.optional), ("Read-Only", |a| a.computed && !a.optional)];
    for (title, belongs) in groups {
        let attrs: Vec<&Attribute> = block.attributes.iter().filter(|a| belongs(a)).collect();
        let blocks: Vec<_> = if title == "Optional" { block.blocks.iter().collect() } else { Vec::new() };
        if attrs.is_empty() && blocks.is_empty() {
            continue;
        }
        let _ = write!(out, "#### {title}\n\n");
        for a in attrs {
            attribute_line(out, a);
        }
        for b in blocks {
            let anchor = format!("nestedblock--{}{}", prefix.replace('.', "--"), b.name);
            let kind = match b.nesting {
                Nesting::Single | Nesting::Group => "Block",
                Nesting::List => "Block List",
                Nesting::Set => "Block Set",
                Nesting::Map => "Block Map",
            };
            let summary = first_sentence(&b.block.description);
            let _ = writeln!(out, "- `{}` ({kind}) {summary} See [below for nested schema](#{anchor}).", b.name);
        }
        out.push('\n');
    }
    for b in &block.blocks {
        let anchor = format!("nestedblock--{}{}", prefix.replace('.', "--"), b.name);
        let _ = write!(out, "<a id=\"{anchor}\"></a>\n### Nested Schema for `{prefix}{}`\n\n", b.name);
        if !b.block.description.is_empty() {
            let _ = write!(out, "{}\n\n", b.block.description);
        }
        schema_section(out, &b.block, &format!("{prefix}{}.", b.name));
    }
}

/// The first sentence of a description: up to a period followed by a space and a capital letter.
fn first_sentence(text: &str) -> String {
    let text = text.replace('\n', " ");
    let bytes = text.as_bytes();
    let end = (1..bytes.len().saturating_sub(2))
        .find(|&i| bytes[i] == b'.' && bytes[i + 1] == b' ' && bytes[i + 2].is_ascii_uppercase())
        .map_or(text.len(), |i| i + 1);
    text[..end].trim().to_string()
}

/// The top-level HCL blocks of `text` that start with `head` (e.g. `resource "app_build"`),
/// each up to its closing brace. Braces inside strings, interpolations and comments are skipped.
pub fn blocks_of(text: &str, head: &str) -> Vec<String> {
    let mut found = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].starts_with(head) {
            i += 1;
            continue;
        }
        let mut depth = 0i64;
        let mut end = None;
        for (j, line) in lines.iter().enumerate().skip(i) {
            depth += brace_balance(line);
            if depth <= 0 {
                end = Some(j);
                break;
            }
        }
        let Some(end) = end else { break };
        found.push(lines[i..=end].join("\n"));
        i = end + 1;
    }
    found
}

/// Opening minus closing braces of one line of HCL, outside strings and comments.
fn brace_balance(line: &str) -> i64 {
    let mut balance = 0;
    let mut in_string = false;
    let mut interpolation = 0;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (in_string, c) {
            (false, '#') => break,
            (false, '/') if chars.peek() == Some(&'/') => break,
            (false, '"') => in_string = true,
            (false, '{') => balance += 1,
            (false, '}') => balance -= 1,
            (true, '\\') => {
                chars.next();
            }
            (true, '$') if chars.peek() == Some(&'{') => {
                chars.next();
                interpolation += 1;
            }
            (true, '}') if interpolation > 0 => interpolation -= 1,
            (true, '"') if interpolation == 0 => in_string = false,
            _ => {}
        }
    }
    balance
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_cut_at_their_closing_brace() {
        let text = "resource \"app_build\" \"web\" {\n  source = \"${path.module}/app\"\n  docker {} # {\n}\n\nresource \"app_release\" \"x\" {\n}\n";
        assert_eq!(
            blocks_of(text, "resource \"app_build\""),
            ["resource \"app_build\" \"web\" {\n  source = \"${path.module}/app\"\n  docker {} # {\n}"]
        );
        assert_eq!(blocks_of(text, "resource \"app_release\"").len(), 1);
    }
}

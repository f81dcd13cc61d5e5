//! The committed registry docs (`docs/`) are what the generator writes from the declarations and
//! examples. `UPDATE_DOCS=1 cargo test -p terraform-provider-app --test docs` rewrites them.

use std::path::PathBuf;

#[test]
fn committed_docs_match_the_declarations() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let pages = terraform_provider_app::docs::pages(&root.join("examples/terraform")).expect("examples are readable");
    let docs = root.join("docs");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        for page in &pages {
            let path = docs.join(&page.path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir docs");
            std::fs::write(&path, &page.text).expect("write a page");
        }
        eprintln!("rewrote {} pages under {}", pages.len(), docs.display());
        return;
    }
    let mut stale = Vec::new();
    for page in &pages {
        match std::fs::read_to_string(docs.join(&page.path)) {
            Ok(text) if text == page.text => {}
            Ok(_) => stale.push(format!("{} differs", page.path)),
            Err(e) => stale.push(format!("{} is missing ({e})", page.path)),
        }
    }
    assert!(
        stale.is_empty(),
        "docs/ is stale: {}. Regenerate with `UPDATE_DOCS=1 cargo test -p terraform-provider-app --test docs` and commit the result.",
        stale.join("; ")
    );
}

/// Every attribute and block of every schema appears in its page (by name, in backticks).
#[test]
fn every_attribute_is_documented() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let pages = terraform_provider_app::docs::pages(&root.join("examples/terraform")).expect("examples are readable");
    fn names(block: &terraform_provider_app::framework::Block, out: &mut Vec<String>) {
        out.extend(block.attributes.iter().map(|a| a.name.clone()));
        for b in &block.blocks {
            out.push(b.name.clone());
            names(&b.block, out);
        }
    }
    for resource in terraform_provider_app::resources::all() {
        let page = pages.iter().find(|p| p.path == format!("resources/{}.md", resource.type_name())).expect("a page per resource");
        let mut all = Vec::new();
        names(&resource.schema().block, &mut all);
        for name in all {
            assert!(page.text.contains(&format!("`{name}`")), "{} does not document `{name}`", page.path);
        }
    }
}

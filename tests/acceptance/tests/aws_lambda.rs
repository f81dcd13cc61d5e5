//! AWS Lambda from container images against moto (`APP_TEST_MOTO_ENDPOINT`, started by
//! scripts/test.sh): versions as generations, the `live` alias with weighted traffic, the
//! function URL, drift, validation, import and destroy — checked through the AWS API (boto3 from
//! moto's virtualenv).

use app_acceptance::{aws, aws_json, for_each_terraform, lambda_workdir as workdir, moto, Workdir};

fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

const ACCOUNT_REPO: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/acc-lambda";

fn config(function: &str, image: &str, weight: Option<u32>) -> String {
    let traffic = weight.map(|w| format!("    traffic {{\n      weight = {w}\n    }}\n")).unwrap_or_default();
    format!(
        r#"
provider "app" {{
  aws {{
    region       = "us-east-1"
    endpoint_url = "{endpoint}"
  }}
}}

resource "app_deployment" "fn" {{
  name  = "{function}"
  image = "{image}"
  env   = {{ GREETING = "hello" }}
  aws_lambda {{
    memory  = 256
    timeout = 30
  }}
}}

resource "app_release" "fn" {{
  deployment = app_deployment.fn.id
  aws_lambda {{
{traffic}    function_url {{
      auth_type = "NONE"
    }}
  }}
}}

output "url"     {{ value = app_release.fn.url }}
output "version" {{ value = app_release.fn.aws_lambda.released_version }}
output "role"    {{ value = app_deployment.fn.aws_lambda.role_arn }}
"#,
        endpoint = moto()
    )
}

fn output(wd: &Workdir, name: &str) -> String {
    wd.ok(&["output", "-raw", name]).stdout.trim().to_string()
}

#[test]
fn versions_alias_traffic_url_drift_destroy() {
    for_each_terraform("lambda", |outer| {
        let wd = &workdir(outer);
        let version: String = wd.version().chars().filter(char::is_ascii_digit).collect();
        let function = format!("acc-fn-{}-{version}", std::process::id());
        let image = |n: u8| format!("{ACCOUNT_REPO}@{}", digest(n));

        wd.write_main(&config(&function, &image(1), None));
        wd.apply();
        let f = aws_json(&format!("print(json.dumps(lam.get_function(FunctionName={function:?})['Code']))"));
        assert!(f.to_string().contains(&digest(1)), "ImageUri carries the digest: {f}");
        let alias = aws_json(&format!("print(json.dumps(lam.get_alias(FunctionName={function:?}, Name='live')))"));
        assert_eq!(alias["FunctionVersion"], "1", "{alias}");
        let url = aws(&format!("print(lam.get_function_url_config(FunctionName={function:?}, Qualifier='live')['FunctionUrl'])"));
        assert_eq!(output(wd, "url"), url, "the url output is the API's");
        wd.assert_empty_plan("after the first release");

        // A new image: version 2 published, the alias moves.
        wd.write_main(&config(&function, &image(2), None));
        wd.apply();
        let alias = aws_json(&format!("print(json.dumps(lam.get_alias(FunctionName={function:?}, Name='live')))"));
        assert_eq!(alias["FunctionVersion"], "2", "{alias}");
        wd.assert_empty_plan("after version 2");

        // weight 10: 10% to version 3, the rest stays on 2; weight 100 completes.
        wd.write_main(&config(&function, &image(3), Some(10)));
        wd.apply();
        let alias = aws_json(&format!("print(json.dumps(lam.get_alias(FunctionName={function:?}, Name='live')))"));
        assert_eq!(alias["FunctionVersion"], "2", "{alias}");
        assert_eq!(alias["RoutingConfig"]["AdditionalVersionWeights"]["3"], 0.1, "{alias}");
        wd.assert_empty_plan("after a 10% shift");
        wd.write_main(&config(&function, &image(3), Some(100)));
        wd.apply();
        let alias = aws_json(&format!("print(json.dumps(lam.get_alias(FunctionName={function:?}, Name='live')))"));
        assert_eq!(alias["FunctionVersion"], "3", "{alias}");
        assert!(alias["RoutingConfig"]["AdditionalVersionWeights"].as_object().is_none_or(|m| m.is_empty()), "{alias}");
        wd.assert_empty_plan("after completing the shift");

        // The alias deleted out of band: plan shows it, apply restores it.
        aws(&format!("lam.delete_alias(FunctionName={function:?}, Name='live')"));
        let (code, plan) = wd.plan_code();
        assert_eq!(code, 2, "a deleted alias shows in the plan:\n{}", plan.all());
        wd.apply();
        let alias = aws_json(&format!("print(json.dumps(lam.get_alias(FunctionName={function:?}, Name='live')))"));
        assert_eq!(alias["FunctionVersion"], "3");
        wd.assert_empty_plan("after restoring the alias");

        // Destroy: function, alias, URL and the created role are gone.
        let role = output(wd, "role");
        let role_name = role.rsplit('/').next().unwrap_or_default().to_string();
        wd.destroy();
        let gone = aws(&format!(
            "try:\n    lam.get_function(FunctionName={function:?}); print('function exists')\nexcept lam.exceptions.ResourceNotFoundException:\n    print('gone')"
        ));
        assert_eq!(gone, "gone");
        let role_gone =
            aws(&format!("try:\n    iam.get_role(RoleName={role_name:?}); print('role exists')\nexcept iam.exceptions.NoSuchEntityException:\n    print('gone')"));
        assert_eq!(role_gone, "gone", "the created role {role} is deleted");
    });
}

#[test]
fn bad_lambda_input_is_a_plan_time_error() {
    for_each_terraform("lambda-validate", |outer| {
        let wd = &workdir(outer);
        wd.write_main(
            r#"
resource "app_deployment" "fn" {
  name  = "fn"
  image = "127.0.0.1:5055/web@sha256:1111111111111111111111111111111111111111111111111111111111111111"
  aws_lambda {
    memory  = 50
    timeout = 1000
  }
}
"#,
        );
        let run = wd.run(&["validate", "-json", "-no-color"]);
        assert_ne!(run.code, 0);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("validate -json");
        let diags = report["diagnostics"].as_array().expect("diagnostics").clone();
        let summaries: Vec<&str> = diags.iter().filter_map(|d| d["summary"].as_str()).collect();
        for expected in ["Image not usable by aws_lambda", "Invalid memory", "Invalid timeout"] {
            assert!(summaries.contains(&expected), "missing {expected:?} in {summaries:?}");
        }
        let snippets: Vec<String> = diags.iter().map(|d| d["snippet"]["code"].as_str().unwrap_or_default().to_string()).collect();
        assert!(snippets.iter().any(|s| s.contains("memory")) && snippets.iter().any(|s| s.contains("timeout")), "{snippets:?}");
    });
}

#[test]
fn import_a_function_created_outside_terraform() {
    for_each_terraform("lambda-import", |outer| {
        let wd = &workdir(outer);
        let version: String = wd.version().chars().filter(char::is_ascii_digit).collect();
        let function = format!("acc-imp-{}-{version}", std::process::id());
        let role = aws(&format!(
            "r = iam.create_role(RoleName={:?}, AssumeRolePolicyDocument=json.dumps({{'Version': '2012-10-17', 'Statement': [{{'Effect': 'Allow', 'Principal': {{'Service': 'lambda.amazonaws.com'}}, 'Action': 'sts:AssumeRole'}}]}}))\nprint(r['Role']['Arn'])",
            format!("{function}-role")
        ));
        let image = format!("{ACCOUNT_REPO}@{}", digest(7));
        aws(&format!(
            "lam.create_function(FunctionName={function:?}, Role={role:?}, PackageType='Image', Code={{'ImageUri': {image:?}}}, MemorySize=512, Timeout=20, Environment={{'Variables': {{'MODE': 'imported'}}}}, Publish=True)"
        ));
        wd.write_main(&format!(
            r#"
provider "app" {{
  aws {{
    region       = "us-east-1"
    endpoint_url = "{endpoint}"
  }}
}}

resource "app_deployment" "fn" {{
  name  = "{function}"
  image = "{image}"
  env   = {{ MODE = "imported" }}
  aws_lambda {{
    role    = "{role}"
    memory  = 512
    timeout = 20
  }}
}}
"#,
            endpoint = moto()
        ));
        wd.ok(&["import", "-no-color", "-input=false", "app_deployment.fn", &format!("aws_lambda:{function}")]);
        wd.assert_empty_plan("after importing a function created with boto3");
        wd.destroy();
        let gone = aws(&format!(
            "try:\n    lam.get_function(FunctionName={function:?}); print('function exists')\nexcept lam.exceptions.ResourceNotFoundException:\n    print('gone')"
        ));
        assert_eq!(gone, "gone");
        let role_kept = aws(&format!("print(iam.get_role(RoleName={:?})['Role']['Arn'])", format!("{function}-role")));
        assert_eq!(role_kept, role, "a role the deployment did not create is kept");
    });
}

/// Two configurations with a deployment of the same name: the second apply is refused (the
/// function carries the first one's owner tag), the first keeps its function and an empty plan,
/// and the second's destroy leaves the function alone.
#[test]
fn a_function_of_another_configuration_is_refused() {
    for_each_terraform("lambda-owner", |outer| {
        let first = &workdir(outer);
        let version: String = first.version().chars().filter(char::is_ascii_digit).collect();
        let function = format!("acc-own-fn-{}-{version}", std::process::id());
        let image = format!("{ACCOUNT_REPO}@{}", digest(4));
        first.write_main(&config(&function, &image, None));
        first.apply();
        let second = workdir(outer);
        second.write_main(&config(&function, &format!("{ACCOUNT_REPO}@{}", digest(5)), None));
        let refused = second.run(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        assert_ne!(refused.code, 0, "{}", refused.all());
        let text = refused.all().split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(text.contains("this resource did not create it"), "{text}");
        assert!(text.contains(&format!("terraform import app_deployment.<resource> aws_lambda:{function}")), "{text}");
        let code = aws_json(&format!("print(json.dumps(lam.get_function(FunctionName={function:?})['Code']))"));
        assert!(code.to_string().contains(&digest(4)), "the function still runs the first image: {code}");
        first.assert_empty_plan("after another configuration tried the same function");
        second.destroy();
        let still = aws(&format!("print(lam.get_function(FunctionName={function:?})['Configuration']['FunctionName'])"));
        assert_eq!(still, function, "the second configuration's destroy leaves the function alone");
        first.destroy();
    });
}

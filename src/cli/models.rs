use clap::Args;
use odenet::{params, zoo};

#[derive(Args, Debug)]
pub struct ModelsArgs {
    /// Number of classes of the head (CIFAR-10: 10, CIFAR-100: 100).
    #[arg(long, default_value_t = 10)]
    classes: usize,
    /// Input channels (3 for CIFAR, 1 for (Fashion-)MNIST).
    #[arg(long, default_value_t = 3)]
    in_channels: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ModelsArgs) -> anyhow::Result<()> {
    let device = burn::tensor::Device::flex();
    let mut rows = Vec::new();
    for entry in zoo::models() {
        let config = zoo::create(entry.name, args.in_channels, args.classes)?;
        let count = params::count_trainable(&config.init(&device));
        rows.push(serde_json::json!({
            "name": entry.name, "params": count, "scheme": config.scheme.describe(), "doc": entry.doc,
        }));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    // Grouped by numerical scheme, in registry order within a group.
    let mut schemes: Vec<&str> = Vec::new();
    for r in &rows {
        let scheme = r["scheme"].as_str().unwrap_or_default();
        if !schemes.contains(&scheme) {
            schemes.push(scheme);
        }
    }
    for scheme in schemes {
        println!("{scheme}:");
        for r in rows.iter().filter(|r| r["scheme"] == scheme) {
            println!(
                "  {:<20} {:>10}  {}",
                r["name"].as_str().unwrap_or_default(),
                r["params"],
                r["doc"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(())
}

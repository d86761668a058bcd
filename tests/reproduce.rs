//! `odenet reproduce`: the experiment files of the repository, and a smoke-budget experiment
//! run end to end, killed mid-way, resumed and checked against its runs' own metrics.

use odenet::reproduce::Experiment;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn odenet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_odenet")).args(args).output().expect("odenet runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_experiment_file_parses_and_names_registered_models_and_presets() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let exp = Experiment::load(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            assert!(!exp.rows.is_empty());
            n += 1;
        }
    }
    assert!(n >= 5, "expected the CIFAR-10, stochastic-depth, compression, CIFAR-100 and ImageNet files, found {n}");
    let main = Experiment::load(&dir.join("cifar10-lm-resnet.toml")).unwrap();
    for depth in [20, 32, 44, 56, 110, 164] {
        for family in ["resnet", "lm-resnet"] {
            assert!(main.row(&format!("{family}{depth}")).is_some(), "{family}{depth} missing");
        }
    }
    assert_eq!(main.row("lm-resnet56").unwrap().paper, Some(6.31));
}

#[test]
fn bad_experiments_are_rejected_with_the_field_and_the_rule() {
    let dir = scratch("bad-experiments");
    let base = "title = \"t\"\ndataset = \"cifar10\"\npreset = \"paper-cifar10\"\n";
    let cases = [
        ("[[row]]\nmodel = \"resnet21\"\n", "resnet21"),
        ("preset_x = 1\n[[row]]\nmodel = \"resnet20\"\n", "preset_x"),
        ("[[row]]\nmodel = \"resnet20\"\npreset = \"fast\"\n", "unknown preset 'fast'"),
        ("[[row]]\nmodel = \"resnet20\"\n[[row]]\nmodel = \"resnet20\"\n", "appears twice"),
        ("[[row]]\nmodel = \"resnet20\"\n[[claim]]\nbetter = \"resnet20\"\nworse = \"resnet32\"\n", "no row with id 'resnet32'"),
        ("[[row]]\nmodel = \"resnet20\"\npaper = 108.0\n", "not an error in %"),
        ("[[row]]\nmodel = \"resnet20\"\nstochastic_depth = 0.0\n", "survival probability"),
        ("[[row]]\nmodel = \"resnet20\"\n[k_figure]\nrows = [\"resnet20\"]\npaper_range = [1.0, -2.0]\n", "low < high"),
        ("", "row"),
    ];
    for (i, (rest, needle)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad{i}.toml"));
        std::fs::write(&path, format!("{base}{rest}")).unwrap();
        let err = format!("{:#}", Experiment::load(&path).unwrap_err());
        assert!(err.contains(needle) && err.contains(&path.display().to_string()), "case {i}: {err}");
        // The command line says the same, with a non-zero exit and no panic.
        let out = odenet(&["reproduce", path.to_str().unwrap(), "--out", dir.join("o").to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "case {i}: {}", text(&out));
        assert!(text(&out).contains(needle), "case {i}: {}", text(&out));
    }
}

/// Final test error (%) of a run folder, from its own metrics file.
fn final_error(run: &Path) -> f64 {
    let metrics = odenet::report::read_metrics(&run.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.iter().map(|m| m.epoch).collect::<Vec<_>>(), vec![1, 2], "{}", run.display());
    100.0 * (1.0 - metrics.last().unwrap().test_acc)
}

fn mtime(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

#[test]
fn a_smoke_experiment_killed_midway_resumes_and_reports_its_runs_metrics() {
    let fashion = odenet::data::default_path(&odenet::data::DatasetKind::FashionMnist);
    assert!(fashion.is_dir(), "{} missing: apt-get install -y dataset-fashion-mnist", fashion.display());
    let dir = scratch("reproduce-smoke");
    let exp = dir.join("two-rows.toml");
    std::fs::write(
        &exp,
        "title = \"Fashion-MNIST smoke: ResNet-20 vs LM-ResNet-20\"\ndataset = \"fashion-mnist\"\n\
         preset = \"paper-cifar10\"\nseeds = 2\n\
         [[row]]\nmodel = \"resnet20\"\npaper = 8.75\n\
         [[row]]\nmodel = \"lm-resnet20\"\npaper = 8.33\n\
         [[claim]]\nbetter = \"lm-resnet20\"\nworse = \"resnet20\"\n\
         [k_figure]\nrows = [\"lm-resnet20\"]\npaper_range = [-2.0, 1.0]\n",
    )
    .unwrap();
    let out = dir.join("out");
    let args = ["reproduce", exp.to_str().unwrap(), "--budget", "smoke", "--quiet", "--out", out.to_str().unwrap()];

    // Kill it once the first run has its epoch-1 checkpoint, i.e. in the middle of that run.
    let mut child = Command::new(env!("CARGO_BIN_EXE_odenet"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first_state = out.join("resnet20/s0/last/state.json");
    let start = Instant::now();
    while !first_state.exists() {
        assert!(start.elapsed() < Duration::from_secs(300), "no checkpoint after 300 s");
        assert!(child.try_wait().unwrap().is_none(), "reproduce exited before it was killed");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.join("results.md").exists(), "killed before the end: no results yet");

    // The same command again continues and finishes.
    let done = odenet(&args);
    assert!(done.status.success(), "{}", text(&done));
    let runs: Vec<PathBuf> = ["resnet20", "lm-resnet20"]
        .iter()
        .flat_map(|r| (0..2).map(|s| out.join(r).join(format!("s{s}"))).collect::<Vec<_>>())
        .collect();
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(md.contains("Budget: smoke") && md.contains("NOT the paper's protocol"), "{md}");
    for row in ["resnet20", "lm-resnet20"] {
        let line = md.lines().find(|l| l.starts_with(&format!("| {row} |"))).unwrap_or_else(|| panic!("{md}"));
        assert!(line.contains("| 2/2 |"), "{line}");
        let errors: Vec<f64> = (0..2).map(|s| final_error(&out.join(row).join(format!("s{s}")))).collect();
        for (s, e) in errors.iter().enumerate() {
            assert!(line.contains(&format!("s{s}: {e:.2}")), "seed {s} error {e:.2} not in {line}");
        }
        let mean = (errors[0] + errors[1]) / 2.0;
        let std = ((errors[0] - mean).powi(2) + (errors[1] - mean).powi(2)).sqrt();
        assert!(line.contains(&format!("{mean:.2} ± {std:.2}")), "mean ± std {mean:.2} ± {std:.2} not in {line}");
    }
    assert!(md.contains("| lm-resnet20 < resnet20 |"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["budget"], "smoke");
    for png in ["error_vs_depth.png", "error_vs_params.png", "k_by_block.png"] {
        assert!(std::fs::metadata(out.join(png)).unwrap().len() > 1000, "{png}");
    }

    // A third time: nothing is trained again.
    let states: Vec<_> = runs.iter().map(|r| mtime(&r.join("last/state.json"))).collect();
    let again = odenet(&args);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("0 runs trained, 4 found finished"), "{}", text(&again));
    assert_eq!(states, runs.iter().map(|r| mtime(&r.join("last/state.json"))).collect::<Vec<_>>());
    assert_eq!(std::fs::read_to_string(out.join("results.md")).unwrap().lines().filter(|l| l.starts_with("| ")).count(),
        md.lines().filter(|l| l.starts_with("| ")).count());

    // Another budget into the same folders is refused, naming the file and the fields.
    let clash = odenet(&["reproduce", exp.to_str().unwrap(), "--budget", "epochs=1", "--quiet", "--out", out.to_str().unwrap()]);
    assert_eq!(clash.status.code(), Some(1));
    let t = text(&clash);
    assert!(t.contains("config.json") && t.contains("epochs") && t.contains("another configuration"), "{t}");
}

#[test]
fn rows_of_a_missing_dataset_are_reported_not_run() {
    let dir = scratch("reproduce-missing");
    let exp = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/cifar100.toml");
    let out = dir.join("out");
    let missing = dir.join("no-such-cifar100");
    let o = odenet(&[
        "reproduce",
        exp.to_str().unwrap(),
        "--budget",
        "smoke",
        "--data-dir",
        missing.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    let rows: Vec<&str> = md.lines().filter(|l| l.contains("| 0/0 |")).collect();
    assert_eq!(rows.len(), 7, "{md}");
    for row in rows {
        assert!(row.contains("not run: dataset missing") && row.contains("odenet download cifar100"), "{row}");
        assert!(row.contains("(unconfirmed)"), "{row}");
    }
    assert!(md.contains("| not run |"), "claims without runs say so: {md}");
}

#[test]
fn cifar10_is_found_in_its_binary_or_image_folder_form() {
    use odenet::data::DatasetKind;
    use odenet::reproduce::plan::{DataSource, locate_data};
    let dir = scratch("reproduce-locate");
    let kind = |src: DataSource| match src {
        DataSource::Found { kind, .. } => kind.name().to_string(),
        DataSource::Missing(why) => why,
    };
    let missing = kind(locate_data(&DatasetKind::Cifar10, Some(&dir.join("none"))));
    assert!(missing.contains("dataset missing") && missing.contains("`odenet download cifar10`"), "{missing}");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    assert_eq!(kind(locate_data(&DatasetKind::Cifar10, Some(&dir.join("bin")))), "cifar10");
    std::fs::create_dir_all(dir.join("jpeg/train")).unwrap();
    assert_eq!(kind(locate_data(&DatasetKind::Cifar10, Some(&dir.join("jpeg")))), "folder");
    std::fs::write(dir.join("c.tar.gz"), b"").unwrap();
    assert_eq!(kind(locate_data(&DatasetKind::Cifar10, Some(&dir.join("c.tar.gz")))), "folder");
}

#[test]
fn rows_can_be_selected_and_an_unknown_row_is_named() {
    let dir = scratch("reproduce-rows");
    let exp = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/cifar10-lm-resnet.toml");
    let args = |rows: &str| {
        let out = dir.join("out");
        let missing = dir.join("no-cifar10");
        odenet(&[
            "reproduce",
            exp.to_str().unwrap(),
            "--rows",
            rows,
            "--data-dir",
            missing.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let bad = args("resnet20,resnet21");
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad).contains("no row 'resnet21'") && text(&bad).contains("lm-resnet164"), "{}", text(&bad));
    let ok = args("resnet20,lm-resnet20");
    assert!(ok.status.success(), "{}", text(&ok));
    let md = std::fs::read_to_string(dir.join("out/results.md")).unwrap();
    assert_eq!(md.lines().filter(|l| l.contains("| 0/0 |")).count(), 2, "{md}");
    assert!(md.contains("| lm-resnet20 < resnet20 |") && !md.contains("lm-resnet32"), "{md}");
    assert!(md.contains("Budget: full — the paper's protocol (paper-cifar10: 160 epochs"), "{md}");
}

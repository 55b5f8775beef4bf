//! `dataverk write` against a real PostgreSQL cluster and devvault: a CSV file goes into a new
//! table, reads back the same with `read-sql`, and a second write without --if-exists is refused.

mod common;

use std::path::Path;
use std::process::Output;
use testkit::scenario::{World, WorldOptions};

fn run(w: &World, settings: &Path, args: &[&str]) -> Output {
    common::dataverk(w, settings)
        .args(args)
        .output()
        .expect("run dataverk")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn write_a_csv_file_and_read_it_back() {
    let w = World::start(WorldOptions::default());
    let settings = w.seed_settings();
    let input = w.dir.path().join("in.csv");
    let csv = "id,name,score,day\n1,alice,1.5,2024-01-31\n2,bob,,2024-02-29\n3,\"c, d\",-2.25,\n";
    std::fs::write(&input, csv).unwrap();
    let args = [
        "write",
        "postgres_database",
        "public.scores",
        "--input",
        input.to_str().unwrap(),
    ];
    let out = run(&w, &settings, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("wrote 3 rows to public.scores"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        w.pg.psql(
            "mydb",
            "SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) \
             FROM pg_attribute WHERE attrelid = 'scores'::regclass AND attnum > 0"
        )
        .trim(),
        "bigint,text,double precision,date"
    );

    let output = w.dir.path().join("out.csv");
    let out = run(
        &w,
        &settings,
        &[
            "read-sql",
            "postgres_database",
            "SELECT * FROM scores ORDER BY id",
            "--output",
            output.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&output).unwrap(), csv);

    // The table exists now: the default refuses, and says how to go on.
    let out = run(&w, &settings, &args);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("already exists") && stderr(&out).contains("--if-exists"),
        "{}",
        stderr(&out)
    );
    let mut append = args.to_vec();
    append.extend(["--if-exists", "append"]);
    let out = run(&w, &settings, &append);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.pg.psql("mydb", "SELECT count(*) FROM scores").trim(), "6");
}
